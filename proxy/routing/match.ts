// Route conditions beyond the path (header, query parameter and method
// matches), regular expressions, and the precedence among the routes of one
// virtual host. paths.ts indexes routes by path and asks this file which of
// the routes sharing a path match applies to a request.
//
// Regular expressions are user input evaluated on the hot path, so they run
// on re2js, a linear-time RE2 engine (the syntax Envoy and the Gateway API
// use), never on a backtracking RegExp. A pattern must match the whole path or
// value (anchored, as Envoy does): "/api/[0-9]+" does not match "/api/1/x".
//
// Linear is not free: re2js builds a lazy DFA and, when a pattern's states
// exceed its memory budget (`.*a.{40}` on random a/b input does), falls back
// to an NFA whose cost is input length × program size. So, as Envoy does
// (re2.max_program_size, default 100), a pattern whose compiled program is
// larger than MAX_PROGRAM_SIZE is refused: with Node's 16 KiB header limit
// bounding every path and value, one pattern then costs at most about 0.1 s
// per request even on adversarial input and about 1 ms on ordinary input
// (bench/regex.ts prints both).
//
// Decisions a client can notice:
// - Header names are lower-case in the snapshot and matched against Node's
//   `req.headers`. A repeated header is matched as Node joins it: list headers
//   as "a, b" (RFC 9110 §5.3; Envoy joins with ","), Cookie as "a; b", and
//   singleton headers (Authorization, Content-Type, User-Agent, ...) by their
//   first value, Node dropping the rest. A missing header fails its condition,
//   even a RegularExpression that accepts "".
// - Query parameters are parsed once per request (URLSearchParams: "+" is a
//   space, escapes decoded) and a condition looks at the first value of its
//   name; "?v" has the value "", a missing name fails. Names are case-sensitive.
// - Methods compare exactly (upper case): a GET condition does not take HEAD.
import type { IncomingHttpHeaders } from 'node:http';
import { RE2JS } from 're2js';
import type { PathMatchType, ValueMatch } from '../../api/snapshot.ts';

/** What a route's conditions look at; absent parts fail every condition on them. */
export interface MatchRequest {
  /** Upper-case method as received. */
  readonly method?: string;
  readonly headers?: IncomingHttpHeaders;
  /** The raw query, with or without its leading "?" (paths.ts RequestTarget.query). */
  readonly query?: string;
}

/**
 * Largest compiled program accepted (RE2's "program size", Envoy's
 * re2.max_program_size default). `/api/v[0-9]+/users/[a-z0-9-]+/items/.*` is
 * 28; `[0-9a-f]{8}-[0-9a-f]{4}-...` (a UUID) is 38; `[a-z]{1,64}` is over.
 */
export const MAX_PROGRAM_SIZE = 100;

/** A pattern that cannot be served: RE2 syntax error, or too large. */
export class RegexError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RegexError';
  }
}

// Compiled patterns by pattern string, shared by every table: a rebuilt
// virtual host whose patterns did not change compiles nothing. A compiled
// RE2JS holds no per-match state, so sharing is safe. Bounded, least recently
// used out first; an evicted pattern that is still in use stays alive in its
// table and is only compiled again by a later build.
const CACHE_LIMIT = 4096;
const compiled = new Map<string, RE2JS>();

/** Compiles an RE2 pattern for anchored matching; throws RegexError. */
export function compileRegex(pattern: string): RE2JS {
  const hit = compiled.get(pattern);
  if (hit !== undefined) {
    compiled.delete(pattern);
    compiled.set(pattern, hit);
    return hit;
  }
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    // re2js messages quote the offending part of the pattern; bound them anyway.
    const why = err instanceof Error ? err.message.slice(0, 200) : 'unknown error';
    throw new RegexError(`regular expression ${quote(pattern)} does not compile: ${why}`);
  }
  const size = re.programSize();
  if (size > MAX_PROGRAM_SIZE) {
    throw new RegexError(`regular expression ${quote(pattern)} is too large (program size ${size}, at most ${MAX_PROGRAM_SIZE})`);
  }
  if (compiled.size >= CACHE_LIMIT) compiled.delete(compiled.keys().next().value as string);
  compiled.set(pattern, re);
  return re;
}

/** Why a pattern would be refused, or undefined when the proxy serves it (for the controller's conditions). */
export function regexProblem(pattern: string): string | undefined {
  try {
    compileRegex(pattern);
    return undefined;
  } catch (err) {
    if (err instanceof RegexError) return err.message;
    throw err;
  }
}

