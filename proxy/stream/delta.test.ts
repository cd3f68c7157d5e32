import { test } from 'node:test';
import assert from 'node:assert/strict';
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import type { DeltaMessage } from '../../api/stream.ts';
import { sealSnapshot } from '../../api/version.ts';
import type { SnapshotContent } from '../../api/version.ts';
import { applyDelta } from './delta.ts';
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
