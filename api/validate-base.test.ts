// validateSnapshot with a base: entries shared with a validated, frozen
// snapshot are skipped, and everything else is checked exactly as without one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Snapshot } from './snapshot.ts';
import { assertValidSnapshot, validateSnapshot } from './validate.ts';
import { deepFreeze, sealSnapshot } from './version.ts';
import type { SnapshotContent } from './version.ts';

const PEM = '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n';

function content(): SnapshotContent {
  return {
    listeners: { http: { protocol: 'http', address: '127.0.0.1', port: 8080 } },
    virtualHosts: {
      'a.com': { tls: { secret: 'default/a' }, routes: { 'Prefix:/': { match: { type: 'Prefix', path: '/' }, cluster: 'default/a:80', timeoutMs: 1000, origin: 'Ingress/default/a' } } },
      'b.com': { routes: { 'Prefix:/': { match: { type: 'Prefix', path: '/' }, cluster: 'default/b:80', timeoutMs: 1000, origin: 'Ingress/default/b' } } },
    },
    clusters: {
      'default/a:80': { endpoints: { '10.0.0.1:80': { address: '10.0.0.1', port: 80 } } },
      'default/b:80': { endpoints: { '10.0.0.2:80': { address: '10.0.0.2', port: 80 } } },
    },
    secrets: { 'default/a': { cert: PEM, key: KEY } },
  };
}

/** A validated, frozen base, as the proxy and the store hold one. */
function base(): Snapshot {
  const s = sealSnapshot(content());
  assertValidSnapshot(s);
  return s;
}

/** What a delta hands over: the base's maps copied, `edit` applied, unchanged entries shared. */
function derived(b: Snapshot, edit: (c: Record<string, Record<string, unknown>>) => void): Snapshot {
  const c = { ...b, listeners: { ...b.listeners }, virtualHosts: { ...b.virtualHosts }, clusters: { ...b.clusters }, secrets: { ...b.secrets } };
  edit(c as unknown as Record<string, Record<string, unknown>>);
  return deepFreeze(c) as Snapshot;
}

test('with a base, a valid change validates as without one', () => {
  const b = base();
  const next = derived(b, (c) => { c.virtualHosts!['c.com'] = { routes: { 'Exact:/x': { match: { type: 'Exact', path: '/x' }, cluster: 'default/b:80', timeoutMs: 5, origin: 'o' } } }; });
  assert.deepEqual(validateSnapshot(next, b), []);
  assert.deepEqual(validateSnapshot(next), []);
});

test('a changed entry is still checked: an invalid new host is refused with or without a base', () => {
  const b = base();
  const next = derived(b, (c) => { c.virtualHosts!['c.com'] = { routes: { 'Exact:/x': { match: { type: 'Exact', path: '/x' }, cluster: 'default/missing:80', timeoutMs: 5, origin: 'o' } } }; });
  const withBase = validateSnapshot(next, b);
  assert.deepEqual(withBase, validateSnapshot(next));
  assert.match(withBase[0]!.path, /^\/virtualHosts\/c\.com\/routes\//);
});

test('removing a cluster that an unchanged host uses is found: shared hosts are checked again', () => {
  const b = base();
  const next = derived(b, (c) => { delete c.clusters!['default/b:80']; });
  const problems = validateSnapshot(next, b);
  assert.deepEqual(problems, validateSnapshot(next));
  assert.ok(problems.some((p) => p.path.startsWith('/virtualHosts/b.com/')), JSON.stringify(problems));
});

test('removing a secret that an unchanged host terminates with is found', () => {
  const b = base();
  const next = derived(b, (c) => { delete c.secrets!['default/a']; });
  const problems = validateSnapshot(next, b);
  assert.ok(problems.some((p) => p.path === '/virtualHosts/a.com/tls/secret'), JSON.stringify(problems));
});

test('a base that never passed validation, or an unfrozen entry, is not trusted', () => {
  // Invalid content sealed without validation: as a base it must not excuse its own entries.
  const bad = content();
  (bad.clusters['default/b:80'] as { endpoints: Record<string, unknown> }).endpoints = { x: { address: 'nope', port: 0 } };
  const unchecked = sealSnapshot(bad);
  const next = derived(unchecked, () => {});
  assert.deepEqual(validateSnapshot(next, unchecked), validateSnapshot(next));
  assert.ok(validateSnapshot(next, unchecked).length > 0);

  // A replaced entry (a new object under the same key) is checked, however alike.
  const b = base();
  const loose = { ...b, clusters: { ...b.clusters } } as Snapshot;
  const hot = structuredClone(b.clusters['default/a:80']!) as { endpoints: Record<string, { address: string; port: number }> };
  (loose.clusters as Record<string, unknown>)['default/a:80'] = hot;
  hot.endpoints['10.0.0.1:80']!.port = 70_000;
  assert.ok(validateSnapshot(loose, b).some((p) => p.path.startsWith('/clusters/default~1a:80/')));
});

test('the base\'s own hosts map (an endpoint-only change) is skipped only while its references resolve', () => {
  const b = base();
  // Endpoints replaced: new clusters map, the very same hosts map.
  const moved = deepFreeze({ ...b, clusters: { ...b.clusters, 'default/b:80': { endpoints: {} } } }) as Snapshot;
  assert.equal(moved.virtualHosts, b.virtualHosts);
  assert.deepEqual(validateSnapshot(moved, b), []);
  // A cluster gone that a host of that shared map routes to.
  const { 'default/b:80': _gone, ...rest } = b.clusters;
  const gone = deepFreeze({ ...b, clusters: rest }) as Snapshot;
  const problems = validateSnapshot(gone, b);
  assert.deepEqual(problems, validateSnapshot(gone));
  assert.ok(problems.some((p) => p.path.startsWith('/virtualHosts/b.com/')), JSON.stringify(problems));
});
