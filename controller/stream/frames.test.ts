// Shared message bytes: every session sending the same message sends the same
// Buffer (ws writes it by reference), and only a few are kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SnapshotStore } from '../snapshot/store.ts';
import { snapshotWith } from '../snapshot/testing.ts';
import { SharedFrames } from './frames.ts';

test('one Buffer per message, shared; the least recently used go first', () => {
  const store = new SnapshotStore();
  const snaps = Array.from({ length: 4 }, (_, i) => snapshotWith(2 + i));
  for (const s of snaps) store.publish(s);
  const frames = new SharedFrames(2);
  const [m0, m1, m2] = snaps.slice(0, 3).map((s) => store.full(s));
  const b0 = frames.get(store, m0!);
  assert.equal(b0.toString('utf8'), store.encode(m0!));
  assert.equal(frames.get(store, m0!), b0, 'the same bytes for the next session');
  frames.get(store, m1!);
  frames.get(store, m0!); // m0 is now the most recent
  frames.get(store, m2!); // evicts m1
  assert.equal(frames.get(store, m0!), b0);
  const again = frames.get(store, m1!);
  assert.equal(again.toString('utf8'), store.encode(m1!), 'an evicted message is encoded again, correctly');
});
