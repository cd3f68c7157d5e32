// Endpoint changes arriving as deltas: the clusters map is an overlay (stream/
// overlay.ts) and the table's balancers a layer over the previous table's
// (table.ts ClusterLayer). Whatever the deltas do, a table must route and
// balance exactly as one built in full from the same snapshot, and the pool
// registry must hold exactly the endpoints some live table reads.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import type { Cluster, Snapshot } from '../../api/snapshot.ts';
import { sealSnapshot } from '../../api/version.ts';
import { DataPlane } from '../apply.ts';
import { cluster, route, vhost } from '../testkit.ts';
import { applyDelta } from '../stream/delta.ts';
import { isOverlay, MAX_CHANGES, overlayChanges } from '../stream/overlay.ts';
import { DnsBalancer } from '../upstream/balancer.ts';
import { DnsTargets, type DnsTarget } from '../upstream/dns.ts';
import { UpstreamPools } from '../upstream/pools.ts';
import { silentLogger } from '../../lib/log.ts';
import { buildTable, type RoutingTable } from './table.ts';
import { assertReferences, base, behaviour, CLUSTERS, delta, edit, fresh, HOSTS, key, plain } from './layers-testkit.ts';

const replaceEndpoint = (k: string, port: number) => (c: Record<string, Cluster>) => { c[k] = cluster(port); };

// One delta from the base, built on the base's table; then the base's table retired.
const CASES: Array<[string, (c: Record<string, Cluster>) => void]> = [
  ['one endpoint replaced (a pod restarted)', replaceEndpoint(key(3), 31_003)],
  ['an endpoint added to a cluster', (c) => { c[key(5)] = cluster(20_005, 40_005, 50_005); }],
  ['a cluster added', (c) => { c['ns/new:80'] = cluster(33_000); }],
  ['a cluster referenced by nothing removed', (c) => { delete c[key(HOSTS + 3)]; }],
  ['a cluster emptied (503s)', (c) => { c[key(1)] = cluster(); }],
  ['an endpoint moved to another cluster', (c) => { c[key(2)] = cluster(20_007); c[key(7)] = cluster(20_002); }],
  ['several at once', (c) => { c[key(4)] = cluster(34_004); delete c[key(HOSTS + 10)]; c['ns/new:80'] = cluster(20_000); }],
];

const planes: DataPlane[] = [];
after(async () => {
  for (const p of planes) await p.close();
});

test('one endpoint delta through the overlay builds the table a full build does', async (t) => {
  const s0 = base();
  for (const [name, change] of CASES) {
    await t.test(name, () => {
      const pools = new UpstreamPools();
      const t0 = buildTable(s0, undefined, { pools });
      const target = edit(s0, change);
      const r = applyDelta(s0, delta(s0, target), { overlays: true });
      assert.ok(r.ok, !r.ok ? r.reason : '');
      const s1 = r.candidate as Snapshot;
      assert.ok(isOverlay(s1.clusters), 'the clusters map is an overlay');
      const t1 = buildTable(s1, t0, { pools });
      const keys = new Set([...Object.keys(s0.clusters), ...Object.keys(target.clusters)]);
      assert.deepEqual(behaviour(t1, keys), fresh(target, keys));
      // Unchanged clusters keep their balancer (and its round-robin cursor).
      assert.equal(t1.cluster(key(HOSTS + 20)), t0.cluster(key(HOSTS + 20)));
      // Both tables alive, then the old one closed, then the new one.
      assertReferences(pools, [t0, t1], 'both tables');
      t0.retire();
      assertReferences(pools, [t1], 'the old table closed');
      assert.deepEqual(behaviour(t1, keys), fresh(target, keys), 'the old table closing changed nothing');
      t1.retire();
      assert.equal(pools.size, 0, 'every endpoint released');
    });
  }
});

