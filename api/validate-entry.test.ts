// The compiler's seal checks each cluster and virtual host as it freezes them
// (EntryChecks.visit); validation then skips those entries. These tests pin
// that the result is exactly validateSnapshot's, on valid and invalid input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SnapshotContent } from './version.ts';
import { sealSnapshot } from './version.ts';
import { EntryChecks, SnapshotValidationError, assertValidSnapshot, validateSnapshot } from './validate.ts';

function content(over: Partial<Record<keyof SnapshotContent, unknown>> = {}): SnapshotContent {
  return {
    listeners: { http: { protocol: 'http', address: '127.0.0.1', port: 8080 } },
    virtualHosts: {
      'a.com': { routes: { 'Prefix:/': { cluster: 'ns/a:80', match: { path: '/', type: 'Prefix' }, origin: 'o', timeoutMs: 1000 } } },
      'b.com': { routes: { 'Exact:/x': { cluster: 'ns/b:80', match: { path: '/x', type: 'Exact' }, origin: 'o', timeoutMs: 1000 } } },
    },
    clusters: {
      'ns/a:80': { endpoints: { '10.0.0.1:80': { address: '10.0.0.1', port: 80 } } },
      'ns/b:80': { endpoints: {} },
    },
    secrets: {},
    ...over,
  } as SnapshotContent;
}

/** Seals `c` with the compiler's checks; returns both. */
function sealChecked(c: SnapshotContent): { snapshot: ReturnType<typeof sealSnapshot>; checks: EntryChecks } {
  const checks = new EntryChecks(c.secrets as Record<string, unknown>, c.clusters as Record<string, unknown>);
  return { snapshot: sealSnapshot(c, checks), checks };
}

function problemsOf(f: () => void): string[] {
  try { f(); } catch (err) {
    assert.ok(err instanceof SnapshotValidationError);
    return err.problems.map((p) => `${p.path}: ${p.reason}`);
  }
  return [];
}

test('valid content: every entry seen in the seal, nothing found, and the snapshot passes', () => {
  const c = content();
  const { snapshot, checks } = sealChecked(c);
  assert.equal(checks.found, false);
  assert.equal(checks.covers(snapshot.secrets, snapshot.clusters, snapshot.virtualHosts), true);
  assert.deepEqual(validateSnapshot(snapshot, undefined, checks), []);
  assertValidSnapshot(snapshot, undefined, checks);
  assert.deepEqual(validateSnapshot(snapshot), []);
});

test('bad entries: the error lists exactly what validateSnapshot lists', () => {
  const c = content({
    clusters: {
      'ns/a:80': { endpoints: { '10.0.0.1:80': { address: 'fe80::1%eth0', port: 0 } }, protocol: 'h3' },
      'ns/b:80': 5,
    },
    virtualHosts: {
      'Bad.Host': { routes: {} },
      'a.com': { routes: { 'Prefix:/': { cluster: 'missing', match: { path: '/', type: 'Prefix' }, origin: 'o', timeoutMs: 0 } }, tls: { secret: 'nope' } },
    },
  });
  const { snapshot, checks } = sealChecked(c);
  assert.equal(checks.found, true);
  const full = validateSnapshot(snapshot).map((p) => `${p.path}: ${p.reason}`);
  assert.ok(full.length >= 8, full.join('\n'));
  assert.deepEqual(problemsOf(() => assertValidSnapshot(snapshot, undefined, checks)), full);
});

test('valid entries, a bad listener: the error is still validateSnapshot\'s whole list', () => {
  const c = content({ listeners: { https: { protocol: 'https', address: '127.0.0.1', port: 8443, defaultSecret: 'nope' } } });
  const { snapshot, checks } = sealChecked(c);
  assert.equal(checks.found, false);
  assert.deepEqual(problemsOf(() => assertValidSnapshot(snapshot, undefined, checks)), ['/listeners/https/defaultSecret: secret "nope" does not exist']);
});

test('checks that did not see every entry do not stand in for validation', () => {
  const c = content({ clusters: { 'ns/a:80': { endpoints: {} }, 'ns/b:80': { endpoints: { x: 5 } } } });
  const { snapshot } = sealChecked(c);
  // Checks that saw one cluster only (as after a seal that walked a copy's written keys).
  const partial = new EntryChecks(snapshot.secrets as Record<string, unknown>, snapshot.clusters as Record<string, unknown>);
  partial.visit('clusters', 'ns/a:80', snapshot.clusters['ns/a:80']);
  for (const h of Object.keys(snapshot.virtualHosts)) partial.visit('virtualHosts', h, snapshot.virtualHosts[h]);
  assert.equal(partial.covers(snapshot.secrets, snapshot.clusters, snapshot.virtualHosts), false);
  assert.deepEqual(validateSnapshot(snapshot, undefined, partial), validateSnapshot(snapshot));
  assert.deepEqual(problemsOf(() => assertValidSnapshot(snapshot, undefined, partial)), ['/clusters/ns~1b:80/endpoints/x: must be an object']);
});

test('checks made against other maps do not cover a snapshot', () => {
  const { snapshot } = sealChecked(content());
  const other = new EntryChecks({}, {});
  assert.equal(other.covers(snapshot.secrets, snapshot.clusters, snapshot.virtualHosts), false);
});
