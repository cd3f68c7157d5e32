// End to end on real sockets: store → StreamServer → StreamClient → applier
// (a stand-in that validates like the real one).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { EventEmitter } from 'node:events';
import type { Snapshot } from '../../api/snapshot.ts';
import { StreamClient } from '../../proxy/stream/client.ts';
import type { StreamClientEvents } from '../../proxy/stream/client.ts';
import { FakeApplier } from '../../proxy/stream/testing.ts';
import { silentLogger } from '../../lib/log.ts';
import { SnapshotStore } from '../snapshot/store.ts';
import { snapshotWith } from '../snapshot/testing.ts';
import { StreamServer } from './server.ts';
import type { StreamServerOptions } from './server.ts';

const TOKEN = 's3cret';
const cleanups: (() => Promise<unknown> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function serve(store: SnapshotStore, opts: Partial<StreamServerOptions> = {}) {
  const server = new StreamServer({ store, token: TOKEN, log: silentLogger, ...opts });
  cleanups.push(() => server.close());
  const port = await server.listen();
  return { server, port };
}

type Recorded = { [K in keyof StreamClientEvents]: { event: K; data: StreamClientEvents[K][0] } }[keyof StreamClientEvents];

function connect(port: number, opts: { token?: string; applier?: FakeApplier; heartbeatTimeoutMs?: number } = {}) {
  const applier = opts.applier ?? new FakeApplier();
  const client = new StreamClient({
    url: `ws://127.0.0.1:${port}`, token: opts.token ?? TOKEN, proxyId: 'proxy-1', applier,
    backoff: { initialMs: 20, maxMs: 100 }, ...(opts.heartbeatTimeoutMs ? { heartbeatTimeoutMs: opts.heartbeatTimeoutMs } : {}),
  });
  const events: Recorded[] = [];
  for (const event of ['connected', 'disconnected', 'applied', 'nacked'] as const) {
    client.on(event, ((data: unknown) => void events.push({ event, data } as Recorded)) as never);
  }
  cleanups.push(() => client.close());
  client.start();
  return { client, applier, events };
}

/** Resolves with the next `event` satisfying `match`; rejects after a generous bound. */
function next<K extends keyof StreamClientEvents>(
  client: EventEmitter<StreamClientEvents>, event: K, match: (data: StreamClientEvents[K][0]) => boolean = () => true,
): Promise<StreamClientEvents[K][0]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { client.off(event, on as never); reject(new Error(`no ${String(event)} within 5 s`)); }, 5000);
    const on = (data: StreamClientEvents[K][0]) => {
      if (!match(data)) return;
      clearTimeout(timer);
      client.off(event, on as never);
      resolve(data);
    };
    client.on(event, on as never);
  });
}

