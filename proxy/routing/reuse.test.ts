// Incremental table builds: what a table takes over from the previous one when
// the snapshot shares frozen sub-objects with the previous snapshot (as every
// delta does), and that what changed is never served from the old parts:
// compiled hosts are kept even when a cluster they name changed, because a
// route's cluster is resolved through the matching table.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { sealSnapshot } from '../../api/version.ts';
import type { Snapshot } from '../../api/snapshot.ts';
import type { SnapshotContent } from '../../api/version.ts';
import { UpstreamPools } from '../upstream/pools.ts';
import { buildTable } from './table.ts';
import type { RoutingTable } from './table.ts';
import { cluster, content, route, vhost } from '../testkit.ts';
import { FOO } from '../testdata/tls.ts';

const pools = new UpstreamPools();
const tables: RoutingTable[] = [];
after(async () => {
  for (const t of tables) t.retire();
  await pools.close();
});

function build(s: Snapshot, previous?: RoutingTable): RoutingTable {
  const t = buildTable(s, previous, { pools });
  tables.push(t);
  return t;
}

/** `base` with some parts replaced, sharing every other (frozen) object, as a delta does. */
function derive(base: Snapshot, parts: Partial<SnapshotContent>): Snapshot {
  const { version: _v, ...rest } = base;
  return sealSnapshot({ ...rest, ...parts });
}

const s1 = sealSnapshot(content({
  virtualHosts: {
    'a.com': vhost([route('Prefix', '/', 'c/a:1'), route('Exact', '/x', 'c/shared:1')]),
    'b.com': vhost([route('Prefix', '/', 'c/b:1')]),
    '*': vhost([route('Prefix', '/', 'c/shared:1')]),
  },
  clusters: { 'c/a:1': cluster(1001), 'c/b:1': cluster(1002), 'c/shared:1': cluster(1003, 1004) },
}));

test('an unchanged virtual host keeps its compiled paths; a changed one is recompiled', () => {
  const t1 = build(s1);
  const s2 = derive(s1, { virtualHosts: { ...s1.virtualHosts, 'b.com': vhost([route('Prefix', '/v2', 'c/b:1')]) } });
  assert.equal(s2.virtualHosts['a.com'], s1.virtualHosts['a.com']);
  const t2 = build(s2, t1);
  // The compiled hosts (their PathMatchers) of unchanged host objects are reused.
  assert.ok(t1.pathsFor('a.com'));
  assert.equal(t2.pathsFor('a.com'), t1.pathsFor('a.com'));
  assert.equal(t2.pathsFor('other'), t1.pathsFor('other'), 'the "*" host too');
  assert.notEqual(t2.pathsFor('b.com'), t1.pathsFor('b.com'));
  assert.equal(t2.match('a.com', '/x')?.route, t1.match('a.com', '/x')?.route);
  assert.equal(t2.match('b.com', '/'), undefined, 'the changed host has its new routes only');
  assert.equal(t2.match('b.com', '/v2')?.cluster?.key, 'c/b:1');
  // Balancers of unchanged clusters are the same objects, round-robin state included.
  assert.equal(t2.cluster('c/a:1'), t1.cluster('c/a:1'));
  assert.deepEqual(t2.counts, { listeners: 0, virtualHosts: 3, routes: 4, clusters: 3, endpoints: 4, secrets: 0 });
});

test('a host whose cluster changed (host object unchanged) routes to the new endpoints', () => {
  const t1 = build(s1);
  const s2 = derive(s1, { clusters: { ...s1.clusters, 'c/shared:1': cluster(2001) } });
  assert.equal(s2.virtualHosts['a.com'], s1.virtualHosts['a.com'], 'host object shared');
  const t2 = build(s2, t1);
  const hit = t2.match('a.com', '/x');
  assert.equal(hit?.cluster, t2.cluster('c/shared:1'));
  assert.deepEqual(hit?.cluster?.endpoints.map((e) => e.port), [2001]);
  assert.deepEqual(t2.match('nobody', '/')?.cluster?.endpoints.map((e) => e.port), [2001], 'the "*" host too');
  // The old table still routes to the old endpoints (a request pinned to it is unaffected).
  assert.deepEqual(t1.match('a.com', '/x')?.cluster?.endpoints.map((e) => e.port), [1003, 1004]);
  // Compiled hosts hold routes, not balancers: all of them are kept, even a.com's.
  for (const h of ['a.com', 'b.com', 'nobody']) assert.equal(t2.pathsFor(h), t1.pathsFor(h), h);
});

test('after a cluster change, a route-only change keeps routing hosts to the newest balancers', () => {
  const t1 = build(s1);
  const s2 = derive(s1, { clusters: { ...s1.clusters, 'c/a:1': cluster(4001) } });
  const t2 = build(s2, t1);
  // Route-only change: the clusters map is the same object, so is the balancer map.
  const s3 = derive(s2, { virtualHosts: { ...s2.virtualHosts, 'b.com': vhost([route('Prefix', '/b3', 'c/b:1')]) } });
  assert.equal(s3.clusters, s2.clusters);
  const t3 = build(s3, t2);
  for (const key of ['c/a:1', 'c/b:1', 'c/shared:1']) assert.equal(t3.cluster(key), t2.cluster(key), key);
  assert.equal(t3.pathsFor('a.com'), t1.pathsFor('a.com'), 'a.com compiled for t1 is still used');
  assert.deepEqual(t3.match('a.com', '/')?.cluster?.endpoints.map((e) => e.port), [4001]);
  assert.deepEqual(t1.match('a.com', '/')?.cluster?.endpoints.map((e) => e.port), [1001], 't1 unchanged');
  // And back to t1's cluster object: a new balancer again, never t1's stale one.
  const s4 = derive(s3, { clusters: s1.clusters });
  const t4 = build(s4, t3);
  assert.deepEqual(t4.match('a.com', '/')?.cluster?.endpoints.map((e) => e.port), [1001]);
  assert.equal(t4.match('a.com', '/')?.cluster, t4.cluster('c/a:1'));
});