test('a refused table on a layer releases only what it took; its sibling reads the base', () => {
  const pools = new UpstreamPools();
  const s0 = base();
  const t0 = buildTable(s0, undefined, { pools });
  const a = edit(s0, replaceEndpoint(key(3), 31_003));
  const ta = buildTable((applyDelta(s0, delta(s0, a), { overlays: true }) as { candidate: Snapshot }).candidate, t0, { pools });
  // Refused after its build (a listener did not bind): retired without serving.
  ta.retire();
  assert.ok(!pools.has('127.0.0.1:31003') && pools.has('127.0.0.1:20003'));
  const b = edit(s0, replaceEndpoint(key(4), 31_004));
  const tb = buildTable((applyDelta(s0, delta(s0, b), { overlays: true }) as { candidate: Snapshot }).candidate, t0, { pools });
  const keys = Object.keys(s0.clusters);
  assert.deepEqual(behaviour(tb, keys), fresh(b, keys));
  assert.equal(tb.cluster(key(3)), t0.cluster(key(3)), 'the refused change is not seen');
  assertReferences(pools, [t0, tb], 'sibling and base');
  t0.retire();
  assertReferences(pools, [tb], 'sibling alone');
  assert.ok(!pools.has('127.0.0.1:20004'), 'the replaced endpoint went with the base table');
  tb.retire();
  assert.equal(pools.size, 0);
});

/** `prev` with host h(i mod HOSTS) routed elsewhere: a delta that writes no cluster. */
function withHost(prev: Snapshot, i: number): Snapshot {
  const { version: _v, ...rest } = prev;
  const h = `h${i % HOSTS}.example.com`;
  return sealSnapshot({ ...rest, virtualHosts: { ...prev.virtualHosts, [h]: vhost([route('Prefix', '/', key((i * 3) % HOSTS)), route('Exact', '/other', key(i % HOSTS))]) } });
}

/** A small deterministic generator (the test must replay the same deltas). */
function rng(seed: number): (n: number) => number {
  let x = seed >>> 0;
  return (n) => {
    x = (Math.imul(x, 1_664_525) + 1_013_904_223) >>> 0;
    return x % n;
  };
}

test('150 deltas (endpoint changes, every 10th a host change) across the 64-change rule, with an old table pinned, match full builds and hold exactly the live endpoints', async () => {
  const plane = new DataPlane();
  planes.push(plane);
  let served = base();
  assert.ok((await plane.apply(plain(served))).ok);
  const next = rng(8);
  const everUsed = new Set(Object.keys(served.clusters));
  const removed: string[] = [];
  let port = 50_000;
  let copies = 0;
  let pinned: RoutingTable | undefined;
  for (let i = 1; i <= 150; i++) {
    // A long request pins the table of delta 30 until delta 100: across rebuilds of the base.
    if (i === 30) (pinned = plane.table!).enter();
    if (i === 100) {
      pinned!.leave();
      pinned = undefined;
    }
    // Every 10th delta changes a host only: the clusters map (an overlay, often) and its layer are shared.
    const hostOnly = i % 10 === 0;
    const target = hostOnly ? withHost(served, i) : edit(served, (c) => {
      for (let n = 1 + next(3); n > 0; n--) {
        const kind = next(10);
        if (kind < 6) c[key(next(CLUSTERS))] = cluster(port++); // most often: endpoints replaced
        else if (kind < 8 || removed.length === 0) {
          const k = key(HOSTS + next(CLUSTERS - HOSTS));
          if (Object.hasOwn(c, k)) {
            delete c[k];
            removed.push(k);
          }
        } else c[removed.pop()!] = cluster(port++, 20_000 + next(100));
      }
    });
    for (const k of Object.keys(target.clusters)) everUsed.add(k);
    const r = applyDelta(plane.current, delta(served, target), { overlays: true });
    assert.ok(r.ok, !r.ok ? r.reason : '');
    const clusters = (r.candidate as Snapshot).clusters;
    // An overlay carrying MAX_CHANGES is copied by the next delta, which writes up to 3 keys.
    if (isOverlay(clusters)) assert.ok(overlayChanges(clusters) < MAX_CHANGES + 3);
    else if (!hostOnly) copies++;
    const before = plane.table!;
    assert.deepEqual(await plane.apply(r.candidate), { ok: true, version: target.version }, `delta ${i}`);
    if (hostOnly) {
      assert.equal(plane.current!.clusters, before.snapshot.clusters);
      assert.equal(plane.table!.cluster(key(HOSTS + 1)), before.cluster(key(HOSTS + 1)), 'the same balancers');
    }
    assert.deepEqual(behaviour(plane.table!, everUsed), fresh(target, everUsed), `delta ${i}: as a full build`);
    assertReferences(plane.pools, pinned === undefined ? [plane.table!] : [plane.table!, pinned], `delta ${i}`);
    if (pinned !== undefined) assert.equal(pinned.match('h1.example.com', '/')?.cluster, pinned.cluster(key(1)), 'the pinned table routes with its own balancers');
    served = target;
  }
  assert.ok(copies >= 2, `${copies} whole copies of the clusters map over 150 deltas`);
});

