import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Slots } from './inflight.ts';

test('Slots holds what was added until its slot is removed, and reuses emptied slots', () => {
  const s = new Slots<{ n: number }>();
  const a = { n: 1 };
  const b = { n: 2 };
  const c = { n: 3 };
  const sa = s.add(a);
  const sb = s.add(b);
  assert.equal(s.size, 2);
  assert.deepEqual([...s], [a, b]);
  s.remove(sa);
  assert.equal(s.size, 1);
  assert.deepEqual([...s], [b]);
  // The emptied slot is taken again before the array grows.
  assert.equal(s.add(c), sa);
  assert.deepEqual([...s], [c, b]);
  s.remove(sb);
  s.remove(sb); // a second remove of the same slot changes nothing
  assert.equal(s.size, 1);
  assert.deepEqual([...s], [c]);
});

test('Slots under churn: size and contents match a Set doing the same', () => {
  const s = new Slots<object>();
  const ref = new Map<object, number>();
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < 5_000; i++) {
    if (ref.size === 0 || rnd() < 0.55) {
      const o = {};
      ref.set(o, s.add(o));
    } else {
      const keys = [...ref.keys()];
      const o = keys[Math.floor(rnd() * keys.length)]!;
      s.remove(ref.get(o)!);
      ref.delete(o);
    }
    assert.equal(s.size, ref.size);
  }
  assert.deepEqual(new Set(s), new Set(ref.keys()));
});
