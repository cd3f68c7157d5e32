// rehashBuckets (version.ts): a recorded copy's written keys placed into their
// bucket's sorted list, and entries remembered as sorted plain data, must give
// the version the definition gives, however often a bucket is hashed again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deepFreeze, sealSnapshot, versionOf } from './version.ts';
import type { SnapshotContent } from './version.ts';
import { noteMapCopy, type Snapshot } from './snapshot.ts';
import { bucketOf, referenceVersion as reference } from './testing.ts';



/** `n` keys of bucket 7 made from `stem`: they land in one bucket, so its list is re-placed many times. */
function keysOfBucket(stem: string, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n && i < 100_000; i++) if (bucketOf(`${stem}${i}`) === 7) out.push(`${stem}${i}`);
  return out;
}

const cluster = (port: number) => ({ endpoints: { [`10.0.0.1:${port}`]: { address: '10.0.0.1', port } } });

test('written keys placed among a bucket\'s sorted keys (code-unit order: astral, accented, upper case), many per delta, chained', () => {
  const clusters: Record<string, unknown> = {};
  for (const k of [...keysOfBucket('ns/m', 12), ...keysOfBucket('x', 20)]) clusters[k] = cluster(1);
  let s = sealSnapshot({ listeners: {}, virtualHosts: {}, secrets: {}, clusters } as unknown as SnapshotContent);
  assert.equal(s.version, reference(s));
  // Keys whose order by code unit differs from a locale's: an astral character sorts before U+FFxx, 'Z' before 'a'.
  const added = [...keysOfBucket('\u{1F600}', 2), ...keysOfBucket('\uFF21', 2), ...keysOfBucket('é', 2), ...keysOfBucket('A', 2), ...keysOfBucket('ns/m', 16).slice(12), ...keysOfBucket('zz', 2)];
  const existing = Object.keys(clusters);
  for (let step = 0; step < 8; step++) {
    const next: Record<string, unknown> = { ...s.clusters };
    const written = new Set<string>();
    // Two keys added, one replaced, one removed (all in bucket 7) per step.
    for (const k of added.slice(step * 2, step * 2 + 2)) { next[k] = cluster(100 + step); written.add(k); }
    const replaced = existing[(step * 5) % existing.length]!;
    next[replaced] = cluster(200 + step);
    written.add(replaced);
    const removed = existing[(step * 3 + 1) % existing.length]!;
    if (removed !== replaced && Object.hasOwn(next, removed)) { delete next[removed]; written.add(removed); }
    const map = Object.freeze(next);
    noteMapCopy(map, s.clusters, written);
    const candidate = deepFreeze({ ...s, clusters: map, version: '' }) as Snapshot;
    const version = versionOf(candidate);
    assert.equal(version, reference(candidate), `step ${step}`);
    s = deepFreeze({ ...candidate, version });
  }
});

test('an entry hashed again is serialised as before: sorted ones as JSON, an unsorted one (keys out of order) canonically', () => {
  const keys = keysOfBucket('ns/c', 6);
  const clusters: Record<string, unknown> = {};
  for (const k of keys) clusters[k] = cluster(1);
  // Frozen, keys out of order at two levels: its canonical JSON is not JSON.stringify's.
  clusters[keys[0]!] = deepFreeze({ protocol: 'h2c', endpoints: { 'b:2': { port: 2, address: 'b' }, 'a:1': { address: 'a', port: 1 } } });
  let s = sealSnapshot({ listeners: {}, virtualHosts: {}, secrets: {}, clusters } as unknown as SnapshotContent);
  // The same bucket re-hashed five times, each time another key written: every entry serialised again.
  for (let i = 1; i <= 5; i++) {
    const k = keys[i]!;
    const map = Object.freeze({ ...s.clusters, [k]: cluster(10 + i) });
    noteMapCopy(map, s.clusters, new Set([k]));
    const candidate = deepFreeze({ ...s, clusters: map, version: '' }) as Snapshot;
    const version = versionOf(candidate);
    assert.equal(version, reference(candidate), `round ${i}`);
    s = deepFreeze({ ...candidate, version });
  }
});
