import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deepFreeze, entriesSerialised, isHashed, sealSnapshot, versionOf } from './version.ts';
import type { SnapshotContent } from './version.ts';
import { noteMapCopy, type Snapshot, type VirtualHost } from './snapshot.ts';
import { bucketOf, referenceVersion as reference } from './testing.ts';


function content(n: number, path = '/'): SnapshotContent {
  const virtualHosts: Record<string, unknown> = {};
  const clusters: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    virtualHosts[`h${i}.com`] = { routes: { [`Prefix:${path}`]: { match: { type: 'Prefix', path }, cluster: `ns/c${i}:80`, timeoutMs: 1000 + i, origin: 'Ingress/ns/x' } } };
    clusters[`ns/c${i}:80`] = { endpoints: { [`10.0.0.${i}:80`]: { address: `10.0.0.${i}`, port: 80 } } };
  }
  return {
    listeners: { http: { protocol: 'http', address: '127.0.0.1', port: 8080 } },
    virtualHosts, clusters, secrets: { '@default': { cert: 'C "quoted" \u2028', key: 'K' } },
    defaultRoute: { match: { type: 'Prefix', path: '/' }, timeoutMs: 5, origin: 'Ingress/ns/d' },
  } as SnapshotContent;
}

test('versionOf is the same hash frozen or not, memoised or not, in any key order', () => {
  const plain = content(20);
  const want = reference(plain);
  assert.equal(versionOf(plain), want);
  const frozen = deepFreeze(structuredClone(plain));
  assert.equal(versionOf(frozen), want, 'first call remembers the frozen maps');
  assert.ok(isHashed(frozen.virtualHosts) && isHashed(frozen.clusters));
  const before = entriesSerialised();
  assert.equal(versionOf(frozen), want, 'second call answers from memory');
  assert.equal(entriesSerialised(), before, 'without serialising an entry');
  const reordered = { secrets: frozen.secrets, defaultRoute: frozen.defaultRoute, clusters: frozen.clusters, virtualHosts: frozen.virtualHosts, listeners: frozen.listeners };
  assert.equal(versionOf(reordered), want);
  assert.equal(sealSnapshot(plain).version, want);
});

test('a snapshot sharing frozen entries with an older one hashes its own content', () => {
  const a = sealSnapshot(content(5));
  // What a delta produces: new containers on the changed path, every other entry shared.
  const changed: VirtualHost = { routes: { 'Exact:/z': { match: { type: 'Exact', path: '/z' }, timeoutMs: 1, origin: 'o' } } };
  const b: Snapshot = deepFreeze({ ...a, virtualHosts: { ...a.virtualHosts, 'h2.com': changed } });
  assert.equal(b.virtualHosts['h1.com'], a.virtualHosts['h1.com']);
  assert.equal(versionOf(b), reference(b));
  assert.notEqual(versionOf(b), a.version);
  assert.equal(versionOf(a), a.version, 'the older snapshot still hashes to its own version');
});

test('only frozen maps are remembered: an unfrozen one is serialised afresh each time', () => {
  const c = content(2);
  versionOf(c);
  assert.ok(!isHashed(c.virtualHosts));
  (c.virtualHosts['h0.com']!.routes['Prefix:/'] as { timeoutMs: number }).timeoutMs = 7;
  assert.equal(versionOf(c), reference(c));
});

test('remembered maps and entries never change the hash: shared maps, one entry under two keys, a replaced entry', () => {
  const a = sealSnapshot(content(8));
  assert.equal(versionOf(a), reference(a));
  // A delta that touched only hosts: the clusters map is the same frozen object (remembered whole).
  const hosts = { ...a.virtualHosts, 'new.com': a.virtualHosts['h1.com']! };
  const b = deepFreeze({ ...a, virtualHosts: hosts });
  assert.equal(b.clusters, a.clusters);
  assert.equal(versionOf(b), reference(b), 'one host object under two keys');
  assert.equal(versionOf(b), reference(b), 'and again, from the memo');
  // A cluster replaced: the clusters map is new, its other entries remembered.
  const c = deepFreeze({ ...b, clusters: { ...b.clusters, 'ns/c3:80': { endpoints: {} } } });
  assert.equal(versionOf(c), reference(c));
  assert.equal(versionOf(a), a.version, 'the first snapshot still hashes to its own version');
  // An unfrozen map is walked every time: changing it changes the hash.
  const d = { ...structuredClone(a) } as Snapshot;
  const before = versionOf(d);
  (d.clusters as Record<string, unknown>)['ns/c0:80'] = { endpoints: {} };
  assert.notEqual(versionOf(d), before);
  assert.equal(versionOf(d), reference(d));
});

test('sealSnapshot: entries built in sorted key order (hashed by JSON.stringify) give the reference hash, now and shared later', () => {
  const sorted = (n: number, path: string): SnapshotContent => {
    const virtualHosts: Record<string, unknown> = {};
    const clusters: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      virtualHosts[`h${i}.com`] = { routes: { [`Prefix:${path}`]: { cluster: `ns/c${i}:80`, match: { path, type: 'Prefix' }, origin: 'Ingress/ns/x', timeoutMs: 1000 + i } }, tls: { secret: '@default' } };
      clusters[`ns/c${i}:80`] = { endpoints: { [`10.0.0.${i}:80`]: { address: `10.0.0.${i}`, port: 80 } }, protocol: 'h2c' };
    }
    return { listeners: {}, virtualHosts, clusters, secrets: { '@default': { cert: 'C \u2028 "é"', key: 'K' } } } as SnapshotContent;
  };
  const a = sealSnapshot(sorted(6, '/'));
  assert.equal(a.version, reference(a));
  assert.ok(Object.isFrozen(a.virtualHosts) && Object.isFrozen(a.virtualHosts['h1.com']!.routes['Prefix:/']!.match));
  assert.ok(isHashed(a.virtualHosts) && isHashed(a.secrets));
  // A second snapshot sharing all but one entry (a new map, not a recorded copy: all of it is hashed).
  const b = sealSnapshot({ ...a, virtualHosts: { ...a.virtualHosts, 'h2.com': sorted(3, '/b').virtualHosts['h2.com']! } });
  assert.equal(b.version, reference(b));
  assert.equal(versionOf(b), b.version);
  assert.equal(versionOf(a), a.version);
  // One entry under two keys: each key's text is its own.
  const c = sealSnapshot({ ...a, virtualHosts: { ...a.virtualHosts, 'z.com': a.virtualHosts['h0.com']! } });
  assert.equal(c.version, reference(c));
});

