import { test } from 'node:test';
import assert from 'node:assert/strict';
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import type { DeltaMessage } from '../../api/stream.ts';
import { sealSnapshot } from '../../api/version.ts';
import type { SnapshotContent } from '../../api/version.ts';
import { applyDelta } from './delta.ts';
import { changedKeys, mapKeys } from '../../api/snapshot.ts';
import { DELTA_APPLY_FAILED, DELTA_BASE_MISMATCH } from '../../api/stream.ts';

const KEY = '-----BEGIN PRIVATE KEY-----\nTOP-SECRET-KEY-MATERIAL\n-----END PRIVATE KEY-----\n';
const PEM = '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n';

function content(paths: string[]): SnapshotContent {
  const routes: Record<string, unknown> = {};
  for (const p of paths) routes[`Prefix:${p}`] = { match: { type: 'Prefix', path: p }, cluster: 'default/web:80', timeoutMs: 1000, origin: 'Ingress/default/a' };
  return {
    listeners: { http: { protocol: 'http', address: '127.0.0.1', port: 8080 } },
    virtualHosts: { 'foo.com': { routes } } as SnapshotContent['virtualHosts'],
    clusters: { 'default/web:80': { endpoints: {} } },
    secrets: { '@default': { cert: PEM, key: KEY } },
  };
}

const a = sealSnapshot(content(['/a']));
const b = sealSnapshot(content(['/a', '/b']));
const delta = (patch: unknown[], base = a.version, version = b.version): DeltaMessage => ({ type: 'delta', base, version, patch: patch as Operation[] });

test('a delta yields the target on a copy; the served snapshot is untouched', () => {
  const patch = jsonpatch.compare(a, b);
  const before = JSON.stringify(a);
  const r = applyDelta(a, delta(JSON.parse(JSON.stringify(patch))));
  assert.ok(r.ok);
  assert.deepEqual(r.candidate, JSON.parse(JSON.stringify(b)));
  assert.equal(JSON.stringify(a), before);
  assert.notEqual(r.candidate, a);
});

test('a delta from another base is a base mismatch', () => {
  const r = applyDelta(b, delta([]));
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.code, DELTA_BASE_MISMATCH);
  assert.equal(applyDelta(undefined, delta([])).ok, false);
});