/** Patterns in messages: JSON-quoted, cut at 100 characters (a NACK reason is not a dump). */
function quote(pattern: string): string {
  return pattern.length > 100 ? `${JSON.stringify(pattern.slice(0, 100))}...` : JSON.stringify(pattern);
}

/** The request as conditions read it; query parameters parsed on first use only. */
export class RequestFacts {
  readonly method: string | undefined;
  readonly #headers: IncomingHttpHeaders | undefined;
  readonly #query: string;
  #params: URLSearchParams | undefined;

  constructor(req: MatchRequest) {
    this.method = req.method;
    this.#headers = req.headers;
    this.#query = req.query ?? '';
  }

  /** A header's value as matched (see the top of this file). */
  header(name: string): string | undefined {
    const v = this.#headers?.[name];
    // Only set-cookie is an array in IncomingHttpHeaders; a request should not carry it.
    return Array.isArray(v) ? v.join(', ') : v;
  }

  /** The first value of a query parameter. */
  query(name: string): string | undefined {
    this.#params ??= new URLSearchParams(this.#query);
    return this.#params.get(name) ?? undefined;
  }
}

/** One header or query condition, compiled. */
class ValueTest {
  readonly name: string;
  readonly #exact: string | undefined;
  readonly #re: RE2JS | undefined;

  constructor(m: ValueMatch) {
    this.name = m.name;
    this.#exact = m.type === 'Exact' ? m.value : undefined;
    this.#re = m.type === 'RegularExpression' ? compileRegex(m.value) : undefined;
  }

  test(value: string | undefined): boolean {
    if (value === undefined) return false;
    return this.#re === undefined ? value === this.#exact : this.#re.testExact(value);
  }
}

/** The header, query and method conditions of one route, all of which must hold. */
export class Conditions {
  readonly #method: string | undefined;
  readonly #headers: readonly ValueTest[];
  readonly #query: readonly ValueTest[];

  /** Throws RegexError naming the condition whose pattern is refused. */
  constructor(m: ConditionSpec) {
    this.#method = m.method;
    this.#headers = (m.headers ?? []).map((h) => compileCondition(h, `header ${JSON.stringify(h.name)}`));
    this.#query = (m.queryParams ?? []).map((q) => compileCondition(q, `query parameter ${JSON.stringify(q.name)}`));
  }

  /** Cheapest first: method, headers, then the query (which may need parsing). */
  holdFor(req: RequestFacts): boolean {
    if (this.#method !== undefined && req.method !== this.#method) return false;
    for (const h of this.#headers) if (!h.test(req.header(h.name))) return false;
    for (const q of this.#query) if (!q.test(req.query(q.name))) return false;
    return true;
  }
}

function compileCondition(m: ValueMatch, what: string): ValueTest {
  try {
    return new ValueTest(m);
  } catch (err) {
    if (err instanceof RegexError) throw new RegexError(`${what}: ${err.message}`);
    throw err;
  }
}

/** The conditions part of a route match (api/snapshot.ts RouteMatch). */
export interface ConditionSpec {
  readonly headers?: readonly ValueMatch[];
  readonly queryParams?: readonly ValueMatch[];
  readonly method?: string;
}

/** Compiled conditions, or undefined for a route that has none (it always applies). */
export function compileConditions(m: ConditionSpec): Conditions | undefined {
  if (m.headers === undefined && m.queryParams === undefined && m.method === undefined) return undefined;
  return new Conditions(m);
}

/** What precedence looks at: a route's match, rank and key. */
export interface Ranked extends ConditionSpec {
  readonly type: PathMatchType;
  readonly path: string;
  readonly rank?: number;
  /** The route key: unique within a virtual host, so the order is total. */
  readonly key: string;
}

/**
 * Order among routes whose path match is the same (one Exact path, one
 * pattern, one Prefix key): the most header conditions, then the most query
 * conditions, then a method condition, then the lowest rank (absent = last),
 * then the longer path as written ("/foo/" before "/foo", Kubernetes' tie
 * for prefixes that match alike), then the key. Negative: `a` is tried first.
 */
export function precedence(a: Ranked, b: Ranked): number {
  return (b.headers?.length ?? 0) - (a.headers?.length ?? 0)
    || (b.queryParams?.length ?? 0) - (a.queryParams?.length ?? 0)
    || (b.method === undefined ? 0 : 1) - (a.method === undefined ? 0 : 1)
    || compareRank(a.rank, b.rank)
    || b.path.length - a.path.length
    || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

function compareRank(a: number | undefined, b: number | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return 1;
  if (b === undefined) return -1;
  return a - b;
}
