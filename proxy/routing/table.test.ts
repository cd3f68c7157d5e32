import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { sealSnapshot } from '../../api/version.ts';
import { routeKey } from '../../api/snapshot.ts';
import type { Route } from '../../api/snapshot.ts';
import { matchPath, PATH_CASES } from '../../controller/compile/path-cases.ts';
import type { RouteMatch } from '../../controller/compile/path-cases.ts';
import { UpstreamPools } from '../upstream/pools.ts';
import { buildTable } from './table.ts';
import { ApplyCode, ApplyError } from '../errors.ts';
import type { RoutingTable } from './table.ts';
import { cluster, content, route, vhost } from '../testkit.ts';
import { parseRequestTarget } from './paths.ts';

const pools = new UpstreamPools();
const tables: RoutingTable[] = [];
after(async () => {
  for (const t of tables) t.retire();
  await pools.close();
});

function table(parts: Parameters<typeof content>[0]): RoutingTable {
  const t = buildTable(sealSnapshot(content(parts)), undefined, { pools });
  tables.push(t);
  return t;
}

/** Routes a raw request target the way the forwarder does. */
function lookup(t: RoutingTable, host: string | undefined, target: string): Route | 'default' | undefined {
  const parsed = parseRequestTarget(target);
  assert.ok(parsed, target);
  const hit = t.match(host, parsed.path);
  if (hit === undefined) return undefined;
  return hit.route ?? 'default';
}

// The Ingress spec's path table, shared with the compiler (controller/compile/path-cases.ts).
// Paths go into the snapshot as written (trailing slashes kept) to exercise the
// proxy's own element-wise normalisation, not the compiler's.
for (const tc of PATH_CASES) {
  test(`path case: ${tc.name}`, () => {
    const routes = tc.paths.map((p) => route(p.pathType === 'Exact' ? 'Exact' : 'Prefix', p.path, 'default/web:80'));
    const t = table({ virtualHosts: { 'foo.com': vhost(routes) }, clusters: { 'default/web:80': cluster(9) } });
    const got = lookup(t, 'foo.com', tc.request);
    assert.notEqual(got, 'default');
    const gotMatch: RouteMatch | null = got === undefined || got === 'default' ? null : {
      type: got.match.type,
      path: got.match.type === 'Prefix' && got.match.path.length > 1 && got.match.path.endsWith('/') ? got.match.path.slice(0, -1) : got.match.path,
    };
    assert.deepEqual(gotMatch, tc.want);
    const compiled = tc.paths.map((p): RouteMatch => ({ type: p.pathType === 'Exact' ? 'Exact' : 'Prefix', path: p.path }));
    const ref = matchPath(compiled, tc.request);
    assert.deepEqual(gotMatch?.type, ref?.type, 'agrees with the reference matcher');
  });
}

test('path normalisation applies before matching', () => {
  const t = table({
    virtualHosts: { '*': vhost([route('Exact', '/admin', 'c/a:1'), route('Prefix', '/public', 'c/p:1')]) },
    clusters: { 'c/a:1': cluster(9), 'c/p:1': cluster(9) },
  });
  assert.equal((lookup(t, 'x', '/public/../admin') as Route).cluster, 'c/a:1');
  assert.equal((lookup(t, 'x', '//admin?q=/public') as Route).cluster, 'c/a:1');
  assert.equal((lookup(t, 'x', '/public/%2e%2e/admin') as Route).cluster, 'c/a:1');
  assert.equal((lookup(t, 'x', '/public//x/./y') as Route).cluster, 'c/p:1');
});

function hostTable(): RoutingTable {
  const r = (name: string) => vhost([route('Prefix', '/', `c/${name}:1`)]);
  return table({
    virtualHosts: {
      'foo.com': vhost([route('Prefix', '/api', 'c/foo:1')]),
      '*.foo.com': r('wild'),
      'x.foo.com': r('x'),
      '*': r('any'),
    },
    clusters: { 'c/foo:1': cluster(9), 'c/wild:1': cluster(9), 'c/x:1': cluster(9), 'c/any:1': cluster(9) },
  });
}

