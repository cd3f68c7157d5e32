import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lowerBound } from './sorted.ts';

test('lowerBound finds the first element not less than the key, by code unit', () => {
  const list = ['a', 'b', 'b', 'd', 'z', '\u00e9'];
  const cases: Array<[string, number]> = [['', 0], ['a', 0], ['b', 1], ['c', 3], ['d', 3], ['e', 4], ['z', 4], ['za', 5], ['\u00e9', 5], ['\uffff', 6]];
  for (const [key, want] of cases) assert.equal(lowerBound(list, key), want, key);
  assert.equal(lowerBound([], 'x'), 0);
  // The same place a linear scan finds, over many keys.
  const keys = Array.from({ length: 200 }, (_, i) => `k${(i * 7919) % 1000}`).sort();
  for (const probe of ['k', 'k0', 'k5', 'k500', 'k999', 'l']) assert.equal(lowerBound(keys, probe), keys.findIndex((k) => k >= probe) === -1 ? keys.length : keys.findIndex((k) => k >= probe), probe);
});
