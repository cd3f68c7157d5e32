import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inRounds, pairedRatio, rotated } from './rounds.ts';

test('rotated: each index leads one round in turn, every index once per round', () => {
  assert.deepEqual(rotated(3, 0), [0, 1, 2]);
  assert.deepEqual(rotated(3, 1), [1, 2, 0]);
  assert.deepEqual(rotated(3, 2), [2, 0, 1]);
  assert.deepEqual(rotated(3, 4), [1, 2, 0]);
  assert.deepEqual(rotated(1, 5), [0]);
});

test('inRounds: one warm-up each first, then per round a short warm-up and a run for every target; runs kept per target in round order', async () => {
  const targets: Array<{ name: string; pid?: number }> = [{ name: 'a' }, { name: 'b' }, { name: 'c' }];
  const log: string[] = [];
  let n = 0;
  const out = await inRounds(targets, 2,
    async (t, first) => { log.push(`${first ? 'W' : 'w'}${t.name}`); },
    async (t) => { log.push(`r${t.name}`); return `${t.name}${n++}`; });
  assert.deepEqual(log, ['Wa', 'Wb', 'Wc', 'wa', 'ra', 'wb', 'rb', 'wc', 'rc', 'wb', 'rb', 'wc', 'rc', 'wa', 'ra']);
  assert.deepEqual(out.map((o) => o.runs), [['a0', 'a5'], ['b1', 'b3'], ['c2', 'c4']]);
  // Without a pid there is no process group to read.
  assert.ok(out.every((o) => Number.isNaN(o.cpuMs)));
});

test('pairedRatio: the median of the per-round ratios; undefined when the rounds do not line up', () => {
  const a = [{ rps: 10 }, { rps: 30 }, { rps: 20 }];
  const b = [{ rps: 20 }, { rps: 30 }, { rps: 80 }];
  assert.equal(pairedRatio(a, b), 0.5); // 0.5, 1, 0.25
  assert.equal(pairedRatio(a, b.slice(1)), undefined);
  assert.equal(pairedRatio([], []), undefined);
});