test('a recorded copy (noteMapCopy) re-hashes only its written keys and still gives the reference hash: add, replace, remove, chained', () => {
  let s = sealSnapshot(content(300));
  assert.equal(s.version, reference(s));
  const step = (hosts: Record<string, unknown>, written: string[]) => {
    const map = Object.freeze(hosts);
    noteMapCopy(map, s.virtualHosts, new Set(written));
    const next = deepFreeze({ ...s, virtualHosts: map, version: '' }) as Snapshot;
    const before = entriesSerialised();
    const version = versionOf(next);
    // 300 hosts in 256 buckets: each written key's bucket holds a few, never all of them.
    assert.ok(entriesSerialised() - before <= 8 * written.length, `${entriesSerialised() - before} entries serialised for ${written.length} keys`);
    assert.equal(version, reference(next));
    s = deepFreeze({ ...next, version });
  };
  const changed = deepFreeze({ routes: { 'Exact:/z': { match: { type: 'Exact', path: '/z' }, timeoutMs: 1, origin: 'o' } } });
  step({ ...s.virtualHosts, 'h7.com': changed }, ['h7.com']);
  step({ ...s.virtualHosts, 'zz-new.com': changed }, ['zz-new.com']);
  const { ['h9.com']: _gone, ...rest } = s.virtualHosts;
  step(rest, ['h9.com']);
  // A written key whose value did not change, and one absent from both: harmless.
  step({ ...s.virtualHosts }, ['h1.com', 'never.com']);
  // The same content built from scratch has the same version.
  const { version: _v, ...rest2 } = s;
  assert.equal(sealSnapshot(structuredClone(rest2)).version, s.version);
});

test('keys that escape in JSON, non-ASCII keys, and a bucket larger than the hash buffer', () => {
  const c = content(3) as { virtualHosts: Record<string, unknown> };
  c.virtualHosts['"quoted"\u2028.é.com'] = c.virtualHosts['h0.com'];
  // Long keys of one bucket, more than 16 KiB of them, and one longer than the buffer on its own.
  let n = 0;
  for (let i = 0; n < 24; i++) {
    const key = `${'x'.repeat(1000)}${i}.com`;
    if (bucketOf(key) === 0) { c.virtualHosts[key] = c.virtualHosts['h1.com']; n++; }
  }
  c.virtualHosts[`${'é'.repeat(6000)}.com`] = c.virtualHosts['h2.com'];
  const s = sealSnapshot(c as unknown as SnapshotContent);
  assert.equal(s.version, reference(s));
  assert.equal(versionOf(structuredClone(s)), s.version);
});

test('keys an object would reorder (array indices) or mistake ("__proto__") are hashed as the definition says', () => {
  const c = JSON.parse(JSON.stringify(content(300))) as { virtualHosts: Record<string, unknown>; clusters: Record<string, unknown> };
  // An own property even for "__proto__" (an assignment would set the prototype).
  const put = (map: Record<string, unknown>, key: string, value: unknown) => Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
  // Two indices in one bucket whose numeric order is not their string order ("10…" < "9…").
  let big = 100;
  while (bucketOf(String(big)) !== bucketOf('9')) big++;
  // In both maps: content()'s hosts have unsorted keys (hashed entry by entry), its clusters sorted ones.
  for (const key of ['9', String(big), '007', '4294967296', '__proto__', 'constructor']) {
    put(c.virtualHosts, key, c.virtualHosts['h1.com']);
    put(c.clusters, key, c.clusters['ns/c1:80']);
  }
  const s = sealSnapshot(c as unknown as SnapshotContent);
  assert.equal(s.version, reference(s));
  assert.equal(versionOf(JSON.parse(JSON.stringify(s))), s.version);
  // Each of those keys is in the hash: without one the version differs.
  for (const key of ['9', '__proto__']) {
    const d = JSON.parse(JSON.stringify(c)) as typeof c;
    delete d.clusters[key];
    assert.notEqual(sealSnapshot(d as unknown as SnapshotContent).version, s.version, key);
  }
});

test('a map entry is hashed apart from its key: moving content between keys changes the version', () => {
  const a = sealSnapshot(content(4));
  const swapped = { ...a.virtualHosts, 'h1.com': a.virtualHosts['h2.com']!, 'h2.com': a.virtualHosts['h1.com']! };
  const b = sealSnapshot({ ...a, virtualHosts: swapped });
  assert.notEqual(b.version, a.version);
  assert.equal(b.version, reference(b));
  // Content moved from one section to another is another snapshot too.
  const c = sealSnapshot({ ...a, listeners: {}, secrets: { ...a.secrets, ...a.listeners } } as unknown as SnapshotContent);
  assert.equal(c.version, reference(c));
  assert.notEqual(c.version, a.version);
});
