import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { Sweep } from './deadlines.ts';

test('a holder is ticked until removed, with the time of the tick', async () => {
  const sweep = new Sweep(5);
  const seen: number[] = [];
  const slot = sweep.add({ tick: (now) => seen.push(now) });
  await sleep(40);
  sweep.remove(slot);
  const n = seen.length;
  assert.ok(n >= 2, `ticked ${n} times in 40 ms at a 5 ms period`);
  assert.ok(seen.every((t, i) => i === 0 || t >= seen[i - 1]!), 'tick times never go back');
  await sleep(20);
  assert.equal(seen.length, n, 'not ticked after remove()');
  sweep.remove(slot);
  assert.equal(sweep.size, 0);
});

test('a deadline fires after its time, never before', async () => {
  const sweep = new Sweep(5);
  const start = performance.now();
  const at = start + 30;
  let firedAt = 0;
  const slot = sweep.add({
    tick(now) {
      if (now < at) return;
      firedAt = now;
      sweep.remove(slot);
    },
  });
  await sleep(80);
  assert.ok(firedAt >= at, `fired at +${(firedAt - start).toFixed(1)} ms for a 30 ms deadline`);
});

test('a holder that throws or removes itself does not stop the others', async () => {
  const sweep = new Sweep(5);
  let others = 0;
  let self = -1;
  self = sweep.add({ tick: () => sweep.remove(self) });
  sweep.add({ tick: () => { throw new Error('bug'); } });
  const last = sweep.add({ tick: () => { others++; } });
  await sleep(30);
  assert.ok(others >= 2, `the last holder ticked ${others} times`);
  assert.equal(sweep.size, 2);
  sweep.remove(last);
});

test('the interval stops once nothing is held, and starts again on add()', async () => {
  const sweep = new Sweep(5);
  assert.equal(sweep.running, false);
  const slot = sweep.add({ tick: () => {} });
  assert.equal(sweep.running, true, 'an interval while a holder is held');
  sweep.remove(slot);
  await sleep(30);
  assert.equal(sweep.running, false, 'no interval left after an empty tick');
  let ticks = 0;
  const again = sweep.add({ tick: () => { ticks++; } });
  await sleep(30);
  sweep.remove(again);
  assert.ok(ticks >= 1, 'ticked again after the restart');
});
