// Path matching for one virtual host, with networking.k8s.io/v1 semantics:
// Exact compares the whole path (a trailing slash is significant); Prefix
// compares element by element ("/foo" matches "/foo", "/foo/" and "/foo/bar",
// never "/foobar"), ignoring a trailing slash on either side; Exact beats
// Prefix; the longest Prefix wins. RegularExpression routes (the Route CRD)
// come between Exact and Prefix. An Exact or Prefix lookup costs O(path
// depth) map probes (a scan of at most 8 keys per probe for a host with few
// paths, PathTable), never a scan over all routes, so 50k routes cost what 5
// cost; regular expressions are scanned (see PathMatcher).
//
// Normalisation (the same function for route paths and request paths, so both
// sides agree): percent-encoded unreserved characters are decoded and other
// escapes upper-cased (RFC 3986 §6.2.2), repeated slashes are merged and dot
// segments removed (§5.2.4, never above the root). "%2F" stays encoded: it is
// data, not a separator. The proxy forwards the normalised path, so the
// upstream sees exactly the path the route matched (Envoy's recommended
// `normalize_path` + `merge_slashes`); `/a/../admin` cannot reach a backend as
// anything but `/admin`.
//
// Header, query and method conditions, regular expressions and the order among
// routes that share a path match live in match.ts.
import type { RE2JS } from 're2js';
import { routeKey } from '../../api/snapshot.ts';
import type { PathMatchType } from '../../api/snapshot.ts';
import { compileConditions, precedence, RequestFacts } from './match.ts';
import { compileRegex, RegexError } from '../../api/regex.ts';
import type { Conditions, ConditionSpec, MatchRequest, Ranked } from './match.ts';

/** A request target split for routing; `query` keeps its leading "?" (or is ""). */
export interface RequestTarget {
  readonly path: string;
  readonly query: string;
}

/**
 * Splits an origin-form request target ("/path?query"). Returns undefined for
 * any other form (absolute-form, authority-form, "*"): this is a reverse proxy,
 * it only routes paths, and the caller answers 400.
 */
export function parseRequestTarget(url: string | undefined): RequestTarget | undefined {
  if (url === undefined || url.charCodeAt(0) !== 0x2f /* / */) return undefined;
  // A fragment is never sent by a conforming client; drop it rather than route on it.
  const hash = url.indexOf('#');
  const end = hash === -1 ? url.length : hash;
  const q = url.indexOf('?');
  if (q === -1 || q > end) return { path: normalizePath(end === url.length ? url : url.slice(0, end)), query: '' };
  const path = url.slice(0, q);
  const query = url.slice(q, end);
  return { path: normalizePath(path), query };
}

// Anything that can change under normalisation: "//", "/." (dot segments, also
// "/.well-known", which is left unchanged by the slow path), and "%".
const NEEDS_NORMALISING = /\/\/|\/\.|%/;

/** Normalises an absolute path as described at the top of this file; "/" stays "/". */
export function normalizePath(path: string): string {
  if (!NEEDS_NORMALISING.test(path)) return path;
  const decoded = path.includes('%') ? normalizeEscapes(path) : path;
  const segments = decoded.split('/');
  const out: string[] = [];
  // segments[0] is the empty string before the leading slash.
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i] as string;
    if (seg === '' || seg === '.') continue;
    if (seg === '..') { out.pop(); continue; }
    out.push(seg);
  }
  const last = segments[segments.length - 1];
  const trailing = segments.length > 1 && (last === '' || last === '.' || last === '..');
  if (out.length === 0) return '/';
  return `/${out.join('/')}${trailing ? '/' : ''}`;
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** Decodes %XX of unreserved characters, upper-cases the hex of the rest, leaves malformed "%" alone. */
function normalizeEscapes(path: string): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => {
    const ch = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
  });
}

/**
 * The key a Prefix path is stored and probed under: normalised, trailing slash
 * dropped, "/" for the root. "/foo" and "/foo/" thus share a key, which is what
 * element-wise matching means.
 */
export function prefixKey(path: string): string {
  const p = normalizePath(path);
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}

/** One route as PathMatcher stores it: its match, payload, and what orders it. */
export interface PathRoute<T> extends ConditionSpec {
  readonly type: PathMatchType;
  /** A path ("/foo") for Exact and Prefix; an RE2 pattern for RegularExpression. */
  readonly path: string;
  readonly value: T;
  /** Lower is tried first among equal matches; absent is last. */
  readonly rank?: number;
  /** The route key (api/snapshot.ts routeKey); derived from the match when absent. */
  readonly key?: string;
}

/**
 * A route that matched the path; it applies when its conditions hold (none:
 * always). The routes of one path match are a linked list in precedence
 * order: no array per list (see PathTable).
 */
