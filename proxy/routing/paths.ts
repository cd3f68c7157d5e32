// Path matching for one virtual host, with networking.k8s.io/v1 semantics:
// Exact compares the whole path (a trailing slash is significant); Prefix
// compares element by element ("/foo" matches "/foo", "/foo/" and "/foo/bar",
// never "/foobar"), ignoring a trailing slash on either side; Exact beats
// Prefix; the longest Prefix wins. A lookup costs O(path depth) map probes,
// never a scan over routes, so 50k routes cost what 5 cost.
//
// Normalisation (the same function for route paths and request paths, so both
// sides agree): percent-encoded unreserved characters are decoded and other
// escapes upper-cased (RFC 3986 §6.2.2), repeated slashes are merged and dot
// segments removed (§5.2.4, never above the root). "%2F" stays encoded: it is
// data, not a separator. The proxy forwards the normalised path, so the
// upstream sees exactly the path the route matched (Envoy's recommended
// `normalize_path` + `merge_slashes`); `/a/../admin` cannot reach a backend as
// anything but `/admin`.

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

/** One route path as PathMatcher stores it. */
export interface PathRoute<T> {
  readonly type: 'Exact' | 'Prefix';
  readonly path: string;
  readonly value: T;
}

/**
 * The paths of one virtual host, immutable once built. Generic over the route
 * payload so it can be tested without clusters.
 */
export class PathMatcher<T> {
  readonly #exact = new Map<string, T>();
  readonly #prefix = new Map<string, { readonly path: string; readonly value: T }>();

  constructor(routes: Iterable<PathRoute<T>>) {
    for (const r of routes) {
      if (r.type === 'Exact') {
        // Two Exact paths can normalise alike ("/a//b", "/a/b"); the first wins,
        // deterministically because snapshot keys are iterated in insertion order.
        const key = normalizePath(r.path);
        if (!this.#exact.has(key)) this.#exact.set(key, r.value);
        continue;
      }
      const key = prefixKey(r.path);
      const prev = this.#prefix.get(key);
      // "/foo" and "/foo/" match the same requests; Kubernetes breaks that tie
      // in favour of the longer path, so do we.
      if (prev === undefined || r.path.length > prev.path.length) this.#prefix.set(key, { path: r.path, value: r.value });
    }
  }

  /** Number of distinct match keys (for counts and tests). */
  get size(): number {
    return this.#exact.size + this.#prefix.size;
  }

  /**
   * The route for an already normalised request path: an Exact hit, else the
   * longest Prefix, probing "/a/b/c", "/a/b", "/a", "/" in turn.
   */
  match(path: string): T | undefined {
    const exact = this.#exact.get(path);
    if (exact !== undefined) return exact;
    if (this.#prefix.size === 0) return undefined;
    let p = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
    for (;;) {
      const hit = this.#prefix.get(p);
      if (hit !== undefined) return hit.value;
      if (p === '/') return undefined;
      const cut = p.lastIndexOf('/');
      p = cut <= 0 ? '/' : p.slice(0, cut);
    }
  }
}
