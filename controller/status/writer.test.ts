import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Condition } from '../compile/types.ts';
import type { ObservedStatus } from '../sources/kube.ts';
import { createLogger } from '../../lib/log.ts';
import { StatusWriter, type StatusApi } from './writer.ts';
import { httpError } from '../sources/kube-testing.ts';

const quiet = createLogger({ level: 'error', write: () => {} });
const ok: Condition[] = [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'ok' }];
const bad: Condition[] = [{ type: 'Accepted', status: 'False', reason: 'NothingToServe', message: 'no rules' }];

/** Records writes and applies them to `objects` like the API server + informer would (new resourceVersion, echoed later). */
function world(opts: { fail?: unknown[]; delayMs?: number } = {}) {
  const objects = new Map<string, ObservedStatus>();
  const calls: string[] = [];
  let rv = 100;
  let inFlight = 0;
  let maxInFlight = 0;
  const api: StatusApi = {
    async patchStatus(kind, ns, name, patch: any) {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        await new Promise((r) => setTimeout(r, opts.delayMs ?? 0));
        const f = opts.fail?.shift();
        if (f !== undefined) throw f;
        calls.push(`patch ${kind}/${ns}/${name} ${JSON.stringify(patch)}`);
        return String(rv);
      } finally {
        inFlight--;
      }
    },
    async createEvent(ns, event: any) {
      calls.push(`event ${ns} ${event.involvedObject.kind}/${event.involvedObject.name} ${event.reason}`);
    },
  };
  const echo = (key: string, patch: any) => {
    const o = objects.get(key)!;
    objects.set(key, { ...o, resourceVersion: String(++rv), status: { ...o.status, ...patch.status } });
  };
  return { objects, calls, api, echo, maxInFlight: () => maxInFlight };
}

test('writes only while active, only what changed, and nothing again on an identical compile or before the echo', async () => {
  const w = world();
  w.objects.set('Route/ns/r', { uid: 'u1', resourceVersion: '1', generation: 2 });
  w.objects.set('Ingress/ns/i', { uid: 'u2', resourceVersion: '1', generation: 1, status: {} });
  const writer = new StatusWriter({ api: w.api, observed: (k) => w.objects.get(k), published: () => [{ ip: '10.0.0.1' }], now: () => new Date('2026-11-25T12:00:00Z'), log: quiet });
  const conds = new Map([['Route/ns/r', ok], ['Ingress/ns/i', ok], ['Service/ns/s', ok]]);
  writer.update(conds);
  await writer.idle();
  assert.deepEqual(w.calls, [], 'not the leader: no writes');
  writer.setActive(true);
  await writer.idle();
  assert.deepEqual(w.calls, [
    'patch Route/ns/r {"status":{"conditions":[{"type":"Accepted","status":"True","reason":"Accepted","message":"ok","observedGeneration":2,"lastTransitionTime":"2026-11-25T12:00:00Z"}]}}',
    'patch Ingress/ns/i {"status":{"loadBalancer":{"ingress":[{"ip":"10.0.0.1"}]}}}',
  ]);
  writer.update(new Map(conds)); // a compile before the watch echoed our writes
  await writer.idle();
  assert.equal(w.calls.length, 2);
  const first = (w.calls as string[])[0]!;
  w.echo('Route/ns/r', JSON.parse(first.slice(first.indexOf('{'))));
  writer.observedChanged('Route/ns/r');
  writer.update(new Map(conds)); // a resync after the echo
  await writer.idle();
  assert.equal(w.calls.length, 2);
  assert.equal(writer.stats.patches, 2);
});

test('someone else overwrites the status: it is written back', async () => {
  const w = world();
  w.objects.set('Route/ns/r', { resourceVersion: '1', generation: 1, status: { conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'ok', observedGeneration: 1, lastTransitionTime: 'T' }] } });
  const writer = new StatusWriter({ api: w.api, observed: (k) => w.objects.get(k), log: quiet });
  writer.setActive(true);
  writer.update(new Map([['Route/ns/r', ok]]));
  await writer.idle();
  assert.equal(w.calls.length, 0);
  w.objects.set('Route/ns/r', { resourceVersion: '2', generation: 1, status: { conditions: [] } });
  writer.observedChanged('Route/ns/r');
  await writer.idle();
  assert.equal(w.calls.length, 1);
});

test('Events for invalid Ingresses are sent once per generation', async () => {
  const w = world();
  w.objects.set('Ingress/ns/i', { uid: 'u', resourceVersion: '1', generation: 1 });
  const writer = new StatusWriter({ api: w.api, observed: (k) => w.objects.get(k), log: quiet });
  writer.setActive(true);
  writer.update(new Map([['Ingress/ns/i', bad]]));
  await writer.idle();
  writer.update(new Map([['Ingress/ns/i', bad]]));
  await writer.idle();
  assert.deepEqual(w.calls, ['event ns Ingress/i NothingToServe']);
  w.objects.set('Ingress/ns/i', { uid: 'u', resourceVersion: '2', generation: 2 });
  writer.update(new Map([['Ingress/ns/i', bad]]));
  await writer.idle();
  assert.equal(w.calls.length, 2);
});