interface Candidate<T> {
  readonly value: T;
  readonly conditions: Conditions | undefined;
  readonly next: Candidate<T> | undefined;
}

/** The routes of one regular expression, tried when it matches the whole path. */
interface RegexGroup<T> {
  readonly re: RE2JS;
  readonly candidates: Candidate<T>;
}

/**
 * Path keys to their candidate lists. Up to SMALL_TABLE keys (nearly every
 * Ingress host: "/" and a path or two) a flat array [key, list, key, list,
 * ...] scanned in order; beyond, a Map. At 10k hosts the two Maps per host
 * (each a hash table with room for more) and an array per list were ~7 MB of
 * the proxy's heap; the flat arrays are a quarter of that, and a scan of a
 * few keys costs no more per request than hashing the path for a Map probe
 * (docs/performance.md, "Proxy RSS at 10k, second pass").
 */
type PathTable<T> = ReadonlyMap<string, Candidate<T>> | readonly unknown[];

/** Most keys a PathTable holds as a flat array. */
const SMALL_TABLE = 8;

/** The shared empty table, and the shared empty list of patterns. */
const NO_PATHS: readonly unknown[] = Object.freeze([]);
const NO_PATTERNS: readonly never[] = Object.freeze([]);

/** The list under `key`, undefined for none. */
function lookup<T>(table: PathTable<T>, key: string): Candidate<T> | undefined {
  if (table instanceof Map) return table.get(key);
  const flat = table as readonly unknown[];
  for (let i = 0; i < flat.length; i += 2) {
    if (flat[i] === key) return flat[i + 1] as Candidate<T>;
  }
  return undefined;
}

/** A PathTable of `lists` (see there), built once and never changed. */
function pathTable<T>(lists: ReadonlyMap<string, Candidate<T>>): PathTable<T> {
  if (lists.size === 0) return NO_PATHS;
  if (lists.size > SMALL_TABLE) return new Map(lists);
  const flat: unknown[] = [];
  for (const [key, list] of lists) flat.push(key, list);
  // An exact-size copy: push leaves room for 16 more entries.
  return flat.slice();
}

/** Number of keys in a PathTable. */
function tableSize(table: PathTable<unknown>): number {
  return table instanceof Map ? table.size : (table as readonly unknown[]).length / 2;
}

/** A route's pattern does not compile (or is too large); names the route by key. */
export class RoutePatternError extends Error {
  readonly key: string;
  /** What is wrong, without the route: "path regular expression ... does not compile: ...". */
  readonly reason: string;
  constructor(key: string, reason: string) {
    super(`route ${JSON.stringify(key)}: ${reason}`);
    this.name = 'RoutePatternError';
    this.key = key;
    this.reason = reason;
  }
}

const NO_REQUEST: MatchRequest = {};

/**
 * The routes of one virtual host, immutable once built. Generic over the route
 * payload so it can be tested without clusters.
 *
 * Precedence (api/snapshot.ts RouteMatch): the Exact path, then the regular
 * expressions (the longer pattern first, then in code-unit order; a pattern is
 * tested only when one of its routes' conditions holds), then the Prefix keys
 * from the longest to "/"; among the routes of one path match, match.ts
 * precedence(). A route whose conditions fail is skipped and the next
 * candidate tried, down to "/" (then the caller's default route).
 *
 * Cost per request: O(path depth) probes for Exact and Prefix whatever the
 * number of routes (each a Map lookup, or a scan of at most SMALL_TABLE keys), plus one anchored RE2 match per distinct pattern of the
 * host (each linear in the path length) when the Exact path did not answer:
 * regular expressions are scanned, so a host with hundreds of them pays for
 * hundreds (bench/regex.ts measures it). Conditions are evaluated only for
 * routes whose path matched, and the query string is parsed at most once.
 */
export class PathMatcher<T> {
  readonly #exact: PathTable<T>;
  readonly #prefix: PathTable<T>;
  readonly #regex: readonly RegexGroup<T>[];
  /** Whether any route has conditions (else a request's facts are never read). */
  readonly #conditional: boolean;
  /**
   * What match() returns whatever the path and request, when that is known
   * when building: the only path match is Prefix "/" and its first route has
   * no conditions (a host with one catch-all route, the common Ingress).
   */
  readonly constant: T | undefined;

