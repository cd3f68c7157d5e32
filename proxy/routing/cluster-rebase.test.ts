// The periodic new base of a table's balancers (cluster-layers.ts rebase):
// it borrows its lender's holds instead of retaining 10k balancers, and the
// lender passes them on instead of releasing them. Whatever order the tables
// close in (a request pinning an old table, a refused rebase, a sibling
// layer over the lender), a table must route as one built in full, and the
// pool registry must hold exactly the endpoints some live table reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Snapshot } from '../../api/snapshot.ts';
import { cluster } from '../testkit.ts';
import { applyDelta } from '../stream/delta.ts';
import { ClusterBalancer, DnsBalancer } from '../upstream/balancer.ts';
import { UpstreamPools } from '../upstream/pools.ts';
import { layerState } from './cluster-layers.ts';
import { buildTable, type RoutingTable } from './table.ts';
import { assertReferences, base, behaviour, delta, edit, fresh, HOSTS, key } from './layers-testkit.ts';

interface Step { readonly s: Snapshot; readonly t: RoutingTable }

/** The table of `prev` with cluster `i` given a new endpoint on `port`, built from `prev`'s table through an overlay. */
function step(prev: Step, pools: UpstreamPools, i: number, port: number): Step {
  const s = edit(prev.s, (c) => { c[key(i)] = cluster(port); });
  const r = applyDelta(prev.t.snapshot, delta(prev.s, s), { overlays: true });
  assert.ok(r.ok, !r.ok ? r.reason : '');
  return { s, t: buildTable(r.candidate as Snapshot, prev.t, { pools }) };
}

/** `n` one-cluster deltas from `from` (clusters first, first+1, ...), each table retired once the next is built, as the applier does. */
function chain(from: Step, pools: UpstreamPools, n: number, first: number, port: number, retire = true): Step {
  let cur = from;
  for (let j = 0; j < n; j++) {
    const next = step(cur, pools, first + j, port + j);
    if (retire || j > 0) cur.t.retire();
    cur = next;
  }
  return cur;
}

const everyKey = () => Object.keys(base().clusters);

/** The table matches a full build of its snapshot. */
function assertAsFull(x: Step, what: string): void {
  const keys = everyKey();
  assert.deepEqual(behaviour(x.t, keys), fresh(x.s, keys), what);
}

test('a rebase borrows its lender\'s holds; the lender, pinned across it, hands them over when it closes', () => {
  const pools = new UpstreamPools();
  const s0 = base();
  const start: Step = { s: s0, t: buildTable(s0, undefined, { pools }) };
  // 64 changes on unreferenced clusters, then the 65th builds a new base.
  const last = chain(start, pools, 64, HOSTS, 60_000);
  assert.equal(layerState(last.t.clusterLayer).changes, 64);
  const heir = step(last, pools, HOSTS + 64, 60_064);
  assert.deepEqual(layerState(heir.t.clusterLayer), { changes: 0, borrowing: true, lending: false });
  assert.equal(layerState(last.t.clusterLayer).lending, true);
  assertReferences(pools, [last.t, heir.t], 'lender and heir');
  assertAsFull(heir, 'the heir');
  // The heir's layers replace balancers it borrows (and one the lender replaced) while the lender is pinned.
  let cur = heir;
  for (const [i, port] of [[1, 61_001], [HOSTS + 200, 61_200], [HOSTS + 3, 61_003], [2, 61_002]] as const) {
    const next = step(cur, pools, i, port);
    if (cur !== heir) cur.t.retire();
    cur = next;
    assertReferences(pools, [last.t, heir.t, cur.t], `lender pinned, heir's layer over ${key(i)}`);
    assertAsFull(cur, `the heir's layer over ${key(i)}`);
  }
  assertAsFull(last, 'the pinned lender still routes as its own snapshot');
  heir.t.retire();
  last.t.retire();
  assert.equal(layerState(cur.t.clusterLayer).borrowing, false, 'the holds were handed over');
  assertReferences(pools, [cur.t], 'the lender closed');
  assertAsFull(cur, 'after the hand-over');
  assert.ok(!pools.has('127.0.0.1:20001') && !pools.has('127.0.0.1:60003'), 'replaced endpoints went with the lender');
  // The next rebase borrows from the former heir, which lends in turn.
  const again = chain(cur, pools, 70, HOSTS + 300, 62_000);
  assertReferences(pools, [again.t], 'after a second rebase');
  assertAsFull(again, 'after a second rebase');
  again.t.retire();
  assert.equal(pools.size, 0, 'every endpoint released');
});

