import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SupervisedInformer, type InformerHandlers } from './kube-informer.ts';
import { createLogger } from '../../lib/log.ts';
import { FakeTransport, httpError, until } from './kube-testing.ts';
import type { KubeObject } from '../k8s/types.ts';

const PATH = '/api/v1/services';
const svc = (name: string, port = 80) => ({ metadata: { name, namespace: 'default', uid: `u-${name}` }, spec: { ports: [{ port }] } });

function recorder(): InformerHandlers & { live: Map<string, KubeObject>; resyncs: number } {
  const live = new Map<string, KubeObject>();
  const r = {
    live,
    resyncs: 0,
    upsert: (o: KubeObject) => void live.set(o.metadata.name, o),
    remove: (o: KubeObject) => void live.delete(o.metadata.name),
    resynced: (objs: readonly KubeObject[]) => {
      r.resyncs++;
      const names = new Set(objs.map((o) => o.metadata.name));
      for (const k of [...live.keys()]) if (!names.has(k)) live.delete(k);
    },
  };
  return r;
}

function informer(t: FakeTransport, h: InformerHandlers, extra: { watchdogMs?: number } = {}) {
  return new SupervisedInformer({ spec: { name: 'Service', path: PATH }, client: t.client, handlers: h, initialBackoffMs: 10, maxBackoffMs: 40, random: () => 0.5, log: createLogger({ level: 'error', write: () => {} }), ...extra });
}

test('synced only after a successful list; a failed list is retried with backoff and reported meanwhile', async () => {
  const t = new FakeTransport();
  t.set(PATH, [svc('a')]);
  t.listFailures.set(PATH, [httpError(403, 'Forbidden'), httpError(500)]);
  const h = recorder();
  const inf = informer(t, h);
  inf.start();
  await until(() => inf.lastError !== undefined, 'the first failure');
  assert.equal(inf.synced, false);
  assert.match(inf.lastError!, /403/);
  await inf.whenSynced();
  assert.equal(inf.synced, true);
  assert.equal(inf.lastError, undefined);
  assert.equal(t.lists.length, 3);
  assert.equal(inf.restarts, 2);
  assert.deepEqual([...h.live.keys()], ['a']);
  await inf.close();
});

test('watch events reach the handlers; a second start() opens no second watch', async () => {
  const t = new FakeTransport();
  t.set(PATH, []);
  const h = recorder();
  const inf = informer(t, h);
  inf.start();
  inf.start();
  await inf.whenSynced();
  await until(() => t.open(PATH).length === 1, 'the watch');
  const w = t.open(PATH)[0]!;
  w.send('ADDED', svc('b'));
  w.send('MODIFIED', svc('b', 81));
  assert.equal((h.live.get('b') as any).spec.ports[0].port, 81);
  w.send('DELETED', svc('b'));
  assert.equal(h.live.size, 0);
  assert.equal(t.lists.length, 1);
  assert.equal(t.watches.length, 1);
  await inf.close();
});

test('a watch error restarts with a fresh list that forgets objects deleted meanwhile; the old watch is dead', async () => {
  const t = new FakeTransport();
  t.set(PATH, [svc('a'), svc('b')]);
  const h = recorder();
  const inf = informer(t, h);
  inf.start();
  await inf.whenSynced();
  await until(() => t.open(PATH).length === 1, 'the watch');
  const first = t.open(PATH)[0]!;
  t.set(PATH, [svc('a')]); // b deleted while the connection is down
  first.end(Object.assign(new Error('fetch failed'), { cause: { code: 'ECONNRESET' } }));
  await until(() => t.lists.length === 2 && t.open(PATH).length === 1, 'the restart');
  assert.deepEqual([...h.live.keys()], ['a']);
  assert.equal(inf.restarts, 1);
  first.send('ADDED', svc('ghost')); // a late event of the replaced run
  assert.equal(h.live.has('ghost'), false);
  await inf.close();
});

test('410 Gone and a clean watch end are handled by the library without a restart', async () => {
  const t = new FakeTransport();
  t.set(PATH, [svc('a')]);
  const h = recorder();
  const inf = informer(t, h);
  inf.start();
  await inf.whenSynced();
  await until(() => t.open(PATH).length === 1, 'the watch');
  t.open(PATH)[0]!.end(); // server-side timeout: re-watch from the last resourceVersion
  await until(() => t.open(PATH).length === 1, 'the re-watch', 10_000);
  assert.equal(t.lists.length, 1);
  t.set(PATH, [svc('c')]);
  t.open(PATH)[0]!.end(Object.assign(new Error('Gone'), { statusCode: 410 }));
  await until(() => t.lists.length === 2 && h.live.has('c') && !h.live.has('a'), 'the relist after 410', 10_000);
  assert.equal(inf.restarts, 0);
  await inf.close();
});

test('the watchdog restarts an informer whose list never answers', async () => {
  const t = new FakeTransport();
  t.set(PATH, [svc('a')]);
  t.hangingLists.add(PATH);
  const h = recorder();
  const inf = informer(t, h, { watchdogMs: 100 });
  inf.start();
  await until(() => inf.restarts >= 1, 'the watchdog');
  assert.match(inf.lastError!, /watchdog/);
  t.hangingLists.delete(PATH);
  await inf.whenSynced();
  assert.deepEqual([...h.live.keys()], ['a']);
  await inf.close();
});

test('after close() nothing is applied and no restart is scheduled', async () => {
  const t = new FakeTransport();
  t.set(PATH, []);
  const h = recorder();
  const inf = informer(t, h);
  inf.start();
  await inf.whenSynced();
  await until(() => t.open(PATH).length === 1, 'the watch');
  const w = t.watches[0]!;
  await inf.close();
  w.send('ADDED', svc('late'));
  w.end(httpError(500));
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(h.live.size, 0);
  assert.equal(t.lists.length, 1);
  assert.equal(inf.state, 'closed');
});