  /** Throws RoutePatternError for a pattern that is refused (match.ts compileRegex). */
  constructor(routes: Iterable<PathRoute<T>>) {
    const exact = new Map<string, Array<PathRoute<T> & Ranked>>();
    const prefix = new Map<string, Array<PathRoute<T> & Ranked>>();
    const regex = new Map<string, Array<PathRoute<T> & Ranked>>();
    for (const r of routes) {
      const ranked = r.key === undefined ? { ...r, key: routeKey(r.type, r.path, r) } : (r as PathRoute<T> & Ranked);
      // "/a//b" and "/a/b" (Exact), "/foo" and "/foo/" (Prefix) share a key
      // and so a candidate list: they match the same requests.
      const [groups, key] = r.type === 'Exact' ? [exact, normalizePath(r.path)]
        : r.type === 'Prefix' ? [prefix, prefixKey(r.path)]
        : [regex, r.path];
      const list = groups.get(key);
      if (list === undefined) groups.set(key, [ranked]);
      else list.push(ranked);
    }
    let conditional = false;
    const candidates = (list: Array<PathRoute<T> & Ranked>): Candidate<T> => {
      list.sort(precedence);
      const kept: Array<{ value: T; conditions: Conditions | undefined }> = [];
      for (const r of list) {
        let conditions: Conditions | undefined;
        try {
          conditions = compileConditions(r);
        } catch (err) {
          throw err instanceof RegexError ? new RoutePatternError(r.key, err.message) : err;
        }
        // Routes after one without conditions are never reached, but their
        // patterns are still compiled: whether a snapshot is refused must not
        // depend on shadowing.
        if (kept.length > 0 && kept[kept.length - 1]?.conditions === undefined) continue;
        kept.push({ value: r.value, conditions });
        if (conditions !== undefined) conditional = true;
      }
      // Linked from the last: the list is its first candidate.
      let head: Candidate<T> | undefined;
      for (let i = kept.length - 1; i >= 0; i--) head = { value: kept[i]!.value, conditions: kept[i]!.conditions, next: head };
      return head!;
    };
    const lists = (groups: Map<string, Array<PathRoute<T> & Ranked>>): PathTable<T> => {
      const out = new Map<string, Candidate<T>>();
      for (const [key, list] of groups) out.set(key, candidates(list));
      return pathTable(out);
    };
    this.#exact = lists(exact);
    this.#prefix = lists(prefix);
    const patterns = [...regex.keys()].sort((a, b) => b.length - a.length || (a < b ? -1 : a > b ? 1 : 0));
    this.#regex = patterns.length === 0 ? NO_PATTERNS : patterns.map((pattern) => {
      const list = regex.get(pattern) as Array<PathRoute<T> & Ranked>;
      let re: RE2JS;
      try {
        re = compileRegex(pattern);
      } catch (err) {
        if (!(err instanceof RegexError)) throw err;
        // Name the first route by precedence: deterministic whichever was inserted first.
        throw new RoutePatternError([...list].sort(precedence)[0]?.key ?? pattern, `path ${err.message}`);
      }
      return { re, candidates: candidates(list) };
    });
    this.#conditional = conditional;
    const root = this.#exact === NO_PATHS && this.#regex.length === 0 && tableSize(this.#prefix) === 1 ? lookup(this.#prefix, '/') : undefined;
    this.constant = root !== undefined && root.conditions === undefined ? root.value : undefined;
  }

  /** Number of distinct path matches (Exact paths, Prefix keys, patterns); for counts and tests. */
  get size(): number {
    return tableSize(this.#exact) + tableSize(this.#prefix) + this.#regex.length;
  }

  /**
   * The route for an already normalised request path and the request's
   * method, headers and query (absent: every condition fails, so only routes
   * without conditions match). See the class comment for the order.
   */
  match(path: string, req: MatchRequest = NO_REQUEST): T | undefined {
    const facts = this.#conditional ? new RequestFacts(req) : undefined;
    const exact = lookup(this.#exact, path);
    if (exact !== undefined) {
      const hit = firstHolding(exact, facts);
      if (hit !== undefined) return hit.value;
    }
    for (const group of this.#regex) {
      // Conditions first: they are cheaper than the pattern and usually decide.
      const hit = firstHolding(group.candidates, facts);
      if (hit !== undefined && group.re.testExact(path)) return hit.value;
    }
    if (this.#prefix === NO_PATHS) return undefined;
    let p = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
    for (;;) {
      const list = lookup(this.#prefix, p);
      if (list !== undefined) {
        const hit = firstHolding(list, facts);
        if (hit !== undefined) return hit.value;
      }
      if (p === '/') return undefined;
      const cut = p.lastIndexOf('/');
      p = cut <= 0 ? '/' : p.slice(0, cut);
    }
  }
}

/** The first candidate whose conditions hold; `facts` is undefined only when no candidate has conditions. */
function firstHolding<T>(list: Candidate<T>, facts: RequestFacts | undefined): Candidate<T> | undefined {
  for (let c: Candidate<T> | undefined = list; c !== undefined; c = c.next) {
    if (c.conditions === undefined || c.conditions.holdFor(facts as RequestFacts)) return c;
  }
  return undefined;
}
