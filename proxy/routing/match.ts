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
// What a pattern may be (RE2 syntax, program size) is api/regex.ts's rule,
// shared with the controller so a pattern it accepts is one the proxy serves.
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
import type { PathMatchType, ValueMatch } from '../../api/snapshot.ts';
import { compileRegex, RegexError } from '../../api/regex.ts';
import type { RE2JS } from 're2js';

/** What a route's conditions look at; absent parts fail every condition on them. */
export interface MatchRequest {
  /** Upper-case method as received. */
  readonly method?: string;
  readonly headers?: IncomingHttpHeaders;
  /** The raw query, with or without its leading "?" (paths.ts RequestTarget.query). */
  readonly query?: string;
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
    // Own keys only: req.headers inherits from Object.prototype, and a route
    // may match a header named "constructor".
    const h = this.#headers;
    const v = h !== undefined && Object.hasOwn(h, name) ? h[name] : undefined;
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