test('a bad endpoint delta on an overlay is refused and the last good table keeps serving', async () => {
  const plane = new DataPlane();
  planes.push(plane);
  const s0 = base();
  assert.ok((await plane.apply(plain(s0))).ok);
  const s1 = edit(s0, replaceEndpoint(key(2), 32_002));
  assert.ok((await plane.apply((applyDelta(plane.current, delta(s0, s1), { overlays: true }) as { candidate: unknown }).candidate)).ok);
  assert.ok(isOverlay(plane.current!.clusters));
  const good = plane.table!;
  // An endpoint that is not an IP address: refused by validation.
  const bad = { ...s1, clusters: { ...plain(s1.clusters) as object, [key(3)]: { endpoints: { 'x:1': { address: 'not-an-ip', port: 1 } } } } };
  const patch = [...plain(jsonpatch.compare(s1, bad)) as Operation[], { op: 'replace', path: '/version', value: 'f'.repeat(32) }] as Operation[];
  const r = applyDelta(plane.current, { type: 'delta', base: s1.version, version: 'f'.repeat(32), patch }, { overlays: true });
  assert.ok(r.ok);
  const out = await plane.apply(r.candidate);
  assert.equal(!out.ok && out.code, 'SNAPSHOT_INVALID');
  assert.equal(plane.table, good);
  assert.equal(plane.current!.version, s1.version);
  assert.deepEqual(plane.table!.match('h3.example.com', '/')?.cluster?.endpoints.map((e) => e.port), [20_003]);
  assertReferences(plane.pools, [good], 'after the refusal');
  // The next good delta still builds on the served table.
  const s2 = edit(s1, replaceEndpoint(key(3), 32_003));
  assert.ok((await plane.apply((applyDelta(plane.current, delta(s1, s2), { overlays: true }) as { candidate: unknown }).candidate)).ok);
  const keys = Object.keys(s2.clusters);
  assert.deepEqual(behaviour(plane.table!, keys), fresh(s2, keys));
  assertReferences(plane.pools, [plane.table!], 'after the next delta');
});

test('a DNS-named cluster added and removed by deltas is counted, resolved and released like any other', async () => {
  const pools = new UpstreamPools();
  const dns = new DnsTargets(pools, silentLogger, { resolve: async () => [{ address: '127.0.0.9', ttlSeconds: 60 }], minTtlMs: 60_000 });
  const s0 = base();
  const t0 = buildTable(s0, undefined, { pools, dns });
  const step = (prev: Snapshot, table: RoutingTable, change: (c: Record<string, Cluster>) => void) => {
    const target = edit(prev, change);
    const r = applyDelta(table.snapshot, delta(prev, target), { overlays: true });
    assert.ok(r.ok, !r.ok ? r.reason : '');
    return [target, buildTable(r.candidate as Snapshot, table, { pools, dns })] as const;
  };
  const [s1, t1] = step(s0, t0, (c) => { c['ns/ext:80'] = { endpoints: {}, dns: { name: 'ext.test', port: 8080 } }; });
  await t1.dnsReady(5_000);
  const ext = t1.cluster('ns/ext:80') as DnsBalancer;
  assert.ok(ext instanceof DnsBalancer);
  assert.deepEqual(ext.endpoints.map((e) => e.key), ['127.0.0.9:8080']);
  assert.equal(t1.counts.clusters, CLUSTERS + 1);
  // An unrelated endpoint change: the DNS cluster is read through the layer and counted with its addresses.
  const [s2, t2] = step(s1, t1, replaceEndpoint(key(7), 37_007));
  assert.equal(t2.cluster('ns/ext:80'), ext);
  assert.equal(t2.counts.endpoints, t0.counts.endpoints + 1);
  const [, t3] = step(s2, t2, (c) => { delete c['ns/ext:80']; });
  assert.equal(t3.cluster('ns/ext:80'), undefined);
  assert.equal(t3.counts.clusters, CLUSTERS);
  for (const t of [t0, t1, t2]) t.retire();
  assert.ok((ext.target as DnsTarget).released, 'the name is no longer resolved once no live table reads it');
  assert.ok(!pools.has('127.0.0.9:8080'));
  assertReferences(pools, [t3], 'after the old tables closed');
  t3.retire();
  assert.equal(pools.size, 0);
});
