// The path-matching table of the Kubernetes Ingress documentation, as data.
// The compiler's tests check that each row compiles to the routes that, matched
// by `matchPath`, pick the expected route; the proxy's routing tests can run the
// same rows against its real table. One table, two sides, no drift.
import type { PathMatchType } from '../../api/snapshot.ts';
import type { IngressPathType } from '../k8s/types.ts';

/** A compiled route match, as in the snapshot. */
export interface RouteMatch {
  readonly type: PathMatchType;
  readonly path: string;
}

/** One row: Ingress paths as written, one request path, and the compiled match that must serve it. */
export interface PathCase {
  readonly name: string;
  /** The Ingress's paths on one host, in spec order. */
  readonly paths: ReadonlyArray<{ readonly pathType: IngressPathType; readonly path: string }>;
  readonly request: string;
  /** The compiled route that serves the request, or null: no route matches (default backend or 404). */
  readonly want: RouteMatch | null;
}

const P = (...paths: string[]) => paths.map((path) => ({ pathType: 'Prefix' as const, path }));
const E = (...paths: string[]) => paths.map((path) => ({ pathType: 'Exact' as const, path }));
const prefix = (path: string): RouteMatch => ({ type: 'Prefix', path });
const exact = (path: string): RouteMatch => ({ type: 'Exact', path });

/** The rows of https://kubernetes.io/docs/concepts/services-networking/ingress/#examples, plus a few edges. */
export const PATH_CASES: readonly PathCase[] = [
  { name: 'Prefix / matches any path', paths: P('/'), request: '/anything/at/all', want: prefix('/') },
  { name: 'Prefix / matches /', paths: P('/'), request: '/', want: prefix('/') },
  { name: 'Exact /foo matches /foo', paths: E('/foo'), request: '/foo', want: exact('/foo') },
  { name: 'Exact /foo does not match /bar', paths: E('/foo'), request: '/bar', want: null },
  { name: 'Exact /foo does not match /foo/', paths: E('/foo'), request: '/foo/', want: null },
  { name: 'Exact /foo/ does not match /foo', paths: E('/foo/'), request: '/foo', want: null },
  { name: 'Prefix /foo matches /foo', paths: P('/foo'), request: '/foo', want: prefix('/foo') },
  { name: 'Prefix /foo matches /foo/', paths: P('/foo'), request: '/foo/', want: prefix('/foo') },
  { name: 'Prefix /foo/ matches /foo', paths: P('/foo/'), request: '/foo', want: prefix('/foo') },
  { name: 'Prefix /foo/ matches /foo/', paths: P('/foo/'), request: '/foo/', want: prefix('/foo') },
  { name: 'Prefix /aaa/bb does not match /aaa/bbb', paths: P('/aaa/bb'), request: '/aaa/bbb', want: null },
  { name: 'Prefix /aaa/bbb matches /aaa/bbb', paths: P('/aaa/bbb'), request: '/aaa/bbb', want: prefix('/aaa/bbb') },
  { name: 'Prefix /aaa/bbb/ matches /aaa/bbb', paths: P('/aaa/bbb/'), request: '/aaa/bbb', want: prefix('/aaa/bbb') },
  { name: 'Prefix /aaa/bbb matches /aaa/bbb/', paths: P('/aaa/bbb'), request: '/aaa/bbb/', want: prefix('/aaa/bbb') },
  { name: 'Prefix /aaa/bbb matches /aaa/bbb/ccc', paths: P('/aaa/bbb'), request: '/aaa/bbb/ccc', want: prefix('/aaa/bbb') },
  { name: 'Prefix /aaa/bbb does not match /aaa/bbbxyz', paths: P('/aaa/bbb'), request: '/aaa/bbbxyz', want: null },
  { name: 'Prefix /, /aaa: /aaa/ccc takes the longest, /aaa', paths: P('/', '/aaa'), request: '/aaa/ccc', want: prefix('/aaa') },
  { name: 'Prefix /, /aaa, /aaa/bbb: /aaa/bbb takes /aaa/bbb', paths: P('/', '/aaa', '/aaa/bbb'), request: '/aaa/bbb', want: prefix('/aaa/bbb') },
  { name: 'Prefix /, /aaa, /aaa/bbb: /ccc takes /', paths: P('/', '/aaa', '/aaa/bbb'), request: '/ccc', want: prefix('/') },
  { name: 'Prefix /aaa does not match /ccc (default backend)', paths: P('/aaa'), request: '/ccc', want: null },
  { name: 'Exact /foo beats Prefix /foo', paths: [...E('/foo'), ...P('/foo')], request: '/foo', want: exact('/foo') },
  { name: 'Exact /foo, Prefix /foo: /foo/x takes the prefix', paths: [...E('/foo'), ...P('/foo')], request: '/foo/x', want: prefix('/foo') },
  { name: 'ImplementationSpecific is Prefix', paths: [{ pathType: 'ImplementationSpecific', path: '/docs' }], request: '/docs/x', want: prefix('/docs') },
];

/**
 * A reference matcher with the spec's semantics, over compiled matches: an
 * Exact match first; otherwise the longest Prefix that equals the request path
 * or is followed in it by "/" (element-wise: "/aaa/bb" does not match
 * "/aaa/bbb"). A trailing slash on a prefix is ignored, as the compiler drops it.
 */
export function matchPath(routes: readonly RouteMatch[], requestPath: string): RouteMatch | null {
  const exactHit = routes.find((r) => r.type === 'Exact' && r.path === requestPath);
  if (exactHit) return exactHit;
  let best: RouteMatch | null = null;
  let bestLen = -1;
  for (const r of routes) {
    if (r.type !== 'Prefix') continue;
    const p = r.path.length > 1 && r.path.endsWith('/') ? r.path.slice(0, -1) : r.path;
    const hit = p === '/' || requestPath === p || requestPath.startsWith(`${p}/`);
    if (hit && p.length > bestLen) { best = r; bestLen = p.length; }
  }
  return best;
}
