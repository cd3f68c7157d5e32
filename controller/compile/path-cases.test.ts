// Each row of the shared path table, compiled: the routes the compiler emits
// for the row's paths, matched by the reference matcher, must pick the row's
// expected route, and the route keys must be the normalized ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { routeKey } from '../../api/snapshot.ts';
import { compile } from './builder.ts';
import { inputOf, ingress, OPTIONS, rule } from './fixtures.ts';
import { matchPath, PATH_CASES } from './path-cases.ts';

test('path table rows compile to routes that match as the spec says', async (t) => {
  for (const c of PATH_CASES) {
    await t.test(c.name, () => {
      const paths = c.paths.map((p) => ({ path: p.path, pathType: p.pathType, backend: { service: { name: 'svc', port: { number: 80 } } } }));
      const res = compile(inputOf([ingress('a', { rules: [rule('foo.com', ...paths)] })]), OPTIONS);
      const routes = Object.values(res.snapshot.virtualHosts['foo.com']!.routes);
      const matches = routes.map((r) => r.match);
      assert.deepEqual(matchPath(matches, c.request), c.want);
      // Keys are routeKey() of the normalized match, and distinct paths stay distinct.
      for (const [k, r] of Object.entries(res.snapshot.virtualHosts['foo.com']!.routes)) assert.equal(k, routeKey(r.match.type, r.match.path));
      assert.equal(routes.length, new Set(c.paths.map(expectedKey)).size);
      // Two paths that compile to the same key would be a conflict; the table has none.
      assert.equal(res.conditions.get('Ingress/default/a')?.some((x) => x.type === 'Conflicted'), false);
    });
  }
});

/** The route key a path should get, written out independently of match.ts. */
function expectedKey(p: { pathType: string; path: string }): string {
  if (p.pathType === 'Exact') return `Exact:${p.path}`;
  return `Prefix:${p.path.length > 1 ? p.path.replace(/\/$/, '') : p.path}`;
}

test('Prefix /foo and /foo/ are one route key', () => {
  const paths = ['/foo', '/foo/'].map((path) => ({ path, pathType: 'Prefix' as const, backend: { service: { name: 'svc', port: { number: 80 } } } }));
  const res = compile(inputOf([ingress('a', { rules: [rule('foo.com', ...paths)] })]), OPTIONS);
  assert.deepEqual(Object.keys(res.snapshot.virtualHosts['foo.com']!.routes), ['Prefix:/foo']);
  assert.equal(res.conditions.get('Ingress/default/a')?.find((x) => x.type === 'Conflicted')?.reason, 'RouteConflict');
});

test('matchPath reference semantics', async (t) => {
  const rows: Array<[string, Array<['Exact' | 'Prefix', string]>, string, string | null]> = [
    ['prefix with trailing slash given raw', [['Prefix', '/foo/']], '/foo', 'Prefix:/foo/'],
    ['root prefix matches empty-segment request', [['Prefix', '/']], '/', 'Prefix:/'],
    ['no routes', [], '/', null],
    ['longest wins regardless of order', [['Prefix', '/a/b'], ['Prefix', '/a']], '/a/b/c', 'Prefix:/a/b'],
  ];
  for (const [name, routes, req, want] of rows) {
    await t.test(name, () => {
      const got = matchPath(routes.map(([type, path]) => ({ type, path })), req);
      assert.equal(got === null ? null : `${got.type}:${got.path}`, want);
    });
  }
});