test('a changed cluster starts its balancer at the old cursor; a removed one is not lent', () => {
  const t1 = build(s1);
  const shared = t1.cluster('c/shared:1');
  assert.deepEqual([shared?.pick()?.port, shared?.pick()?.port], [1003, 1004]);
  const s2 = derive(s1, { clusters: { ...s1.clusters, 'c/shared:1': cluster(1003, 1004, 1005) } });
  const t2 = build(s2, t1);
  assert.notEqual(t2.cluster('c/shared:1'), shared);
  assert.equal(t2.cluster('c/shared:1')?.pick()?.port, 1005, 'third pick overall, on the third endpoint');
  const { 'c/b:1': _gone, ...rest } = s1.clusters;
  const s3 = derive(s1, { clusters: rest, virtualHosts: { 'a.com': s1.virtualHosts['a.com']! } });
  const t3 = build(s3, t2);
  assert.equal(t3.cluster('c/b:1'), undefined);
  assert.equal(t3.match('b.com', '/'), undefined);
});

test('reference counts stay exact when balancers are shared by consecutive tables', () => {
  const local = new UpstreamPools();
  const t1 = buildTable(s1, undefined, { pools: local });
  const s2 = derive(s1, { clusters: { ...s1.clusters, 'c/b:1': cluster(3001) } });
  const t2 = buildTable(s2, t1, { pools: local });
  assert.equal(t2.cluster('c/a:1'), t1.cluster('c/a:1'));
  t1.retire();
  assert.ok(t1.closed);
  assert.ok(local.has('127.0.0.1:1001'), 'still held by t2 through the shared balancer');
  assert.ok(!local.has('127.0.0.1:1002'), 'only t1 had the old b endpoint');
  // A table built from a closed one reuses no balancer but is just as right.
  const t3 = buildTable(derive(s2, {}), t1, { pools: local });
  assert.notEqual(t3.cluster('c/a:1'), t2.cluster('c/a:1'));
  assert.deepEqual(t3.match('b.com', '/')?.cluster?.endpoints.map((e) => e.port), [3001]);
  t2.retire();
  t3.retire();
  assert.equal(local.size, 0, 'every endpoint released once both tables closed');
});

test('tables sharing one clusters map hold its endpoints until the last of them closes, in any order', () => {
  const local = new UpstreamPools();
  const t1 = buildTable(s1, undefined, { pools: local });
  // Deltas that touch hosts only: the same clusters map object all along.
  const s2 = derive(s1, { virtualHosts: { ...s1.virtualHosts, 'c.com': vhost([route('Prefix', '/', 'c/a:1')]) } });
  const t2 = buildTable(s2, t1, { pools: local });
  const s3 = derive(s2, { virtualHosts: { 'a.com': s1.virtualHosts['a.com']! } });
  const t3 = buildTable(s3, t2, { pools: local });
  assert.equal(s3.clusters, s1.clusters);
  assert.equal(t3.cluster('c/b:1'), t1.cluster('c/b:1'));
  assert.equal(t3.counts.endpoints, 4);
  t2.retire();
  t1.retire();
  assert.ok(t1.closed && t2.closed);
  for (const port of [1001, 1002, 1003, 1004]) assert.ok(local.has(`127.0.0.1:${port}`), `${port} still held by t3`);
  // A cluster change after that: the new map takes its own references.
  const t4 = buildTable(derive(s3, { clusters: { ...s3.clusters, 'c/b:1': cluster(3002) } }), t3, { pools: local });
  t3.retire();
  assert.ok(!local.has('127.0.0.1:1002'), 'the replaced endpoint went with the last table of the old map');
  assert.ok(local.has('127.0.0.1:1001') && local.has('127.0.0.1:3002'));
  t4.retire();
  assert.equal(local.size, 0, 'every endpoint released once every table closed');
});

test('hosts of a snapshot that is not frozen are compiled but never cached', () => {
  const plain = { ...content({ virtualHosts: { 'a.com': vhost([route('Prefix', '/', 'c/a:1')]) }, clusters: { 'c/a:1': cluster(1) } }), version: '00000000' };
  const t1 = build(plain as Snapshot);
  const t2 = build(plain as Snapshot, t1);
  assert.notEqual(t2.pathsFor('a.com'), t1.pathsFor('a.com'));
  assert.notEqual(t2.cluster('c/a:1'), t1.cluster('c/a:1'));
});

test('an unchanged TLS secret is neither re-hashed nor re-loaded by the next table', () => {
  let reads = 0;
  const secret = Object.freeze({
    get cert() { reads++; return FOO.cert; },
    get key() { return FOO.key; },
  });
  const base = sealSnapshot(content({
    virtualHosts: { 'foo.com': vhost([route('Prefix', '/', 'c/a:1')], 'ns/foo') },
    clusters: { 'c/a:1': cluster(1) },
    secrets: { 'ns/foo': secret },
  }));
  const t1 = build(base);
  const sni = t1.secureContextFor('foo.com');
  assert.ok(sni);
  const before = reads;
  const t2 = build(derive(base, { clusters: { 'c/a:1': cluster(2) } }), t1);
  assert.equal(t2.secureContextFor('foo.com'), sni, 'context reused by fingerprint, as before');
  assert.equal(reads, before, 'the PEM was not read again: fingerprint remembered per frozen secret');
});