test('a refused rebase gives back only its own holds; the lender keeps serving and lends again', () => {
  const pools = new UpstreamPools();
  const s0 = base();
  const last = chain({ s: s0, t: buildTable(s0, undefined, { pools }) }, pools, 64, HOSTS, 60_000);
  // Refused after its build (a listener did not bind): retired without serving.
  const refused = step(last, pools, 5, 63_005);
  assert.equal(layerState(refused.t.clusterLayer).borrowing, true);
  refused.t.retire();
  assert.equal(layerState(last.t.clusterLayer).lending, false);
  assertReferences(pools, [last.t], 'the refused heir closed');
  assertAsFull(last, 'the lender is untouched');
  assert.ok(!pools.has('127.0.0.1:63005') && pools.has('127.0.0.1:20005'));
  // The next attempt borrows again (its map copied in full this time).
  const retry = step(last, pools, 6, 63_006);
  assert.equal(layerState(retry.t.clusterLayer).borrowing, true);
  assertReferences(pools, [last.t, retry.t], 'lender and the second heir');
  last.t.retire();
  assertReferences(pools, [retry.t], 'the second heir alone');
  assertAsFull(retry, 'the second heir');
  retry.t.retire();
  assert.equal(pools.size, 0);
});

test('a layer over the lender replacing a balancer the heir borrows: each keeps what it reads, in any closing order', () => {
  for (const order of ['lender first', 'sibling first', 'heir first'] as const) {
    const pools = new UpstreamPools();
    const s0 = base();
    const last = chain({ s: s0, t: buildTable(s0, undefined, { pools }) }, pools, 64, HOSTS, 60_000);
    const heir = step(last, pools, HOSTS + 64, 60_064);
    // The heir's own layer replaces cluster 8; a sibling over the lender replaces 7 and 8.
    const heirNext = step(heir, pools, 8, 64_008);
    const sib1 = step(last, pools, 7, 65_007);
    const sibling = step(sib1, pools, 8, 65_008);
    assertReferences(pools, [last.t, heir.t, heirNext.t, sib1.t, sibling.t], `${order}: all live`);
    assertAsFull(heir, `${order}: the heir reads the lender's cluster 7`);
    assertAsFull(heirNext, `${order}: the heir's layer`);
    assertAsFull(sibling, `${order}: the sibling`);
    const closing = order === 'lender first' ? [last, sib1, heir, sibling, heirNext]
      : order === 'sibling first' ? [sib1, sibling, heir, last, heirNext]
        : [heir, heirNext, last, sib1, sibling];
    const live = new Set([last, heir, heirNext, sib1, sibling]);
    for (const x of closing) {
      x.t.retire();
      live.delete(x);
      assertReferences(pools, [...live].map((y) => y.t), `${order}: after one closed`);
      for (const y of live) assertAsFull(y, `${order}: a live table`);
    }
    assert.equal(pools.size, 0, `${order}: every endpoint released`);
  }
});

test('a rebase of a borrowing base holds its balancers itself, and either may close first', () => {
  for (const lenderFirst of [true, false]) {
    const pools = new UpstreamPools();
    const s0 = base();
    const last = chain({ s: s0, t: buildTable(s0, undefined, { pools }) }, pools, 64, HOSTS, 60_000);
    // The lender stays pinned while the heir's chain reaches its own rebase.
    const heir = step(last, pools, HOSTS + 64, 60_064);
    const next = chain(heir, pools, 65, HOSTS + 400, 66_000);
    assert.deepEqual(layerState(next.t.clusterLayer), { changes: 0, borrowing: false, lending: false });
    assertReferences(pools, [last.t, next.t], 'pinned lender and a base of its own');
    const [a, b] = lenderFirst ? [last, next] : [next, last];
    a.t.retire();
    assertReferences(pools, [b.t], 'one closed');
    assertAsFull(b, 'the other still routes');
    b.t.retire();
    assert.equal(pools.size, 0);
  }
});

test('a balancer counts its holders: the last releases its endpoints, once; a released balancer cannot be held again', () => {
  const pools = new UpstreamPools();
  const shared = pools.acquire('127.0.0.1', 1);
  const b = new ClusterBalancer('ns/a:80', [shared, pools.acquire('127.0.0.1', 2)]);
  const other = new ClusterBalancer('ns/b:80', [pools.acquire('127.0.0.1', 1)]);
  b.retain();
  b.retain();
  b.release(pools);
  b.release(pools);
  assert.equal(b.holders, 1);
  assert.equal(pools.size, 2, 'held while a holder is left');
  b.release(pools);
  assert.equal(b.holders, 0);
  assert.ok(pools.has('127.0.0.1:1') && !pools.has('127.0.0.1:2'), 'the last holder released its endpoints; the shared one is still held by the other balancer');
  assert.throws(() => b.retain(), /was released/);
  b.release(pools);
  assert.ok(pools.has('127.0.0.1:1'), 'a release too many gives back nothing twice');
  other.release(pools);
  assert.equal(pools.size, 0);

  let released = 0;
  const dns = new DnsBalancer('ns/ext:80', { endpoints: [], retain: () => assert.fail('a holder is counted by the balancer'), release: () => { released++; } });
  dns.retain();
  dns.release(pools);
  assert.equal(released, 0);
  dns.release(pools);
  dns.release(pools);
  assert.equal(released, 1, 'the target reference given back once');
});