async function waitUntil(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met within bound');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const is = (s: Snapshot) => (d: { version: string }) => d.version === s.version;

test('full snapshot on connect, then a small delta per change', async () => {
  const store = new SnapshotStore();
  const a = snapshotWith(100);
  store.publish(a);
  const { server, port } = await serve(store);
  const { client, applier } = connect(port);
  const first = await next(client, 'applied');
  assert.deepEqual({ version: first.version, kind: first.kind }, { version: a.version, kind: 'snapshot' });
  await waitUntil(() => server.sessions()[0]?.ackedVersion === a.version);
  const info = server.sessions()[0]!;
  assert.equal(info.proxyId, 'proxy-1');
  assert.match(info.remoteAddress, /^127\.0\.0\.1:\d+$/);

  const b = snapshotWith(101);
  const applied = next(client, 'applied', is(b));
  store.publish(b);
  const second = await applied;
  assert.equal(second.kind, 'delta');
  assert.ok(second.bytes < 1000 && first.bytes > 10_000, `delta ${second.bytes} B vs full ${first.bytes} B`);
  assert.equal(applier.current?.version, b.version);
});

test('a NACKed version is not resent; the next one is a delta from the acknowledged version', async () => {
  const store = new SnapshotStore();
  const [a, b, c] = [snapshotWith(10), snapshotWith(11), snapshotWith(12)];
  store.publish(a);
  const { server, port } = await serve(store);
  const { client, applier, events } = connect(port);
  await next(client, 'applied', is(a));

  applier.refuse.add(b.version);
  const nacked = next(client, 'nacked');
  store.publish(b);
  assert.equal((await nacked).code, 'TLS_SECRET_INVALID');
  await waitUntil(() => server.sessions()[0]?.lastNack !== undefined);
  assert.deepEqual(
    { ...server.sessions()[0]!.lastNack, at: undefined },
    { version: b.version, code: 'TLS_SECRET_INVALID', reason: 'refused by the test', at: undefined },
  );
  assert.equal(server.sessions()[0]!.ackedVersion, a.version, 'the proxy still serves a');

  const applied = next(client, 'applied', is(c));
  store.publish(c);
  // Had the server resent b, it would have arrived (and been refused again) before c.
  assert.equal((await applied).kind, 'delta', 'a delta from a: no base mismatch');
  assert.deepEqual(events.filter((e) => e.event === 'nacked').length, 1);
  assert.equal(applier.calls, 3);
});

test('a version refused because a port is still taken is offered again after a backoff', async () => {
  const store = new SnapshotStore();
  const [a, b] = [snapshotWith(20), snapshotWith(21)];
  store.publish(a);
  const { port } = await serve(store);
  const { client, applier } = connect(port);
  await next(client, 'applied', is(a));
  applier.refuseBind.add(b.version);
  const nacked = next(client, 'nacked');
  store.publish(b);
  assert.equal((await nacked).code, 'LISTENER_BIND_FAILED');
  applier.refuseBind.delete(b.version); // the old process let go of the port
  const applied = await next(client, 'applied', is(b));
  assert.equal(applied.version, b.version, 'the same version, resent without any new publish');
});

test('a delta on a base the proxy no longer serves is NACKed and answered with the full snapshot', async () => {
  const store = new SnapshotStore();
  const [a, b, c] = [snapshotWith(1), snapshotWith(2), snapshotWith(3)];
  store.publish(a);
  const { port } = await serve(store);
  const { client, applier } = connect(port);
  await next(client, 'applied', is(a));
  applier.current = b; // the proxy changed behind the stream's back (say, a restart with a cached table)

  const nacked = next(client, 'nacked');
  const applied = next(client, 'applied', is(c));
  store.publish(c);
  const nack = await nacked;
  assert.equal(nack.code, 'DELTA_BASE_MISMATCH');
  assert.equal(nack.kind, 'delta');
  assert.equal((await applied).kind, 'snapshot');
});

test('a wrong token is refused with 401 and creates no session', async () => {
  const store = new SnapshotStore();
  store.publish(snapshotWith(1));
  const { server, port } = await serve(store);
  const { client, applier } = connect(port, { token: 'wrong' });
  const d = await next(client, 'disconnected');
  assert.match(String(d.error?.message), /401/);
  assert.ok(d.retryInMs !== undefined, 'it keeps retrying (the token may be rotated)');
  assert.deepEqual(server.sessions(), []);
  assert.equal(applier.calls, 0);
});

test('after a controller restart the proxy resumes with a delta, or with nothing when current', async () => {
  const store = new SnapshotStore();
  const [a, b] = [snapshotWith(20), snapshotWith(21)];
  store.publish(a);
  const first = await serve(store);
  const { client, applier } = connect(first.port);
  await next(client, 'applied', is(a));

  // Down: the proxy keeps its table; a new version is published meanwhile.
  const down = next(client, 'disconnected');
  await first.server.close();
  assert.equal((await down).code, 1001);
  assert.equal(applier.current?.version, a.version);
  store.publish(b);
  const resumed = next(client, 'applied', is(b));
  const second = await serve(store, { port: first.port });
  assert.equal((await resumed).kind, 'delta', 'hello carried a, so a delta is enough');

  // Restart again with no change: the hello carries b and nothing needs sending.
  const down2 = next(client, 'disconnected');
  await second.server.close();
  await down2;
  const reconnected = next(client, 'connected');
  const third = await serve(store, { port: first.port });
  await reconnected;
  await waitUntil(() => third.server.sessions()[0]?.proxyId === 'proxy-1');
  assert.equal(third.server.sessions()[0]!.ackedVersion, b.version);
  assert.equal(third.server.sessions()[0]!.messagesSent, 0);
  assert.equal(applier.calls, 2);
});

test('a slow proxy is coalesced onto the newest version', async () => {
  const store = new SnapshotStore();
  const versions = Array.from({ length: 11 }, (_, i) => snapshotWith(30 + i));
  store.publish(versions[0]!);
  const { port } = await serve(store);
  const { client, applier, events } = connect(port);
  await next(client, 'applied', is(versions[0]!));

  const release = applier.block();
  const started = applier.nextCall();
  store.publish(versions[1]!);
  await started; // v1 is being applied, slowly
  for (const v of versions.slice(2)) store.publish(v);
  const newest = versions[10]!;
  const done = next(client, 'applied', is(newest));
  release();
  await done;
  const received = events.filter((e) => e.event === 'applied' || e.event === 'nacked').length - 1;
  assert.ok(received <= 3, `the proxy got ${received} messages for 10 versions`);
  assert.deepEqual(applier.applied, [versions[0]!.version, versions[1]!.version, newest.version]);
});

test('the client drops a silent connection and reconnects', async () => {
  const store = new SnapshotStore();
  store.publish(snapshotWith(1));
  const { port } = await serve(store, { heartbeatIntervalMs: 60_000 });
  const { client } = connect(port, { heartbeatTimeoutMs: 100 });
  await next(client, 'applied');
  const d = await next(client, 'disconnected');
  assert.equal(d.code, 1006);
  await next(client, 'connected');
});

test('close() stops reconnecting', async () => {
  const store = new SnapshotStore();
  const { server, port } = await serve(store);
  const { client, events } = connect(port);
  await next(client, 'connected');
  await client.close();
  await server.close();
  const before = events.length;
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(events.length, before);
  assert.equal(client.connected, false);
});