test('conflicts and 5xx are retried; 403 and exhausted retries count as failures; 404 is quiet', async () => {
  const w = world({ fail: [httpError(409, 'Conflict'), httpError(503)] });
  w.objects.set('Route/ns/r', { resourceVersion: '1', generation: 1 });
  const writer = new StatusWriter({ api: w.api, observed: (k) => w.objects.get(k), retryDelayMs: 1, log: quiet });
  writer.setActive(true);
  writer.update(new Map([['Route/ns/r', ok]]));
  await writer.idle();
  assert.equal(w.calls.length, 1);
  assert.deepEqual(writer.stats, { patches: 1, events: 0, failures: 0, retries: 2 });

  const f = world({ fail: [httpError(403, 'Forbidden'), httpError(404, 'NotFound')] });
  f.objects.set('Route/ns/a', { resourceVersion: '1', generation: 1 });
  f.objects.set('Route/ns/b', { resourceVersion: '1', generation: 1 });
  const w2 = new StatusWriter({ api: f.api, observed: (k) => f.objects.get(k), retryDelayMs: 1, concurrency: 1, log: quiet });
  w2.setActive(true);
  w2.update(new Map([['Route/ns/a', ok], ['Route/ns/b', ok]]));
  await w2.idle();
  assert.deepEqual(w2.stats, { patches: 0, events: 0, failures: 1, retries: 0 });
});

test('bounded concurrency; losing leadership drops the queue at once', async () => {
  const w = world({ delayMs: 20 });
  const conds = new Map<string, Condition[]>();
  for (let i = 0; i < 40; i++) {
    w.objects.set(`Route/ns/r${i}`, { resourceVersion: '1', generation: 1 });
    conds.set(`Route/ns/r${i}`, ok);
  }
  const writer = new StatusWriter({ api: w.api, observed: (k) => w.objects.get(k), concurrency: 3, log: quiet });
  writer.update(conds);
  writer.setActive(true);
  await new Promise((r) => setTimeout(r, 50));
  writer.setActive(false);
  await writer.idle();
  const written = w.calls.length;
  assert.ok(written < 40, `stopped early (${written} of 40 written)`);
  assert.ok(w.maxInFlight() <= 3, `at most 3 in flight, saw ${w.maxInFlight()}`);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(w.calls.length, written, 'nothing written after losing the lease');
});

test('an object queued again while its write is in flight is not written twice', async () => {
  const w = world({ delayMs: 30 });
  w.objects.set('Ingress/ns/i', { uid: 'u', resourceVersion: '1', generation: 1, status: {} });
  const writer = new StatusWriter({ api: w.api, observed: (k) => w.objects.get(k), published: () => [{ ip: '10.0.0.1' }], log: quiet });
  writer.setActive(true);
  writer.update(new Map([['Ingress/ns/i', ok]]));
  await new Promise((r) => setTimeout(r, 5)); // the patch is in flight
  writer.update(new Map([['Ingress/ns/i', ok]]));
  writer.update(new Map([['Ingress/ns/i', ok]]));
  await writer.idle();
  assert.equal(w.calls.length, 1);
});

test('an Ingress that leaves our class gets our addresses withdrawn, never another controller\'s', async () => {
  const w = world();
  w.objects.set('Ingress/ns/mine', { resourceVersion: '1', generation: 1, status: { loadBalancer: { ingress: [{ ip: '10.0.0.1' }] } } });
  w.objects.set('Ingress/ns/theirs', { resourceVersion: '1', generation: 1, status: { loadBalancer: { ingress: [{ ip: '192.0.2.7' }] } } });
  const writer = new StatusWriter({ api: w.api, observed: (k) => w.objects.get(k), published: () => [{ ip: '10.0.0.1' }], log: quiet });
  writer.setActive(true);
  writer.update(new Map([['Ingress/ns/mine', ok], ['Ingress/ns/theirs', ok]]));
  await writer.idle();
  assert.deepEqual(w.calls, ['patch Ingress/ns/theirs {"status":{"loadBalancer":{"ingress":[{"ip":"10.0.0.1"}]}}}']);
  // Both move to another class; "theirs" is then rewritten by its new controller.
  w.objects.set('Ingress/ns/theirs', { resourceVersion: '3', generation: 2, status: { loadBalancer: { ingress: [{ ip: '192.0.2.7' }] } } });
  writer.update(new Map());
  await writer.idle();
  assert.deepEqual(w.calls.slice(1), ['patch Ingress/ns/mine {"status":{"loadBalancer":{"ingress":null}}}']);
  writer.update(new Map());
  await writer.idle();
  assert.equal(w.calls.length, 2);
});
