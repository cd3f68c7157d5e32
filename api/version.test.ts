import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { canonicalJson, deepFreeze, isMemoised, sealSnapshot, versionOf } from './version.ts';
import type { SnapshotContent } from './version.ts';
import type { Snapshot, VirtualHost } from './snapshot.ts';

/** The definition of the version, written out without any memo: sorted-key JSON, SHA-256, 32 hex digits. */
function reference(value: unknown): string {
  const canon = (v: unknown): string => {
    if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
    if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canon(o[k])}`).join(',')}}`;
  };
  const { version: _v, ...rest } = value as Record<string, unknown>;
  return createHash('sha256').update(canon(rest)).digest('hex').slice(0, 32);
}

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
  assert.equal(versionOf(frozen), want, 'first call fills the memo');
  assert.ok(isMemoised(frozen.virtualHosts['h3.com']!) && isMemoised(frozen.clusters['ns/c3:80']!));
  assert.equal(versionOf(frozen), want, 'second call answers from the memo');
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

test('only frozen objects are remembered: an unfrozen entry is serialised afresh each time', () => {
  const c = content(2);
  versionOf(c);
  assert.ok(!isMemoised(c.virtualHosts['h0.com']!));
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
  assert.ok(isMemoised(a.virtualHosts['h1.com']!) && isMemoised(a.secrets['@default']!));
  // A second snapshot sharing all but one entry: the shared ones are hashed from their remembered text.
  const b = sealSnapshot({ ...a, virtualHosts: { ...a.virtualHosts, 'h2.com': sorted(3, '/b').virtualHosts['h2.com']! } });
  assert.equal(b.version, reference(b));
  assert.equal(versionOf(b), b.version);
  assert.equal(versionOf(a), a.version);
  // One entry under two keys: each key's text is its own.
  const c = sealSnapshot({ ...a, virtualHosts: { ...a.virtualHosts, 'z.com': a.virtualHosts['h0.com']! } });
  assert.equal(c.version, reference(c));
});
