import { test } from 'node:test';
import assert from 'node:assert/strict';
import jsonpatch from 'fast-json-patch';
import { noteMapCopy, routeKey, type Route, type Snapshot, type VirtualHost } from './snapshot.ts';
import { sealSnapshot } from './version.ts';
import { diffSnapshots } from './diff.ts';

/** A sealed snapshot of one host with `routes` prefix routes to one cluster. */
function snapshotWith(routes: number): Snapshot {
  const cluster = 'default/web:80';
  const r: Record<string, Route> = {};
  for (let i = 0; i < routes; i++) r[routeKey('Prefix', `/r${i}`)] = { match: { type: 'Prefix', path: `/r${i}` }, cluster, timeoutMs: 15000, origin: `Ingress/default/i${i}` };
  return sealSnapshot({
    listeners: { http: { protocol: 'http', address: '127.0.0.1', port: 18080 } },
    virtualHosts: { 'foo.com': { routes: r } },
    clusters: { [cluster]: { endpoints: { '10.0.0.1:8080': { address: '10.0.0.1', port: 8080 } } } },
    secrets: {},
  });
}

/** `patch` applied to a deep copy of `base`. */
function applied(base: Snapshot, patch: readonly jsonpatch.Operation[]): unknown {
  // Through JSON, not structuredClone: that would keep one host object shared by several keys shared.
  return jsonpatch.applyPatch(JSON.parse(JSON.stringify(base)), structuredClone(patch) as jsonpatch.Operation[], true, true).newDocument;
}

test('a recorded copy is diffed at its written keys: add, replace (deep), remove, unchanged, and ~ and / in keys', () => {
  const { version: _a, ...five } = snapshotWith(5);
  const vh = five.virtualHosts['foo.com']!;
  const a = sealSnapshot({ ...five, virtualHosts: { 'a.com': vh, 'b.com': vh, 'c.com': vh } });
  const keys = Object.keys(a.virtualHosts);
  const first = a.virtualHosts[keys[0]!]!;
  const changed: VirtualHost = { ...first, routes: { ...first.routes, 'Exact:/new': { match: { type: 'Exact', path: '/new' }, timeoutMs: 5, origin: 'o' } } };
  const hosts: Record<string, VirtualHost> = { ...a.virtualHosts, [keys[0]!]: changed, 'a~b/c.com': first };
  delete hosts[keys[1]!];
  noteMapCopy(hosts, a.virtualHosts, new Set([keys[0]!, keys[1]!, keys[2]!, 'a~b/c.com', 'absent.com']));
  const { version: _v, ...rest } = a;
  const b = sealSnapshot({ ...rest, virtualHosts: hosts });
  const patch = diffSnapshots(a, b);
  assert.deepEqual(applied(a, patch), structuredClone(b));
  assert.deepEqual(patch.map((op) => `${op.op} ${op.path}`).sort(), [
    `add /virtualHosts/${keys[0]}/routes/Exact:~1new`, 'add /virtualHosts/a~0b~1c.com', `remove /virtualHosts/${keys[1]}`, 'replace /version',
  ].sort());
});

test('without a recorded copy it is what compare() gives', () => {
  const a = snapshotWith(20);
  const b = snapshotWith(23);
  assert.deepEqual(diffSnapshots(a, b), jsonpatch.compare(a, b));
  assert.deepEqual(applied(a, diffSnapshots(a, b)), structuredClone(b));
  // A field only one side has.
  const { version: _v, ...rest } = a;
  const c = sealSnapshot({ ...rest, defaultRoute: { match: { type: 'Prefix', path: '/' }, timeoutMs: 1, origin: 'o' } });
  assert.deepEqual(applied(a, diffSnapshots(a, c)), structuredClone(c));
  assert.deepEqual(applied(c, diffSnapshots(c, a)), structuredClone(a));
});