test('hosts: exact, case-insensitive, port and trailing dot stripped', () => {
  const t = hostTable();
  for (const h of ['foo.com', 'FOO.COM', 'foo.com:8080', 'Foo.Com.', 'foo.com.:80']) {
    assert.equal((lookup(t, h, '/api/v1') as Route).cluster, 'c/foo:1', h);
  }
});

test('hosts: a wildcard matches one extra label only; exact beats wildcard', () => {
  const t = hostTable();
  assert.equal((lookup(t, 'bar.foo.com', '/') as Route).cluster, 'c/wild:1');
  assert.equal((lookup(t, 'BAR.foo.com:443', '/') as Route).cluster, 'c/wild:1');
  assert.equal((lookup(t, 'x.foo.com', '/') as Route).cluster, 'c/x:1');
  assert.equal((lookup(t, 'baz.bar.foo.com', '/') as Route).cluster, 'c/any:1');
});

test('hosts: "*" takes unknown hosts, IP literals and a missing Host', () => {
  const t = hostTable();
  for (const h of ['other.com', '127.0.0.1:80', '[::1]:8080', undefined]) {
    assert.equal((lookup(t, h, '/x') as Route).cluster, 'c/any:1', String(h));
  }
});

test('hosts: a matched host never falls through to "*"', () => {
  const t = hostTable();
  assert.equal(lookup(t, 'foo.com', '/other'), undefined);
});

test('no match goes to the default backend when there is one, else nowhere (404)', () => {
  const parts = {
    virtualHosts: { 'foo.com': vhost([route('Prefix', '/aaa', 'c/a:1')]) },
    clusters: { 'c/a:1': cluster(9), 'c/def:1': cluster(8) },
  };
  const without = table(parts);
  assert.equal(without.match('foo.com', '/ccc'), undefined);
  assert.equal(without.match('bar.com', '/aaa'), undefined);
  const withDefault = table({ ...parts, defaultRoute: route('Prefix', '/', 'c/def:1', 1234)[1] });
  const hit = withDefault.match('foo.com', '/ccc');
  assert.ok(hit);
  assert.equal(hit.route.origin, 'Ingress/test/t');
  assert.equal(hit.timeoutMs, 1234);
  assert.equal(hit.cluster?.key, 'c/def:1');
  assert.equal(hit.cluster?.pick()?.port, 8);
});

test('a route without a cluster, or with an empty cluster, has no endpoint to pick (503)', () => {
  const t = table({
    virtualHosts: { '*': vhost([route('Prefix', '/none'), route('Prefix', '/empty', 'c/empty:1')]) },
    clusters: { 'c/empty:1': { endpoints: {} } },
  });
  assert.equal(t.match('x', '/none/1')?.cluster, undefined);
  const empty = t.match('x', '/empty');
  assert.ok(empty?.cluster);
  assert.equal(empty.cluster.pick(), undefined);
});

test('counts and route keys', () => {
  const t = hostTable();
  assert.deepEqual(t.counts, { listeners: 0, virtualHosts: 4, routes: 4, clusters: 4, endpoints: 4, secrets: 0 });
  assert.equal(routeKey('Prefix', '/'), 'Prefix:/');
});

test('round-robin cursors carry over to the next table', () => {
  const parts = { virtualHosts: { '*': vhost([route('Prefix', '/', 'c/a:1')]) }, clusters: { 'c/a:1': cluster(1, 2, 3) } };
  const a = table(parts);
  const ca = a.cluster('c/a:1');
  assert.deepEqual([ca?.pick()?.port, ca?.pick()?.port], [1, 2]);
  const b = buildTable(sealSnapshot(content(parts)), a, { pools });
  tables.push(b);
  assert.equal(b.cluster('c/a:1')?.pick()?.port, 3);
});

test('a secret key that only names an inherited property is a missing secret, not an internal error', () => {
  const s = sealSnapshot(content({
    listeners: { https: { protocol: 'https', address: '127.0.0.1', port: 8443, defaultSecret: 'toString' } },
  }));
  assert.throws(() => buildTable(s, undefined, { pools }), (err: unknown) => {
    assert.ok(err instanceof ApplyError);
    assert.equal(err.code, ApplyCode.TLS_SECRET_INVALID);
    assert.match(err.message, /"toString" used by listener "https" does not exist/);
    return true;
  });
  const t = table({});
  assert.equal(t.credentials('constructor'), undefined);
});
