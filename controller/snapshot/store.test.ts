import { test } from 'node:test';
import assert from 'node:assert/strict';
import jsonpatch from 'fast-json-patch';
import type { Snapshot } from '../../api/snapshot.ts';
import type { DeltaMessage } from '../../api/stream.ts';
import { SnapshotValidationError } from '../../api/validate.ts';
import { sealSnapshot } from '../../api/version.ts';
import { TurnoutError } from '../errors.ts';
import { SnapshotStore } from './store.ts';
import { snapshotWith } from './testing.ts';

test('publish makes a snapshot current, notifies subscribers and ignores the same version', () => {
  const store = new SnapshotStore();
  const seen: string[] = [];
  store.subscribe((s) => seen.push(s.version));
  const a = snapshotWith(1);
  assert.equal(store.publish(a), true);
  assert.equal(store.publish(snapshotWith(1)), false, 'equal content, equal version');
  assert.equal(store.current, a);
  assert.deepEqual(seen, [a.version]);
});

test('history keeps the last N versions; a revert moves a version to the end', () => {
  const store = new SnapshotStore({ historySize: 3 });
  const s = [1, 2, 3, 4].map((n) => snapshotWith(n));
  for (const x of s) store.publish(x);
  assert.deepEqual(store.versions(), [s[1]!.version, s[2]!.version, s[3]!.version]);
  assert.equal(store.get(s[0]!.version), undefined);
  store.publish(s[1]!);
  assert.deepEqual(store.versions(), [s[2]!.version, s[3]!.version, s[1]!.version]);
  assert.equal(store.current, s[1]);
});

test('delta from a known version is a small patch that reproduces the target', () => {
  const store = new SnapshotStore();
  const a = snapshotWith(50);
  const b = snapshotWith(51);
  store.publish(a);
  store.publish(b);
  const msg = store.delta(a.version, b);
  assert.equal(msg.type, 'delta');
  const delta = msg as DeltaMessage;
  assert.equal(delta.base, a.version);
  assert.equal(delta.version, b.version);
  assert.equal(delta.patch.length, 2, 'one route added plus the version');
  const result = jsonpatch.applyPatch(structuredClone(a), structuredClone(delta.patch) as jsonpatch.Operation[], true, true).newDocument;
  assert.deepEqual(result, structuredClone(b));
  assert.ok(Object.isFrozen(a) && Object.isFrozen(b), 'the stored snapshots are untouched');
});

test('delta from an unknown or evicted version is the full snapshot', () => {
  const store = new SnapshotStore({ historySize: 2 });
  const [a, b, c] = [snapshotWith(1), snapshotWith(2), snapshotWith(3)];
  store.publish(a);
  store.publish(b);
  store.publish(c);
  assert.deepEqual(store.delta(undefined, c), { type: 'snapshot', snapshot: c });
  assert.equal(store.delta('0123456789abcdef', c).type, 'snapshot');
  assert.equal(store.delta(a.version, c).type, 'snapshot', 'a fell out of the history');
  assert.equal(store.delta(b.version, c).type, 'delta');
});

test('a delta larger than the snapshot (beyond the small-delta allowance) is sent as the snapshot', () => {
  const store = new SnapshotStore();
  const a = snapshotWith(2000, 1);
  const b = snapshotWith(0, 2);
  store.publish(a);
  store.publish(b);
  assert.equal(store.delta(a.version, b).type, 'snapshot');
});

test('deltas and their JSON are computed once per (from, to) and shared', () => {
  const store = new SnapshotStore();
  const a = snapshotWith(3);
  const b = snapshotWith(4);
  store.publish(a);
  store.publish(b);
  const m1 = store.delta(a.version, b);
  const m2 = store.delta(a.version, b);
  assert.equal(m1, m2);
  assert.equal(store.full(b), store.full(b));
  const t1 = store.encode(m1);
  assert.equal(store.encode(m2), t1);
  assert.deepEqual(JSON.parse(t1), m1);
});

test('unsealed, mis-versioned or invalid snapshots are refused', () => {
  const store = new SnapshotStore();
  const good = snapshotWith(1);
  assert.throws(() => store.publish({ ...good }), (e: unknown) => e instanceof TurnoutError && e.code === 'INVALID_ARGUMENT');
  const lying = Object.freeze({ ...good, version: 'ffffffffffffffffffffffffffffffff' }) as Snapshot;
  assert.throws(() => store.publish(lying), (e: unknown) => e instanceof TurnoutError && /content hash/.test(e.message));
  const invalid = sealSnapshot({ ...good, virtualHosts: { 'foo.com': { routes: { 'Prefix:/': { match: { type: 'Prefix', path: '/' }, cluster: 'nope', timeoutMs: 1, origin: 'x' } } } } });
  assert.throws(() => store.publish(invalid), SnapshotValidationError);
  assert.equal(store.current, undefined);
});