test('a patch that does not apply fails without leaking the document', () => {
  const r = applyDelta(a, delta([{ op: 'replace', path: '/virtualHosts/bar.com/routes', value: {} }]));
  assert.ok(!r.ok);
  assert.equal(r.code, DELTA_APPLY_FAILED);
  assert.match(r.reason, /OPERATION_PATH_UNRESOLVABLE/);
  assert.ok(!r.reason.includes('TOP-SECRET'), r.reason);
  const bad = applyDelta(a, delta([{ op: 'frobnicate', path: '/x' }]));
  assert.ok(!bad.ok && bad.code === DELTA_APPLY_FAILED);
  const proto = applyDelta(a, delta([{ op: 'add', path: '/__proto__/polluted', value: 1 }]));
  assert.ok(!proto.ok && proto.code === DELTA_APPLY_FAILED);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('a patch that does not produce the announced version fails', () => {
  const r = applyDelta(a, delta([{ op: 'add', path: '/virtualHosts/foo.com/routes/Prefix:~1c', value: {} }]));
  assert.ok(!r.ok && r.code === DELTA_APPLY_FAILED && /expected/.test(r.reason));
});

// Copy-on-write: the candidate shares what the patch does not touch.

/** A snapshot with hosts h0..h(n-1), one route each, and one cluster per host. */
function wide(n: number, changed?: number): ReturnType<typeof sealSnapshot> {
  const virtualHosts: Record<string, unknown> = {};
  const clusters: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const path = i === changed ? '/v2' : '/';
    virtualHosts[`h${i}.com`] = { routes: { [`Prefix:${path}`]: { match: { type: 'Prefix', path }, cluster: `ns/c${i}:80`, timeoutMs: 1000, origin: `Ingress/ns/i${i}` } } };
    clusters[`ns/c${i}:80`] = { endpoints: { [`10.0.0.${i}:80`]: { address: `10.0.0.${i}`, port: 80 } } };
  }
  return sealSnapshot({ ...content([]), virtualHosts, clusters } as SnapshotContent);
}

test('a delta copies only the containers on its paths; everything else stays === and the served snapshot stays frozen', () => {
  const from = wide(50);
  const to = wide(50, 7);
  const patch = JSON.parse(JSON.stringify(jsonpatch.compare(from, to))) as Operation[];
  const before = JSON.stringify(from);
  const r = applyDelta(from, delta(patch, from.version, to.version));
  assert.ok(r.ok);
  const c = r.candidate as typeof from;
  assert.deepEqual(c, JSON.parse(JSON.stringify(to)));
  assert.equal(JSON.stringify(from), before, 'the served snapshot is unchanged');
  assert.ok(Object.isFrozen(from.virtualHosts['h7.com']?.routes), 'and still frozen');
  // The path /virtualHosts/h7.com/routes/... was copied, nothing else.
  assert.notEqual(c, from);
  assert.notEqual(c.virtualHosts, from.virtualHosts);
  assert.notEqual(c.virtualHosts['h7.com'], from.virtualHosts['h7.com']);
  assert.equal(c.clusters, from.clusters);
  assert.equal(c.secrets, from.secrets);
  assert.equal(c.listeners, from.listeners);
  for (let i = 0; i < 50; i++) {
    if (i !== 7) assert.equal(c.virtualHosts[`h${i}.com`], from.virtualHosts[`h${i}.com`], `h${i}.com shared`);
  }
  const unchangedRoute = Object.values(from.virtualHosts['h7.com']?.routes ?? {})[0];
  assert.ok(unchangedRoute && !Object.values(c.virtualHosts['h7.com']?.routes ?? {}).includes(unchangedRoute));
});

test('operations that move a served sub-object and then write into it never write into the served one', () => {
  const from = wide(3);
  const patch = [
    { op: 'move', from: '/virtualHosts/h1.com', path: '/virtualHosts/moved.com' },
    { op: 'add', path: '/virtualHosts/moved.com/routes/Exact:~1x', value: { match: { type: 'Exact', path: '/x' }, timeoutMs: 1, origin: 'o' } },
    { op: 'copy', from: '/clusters/ns~1c0:80', path: '/clusters/ns~1copy:80' },
    { op: 'remove', path: '/clusters/ns~1copy:80/endpoints/10.0.0.0:80' },
    { op: 'replace', path: '/version', value: 'ffffffff' },
  ];
  const before = JSON.stringify(from);
  const r = applyDelta(from, delta(patch, from.version, 'ffffffff'));
  assert.ok(r.ok, !r.ok ? r.reason : '');
  const c = r.candidate as typeof from;
  assert.equal(JSON.stringify(from), before);
  assert.ok(c.virtualHosts['moved.com']?.routes['Exact:/x']);
  assert.equal(Object.keys(c.virtualHosts['moved.com']?.routes ?? {}).length, 2);
  assert.equal(c.virtualHosts['h1.com'], undefined);
  assert.deepEqual(c.clusters['ns/copy:80']?.endpoints, {});
  assert.equal(Object.keys(c.clusters['ns/c0:80']?.endpoints ?? {}).length, 1);
  assert.equal(c.virtualHosts['h0.com'], from.virtualHosts['h0.com']);
});

test('a patch that fails half-way leaves the served snapshot as it was', () => {
  const from = wide(3);
  const before = JSON.stringify(from);
  const r = applyDelta(from, delta([
    { op: 'remove', path: '/virtualHosts/h0.com/routes/Prefix:~1' },
    { op: 'test', path: '/virtualHosts/h1.com/routes/Prefix:~1/timeoutMs', value: 5 },
  ], from.version));
  assert.ok(!r.ok && r.code === DELTA_APPLY_FAILED && /TEST_OPERATION_FAILED at operation 1/.test(r.reason), JSON.stringify(r));
  assert.equal(JSON.stringify(from), before);
});

test('prototype paths are refused anywhere in the path, and nothing is polluted or relinked', () => {
  const from = wide(2);
  for (const path of ['/virtualHosts/__proto__/x', '/virtualHosts/h0.com/__proto__/polluted', '/clusters/constructor/prototype/polluted', '/virtualHosts/h0.com/toString/x']) {
    const r = applyDelta(from, delta([{ op: 'add', path, value: 1 }], from.version));
    assert.ok(!r.ok && r.code === DELTA_APPLY_FAILED, path);
  }
  const notArray = applyDelta(from, { type: 'delta', base: from.version, version: 'x', patch: {} as unknown as Operation[] });
  assert.ok(!notArray.ok && /SEQUENCE_NOT_AN_ARRAY/.test(notArray.reason));
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(Object.getPrototypeOf(from.virtualHosts), Object.prototype);
});

test('copy-on-write gives what applyPatch on a deep copy gives, op by op', () => {
  // Random edits between random snapshots; compare() yields add/remove/replace at every depth.
  let seed = 7;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  for (let round = 0; round < 40; round++) {
    const a = wide(6);
    const b = JSON.parse(JSON.stringify(a)) as Record<string, Record<string, Record<string, unknown>>>;
    for (let k = 0; k < 4; k++) {
      const host = `h${rnd(8)}.com`;
      if (rnd(3) === 0) delete b.virtualHosts![host];
      else b.virtualHosts![host] = { routes: { [`Exact:/${rnd(5)}`]: { match: { type: 'Exact', path: `/${rnd(5)}` }, timeoutMs: 1 + rnd(9), origin: 'o' } } };
      if (rnd(2) === 0) b.clusters![`ns/c${rnd(8)}:80`] = { endpoints: {} };
    }
    const patch = jsonpatch.compare(a, b);
    const want = jsonpatch.applyPatch(structuredClone(a), JSON.parse(JSON.stringify(patch)), true, true, true).newDocument;
    const r = applyDelta(a, delta(JSON.parse(JSON.stringify(patch)), a.version, a.version));
    assert.ok(r.ok, !r.ok ? r.reason : '');
    assert.deepEqual(r.candidate, want);
    assertDeepFrozen(r.candidate);
    assertChangedKeysCover(r.candidate as unknown as Record<string, unknown>, a as unknown as Record<string, unknown>);
  }
});

/**
 * Wherever the candidate's map is recorded as a copy of the served one, every
 * key outside changedKeys() holds the very same value (or is absent from both):
 * what validation and the routing table skip on the strength of it.
 */
function assertChangedKeysCover(next: Record<string, unknown>, prev: Record<string, unknown>): number {
  let checked = 0;
  for (const field of ['virtualHosts', 'clusters', 'secrets', 'listeners']) {
    const n = next[field] as Record<string, unknown>;
    const p = prev[field] as Record<string, unknown>;
    const keys = changedKeys(n, p);
    if (keys === undefined) continue;
    checked++;
    // The key list recorded for the copy (the next delta copies from it) is exactly its keys.
    assert.deepEqual([...mapKeys(n)].sort(), Object.keys(n).sort(), `${field}: recorded keys`);
    for (const k of new Set([...Object.keys(n), ...Object.keys(p)])) {
      if (keys.has(k)) continue;
      assert.equal(Object.hasOwn(n, k), Object.hasOwn(p, k), `${field}/${k} present in both or neither`);
      assert.equal(n[k], p[k], `${field}/${k} unchanged`);
    }
  }
  return checked;
}

test('changedKeys names every key a delta wrote into a copied map, and only a few', () => {
  const from = wide(20);
  const to = wide(20, 7);
  const patch = [
    ...JSON.parse(JSON.stringify(jsonpatch.compare(from, to))) as Operation[],
    { op: 'remove', path: '/virtualHosts/h3.com' },
    { op: 'move', from: '/virtualHosts/h4.com', path: '/virtualHosts/h44.com' },
    { op: 'add', path: '/clusters/ns~1new:80', value: { endpoints: {} } },
  ];
  const r = applyDelta(from, delta(patch, from.version, to.version));
  assert.ok(r.ok, !r.ok ? r.reason : '');
  const c = r.candidate as typeof from;
  assert.equal(assertChangedKeysCover(c as unknown as Record<string, unknown>, from as unknown as Record<string, unknown>), 2);
  assert.deepEqual([...changedKeys(c.virtualHosts, from.virtualHosts)!].sort(), ['h3.com', 'h4.com', 'h44.com', 'h7.com']);
  assert.deepEqual([...changedKeys(c.clusters, from.clusters)!], ['ns/new:80']);
  // A second delta copies from the first one's recorded key list: still exactly the keys.
  const patch2: Operation[] = [
    { op: 'remove', path: '/virtualHosts/h5.com' },
    { op: 'add', path: '/virtualHosts/h3.com', value: c.virtualHosts['h6.com'] },
    { op: 'replace', path: '/version', value: 'f'.repeat(32) },
  ];
  const r2 = applyDelta(c, delta(patch2, c.version, 'f'.repeat(32)));
  assert.ok(r2.ok, !r2.ok ? r2.reason : '');
  const c2 = r2.candidate as typeof from;
  assert.equal(assertChangedKeysCover(c2 as unknown as Record<string, unknown>, c as unknown as Record<string, unknown>), 1);
  assert.ok(Object.hasOwn(c2.virtualHosts, 'h3.com') && !Object.hasOwn(c2.virtualHosts, 'h5.com'));
  // Not a copy of that map: no answer, so callers compare every key.
  assert.equal(changedKeys(c.virtualHosts, c.clusters), undefined);
  assert.equal(changedKeys(from.virtualHosts, from.virtualHosts), undefined);
});

/** Every object reachable from `value` is frozen (what the applier, version.ts and validate.ts rely on). */
function assertDeepFrozen(value: unknown, path = ''): void {
  if (typeof value !== 'object' || value === null) return;
  assert.ok(Object.isFrozen(value), `${path || '/'} is frozen`);
  for (const [k, v] of Object.entries(value)) assertDeepFrozen(v, `${path}/${k}`);
}

test('the candidate comes out deep-frozen, whatever the operations inserted, moved or copied', () => {
  const from = wide(3);
  const patch = [
    { op: 'add', path: '/virtualHosts/new.com', value: { routes: { 'Exact:/n': { match: { type: 'Exact', path: '/n' }, timeoutMs: 1, origin: 'o' } } } },
    // Written below a value an earlier operation inserted: that value is copied, not written into.
    { op: 'add', path: '/virtualHosts/new.com/routes/Exact:~1m', value: { match: { type: 'Exact', path: '/m' }, timeoutMs: 2, origin: 'o' } },
    { op: 'move', from: '/virtualHosts/h1.com', path: '/virtualHosts/moved.com' },
    { op: 'replace', path: '/clusters/ns~1c2:80', value: { endpoints: { '10.9.9.9:80': { address: '10.9.9.9', port: 80 } } } },
    { op: 'copy', from: '/clusters/ns~1c0:80', path: '/clusters/ns~1copy:80' },
  ];
  const r = applyDelta(from, delta(patch, from.version, from.version));
  assert.ok(r.ok, !r.ok ? r.reason : '');
  const c = r.candidate as typeof from;
  assert.equal(Object.keys(c.virtualHosts['new.com']?.routes ?? {}).length, 2, 'both routes landed');
  assert.deepEqual(c.clusters['ns/copy:80'], from.clusters['ns/c0:80']);
  assertDeepFrozen(c);
  // Without a copy operation too (no whole-document walk at the end).
  const r2 = applyDelta(from, delta(patch.slice(0, 4), from.version, from.version));
  assert.ok(r2.ok);
  assertDeepFrozen(r2.candidate);
});
