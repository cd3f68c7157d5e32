// HostIndex.patched: an index patched many times over (overlays, then folds
// into new base maps) answers exactly like one built from scratch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HostIndex } from './hosts.ts';

test('a chain of patched indexes answers as a fresh one, through overlays and folds', () => {
  let seed = 11;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  const name = (i: number) => (i % 5 === 0 ? `*.w${i}.example.com` : `h${i}.example.com`);
  const truth = new Map<string, number>();
  for (let i = 0; i < 300; i++) truth.set(name(i), i);
  const initial = new HostIndex(truth);
  let index = initial;
  // 1,200 patches of 1–3 hosts: well past one overlay's worth (512), so several folds.
  for (let round = 0; round < 1_200; round++) {
    const changes = new Map<string, number | undefined>();
    for (let k = 1 + rnd(3); k > 0; k--) {
      const host = name(rnd(400));
      const value = rnd(3) === 0 ? undefined : round * 10 + k;
      changes.set(host, value);
      if (value === undefined) truth.delete(host);
      else truth.set(host, value);
    }
    if (rnd(50) === 0) changes.set('*', 1); // ANY_HOST is never indexed
    index = index.patched(changes);
    if (round % 100 === 99 || round === 0) {
      const fresh = new HostIndex(truth);
      assert.equal(index.size, fresh.size, `size after ${round + 1} patches`);
      for (let i = 0; i < 400; i++) {
        for (const probe of [`h${i}.example.com`, `x.w${i}.example.com`, `w${i}.example.com`, `a.b.w${i}.example.com`]) {
          assert.equal(index.lookup(probe), fresh.lookup(probe), `${probe} after ${round + 1} patches`);
        }
      }
    }
  }
  // The first index is untouched by everything patched on top of it.
  assert.equal(initial.lookup('h1.example.com'), 1);
  assert.equal(initial.size, 300);
});
