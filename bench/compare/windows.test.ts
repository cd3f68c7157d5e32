import assert from 'node:assert/strict';
import { test } from 'node:test';
import { percentile, splitByWindows, stats, windowMs, type Sample } from './windows.ts';

test('nearest-rank percentiles', () => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(xs, 50), 50);
  assert.equal(percentile(xs, 99), 99);
  assert.equal(percentile(xs, 100), 100);
  assert.equal(percentile([7], 99), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
});

test('stats count failures apart and take percentiles over successes only', () => {
  const s: Sample[] = [{ at: 0, ms: 1, ok: true }, { at: 1, ms: 3, ok: true }, { at: 2, ms: 5000, ok: false }];
  assert.deepEqual(stats(s), { n: 3, failed: 1, p50: 1, p99: 3, max: 3 });
  assert.ok(Number.isNaN(stats([]).p99));
});

test('the window is 200 ms, at most half the period', () => {
  assert.equal(windowMs(1), 200);
  assert.equal(windowMs(10), 50);
  assert.equal(windowMs(100), 5);
  assert.equal(windowMs(0), 0);
});

test('samples are inside when sent within the window after some trigger', () => {
  const samples: Sample[] = [5, 50, 99, 100, 150, 299, 300, 400, 1000].map((at) => ({ at, ms: at / 100, ok: true }));
  const { inside, outside } = splitByWindows(samples, [300, 100], 50);
  assert.deepEqual(inside.map((s) => s.at), [100, 300]);
  assert.deepEqual(outside.map((s) => s.at), [5, 50, 99, 150, 299, 400, 1000]);
  const none = splitByWindows(samples, [], 50);
  assert.equal(none.inside.length, 0);
  assert.equal(none.outside.length, samples.length);
});
