// The server side of the protocol, driven by a raw websocket so every message
// (and every protocol violation) is under the test's control.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request } from 'node:http';
import { WebSocket } from 'ws';
import { STREAM_PATH, STREAM_PROTOCOL } from '../../api/stream.ts';
import type { ControllerMessage, DeltaMessage } from '../../api/stream.ts';
import { silentLogger } from '../../lib/log.ts';
import { SnapshotStore } from '../snapshot/store.ts';
import { snapshotWith } from '../snapshot/testing.ts';
import { StreamServer } from './server.ts';

const TOKEN = 'test-token';
const cleanups: (() => Promise<unknown> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function serve(opts: Partial<ConstructorParameters<typeof StreamServer>[0]> = {}) {
  const store = opts.store ?? new SnapshotStore();
  const server = new StreamServer({ store, token: TOKEN, log: silentLogger, ...opts });
  cleanups.push(() => server.close());
  const port = await server.listen();
  return { store, server, port };
}

/** A raw protocol client that collects what the controller sends. */
async function raw(port: number, headers: Record<string, string> = { Authorization: `Bearer ${TOKEN}` }, opts: { autoPong?: boolean } = {}) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${STREAM_PATH}`, STREAM_PROTOCOL, { headers, ...opts });
  cleanups.push(() => ws.terminate());
  const inbox: ControllerMessage[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (data) => {
    inbox.push(JSON.parse(String(data)));
    waiters.splice(0).forEach((w) => w());
  });
  await once(ws, 'open');
  const next = async (): Promise<ControllerMessage> => {
    const deadline = Date.now() + 5000;
    while (inbox.length === 0) {
      if (Date.now() > deadline) throw new Error('no message within 5 s');
      await new Promise<void>((resolve) => { waiters.push(resolve); setTimeout(resolve, 100); });
    }
    return inbox.shift()!;
  };
  const send = (msg: unknown) => ws.send(JSON.stringify(msg));
  const closed = once(ws, 'close').then(([code, reason]) => ({ code: code as number, reason: String(reason) }));
  return { ws, next, send, closed, inbox };
}

/** The status code of an upgrade attempt that the server refuses. */
function upgradeStatus(port: number, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers } });
    req.on('response', (res) => { res.resume(); resolve(res.statusCode ?? 0); });
    req.on('upgrade', (_res, socket) => { socket.destroy(); reject(new Error('upgraded')); });
    req.on('error', reject);
    req.end();
  });
}

test('refused upgrades: wrong token 401, wrong path 404, no subprotocol 400; no session is created', async () => {
  const { server, port } = await serve();
  const proto = { 'Sec-WebSocket-Protocol': STREAM_PROTOCOL };
  assert.equal(await upgradeStatus(port, STREAM_PATH, { ...proto, Authorization: 'Bearer wrong' }), 401);
  assert.equal(await upgradeStatus(port, STREAM_PATH, { ...proto, Authorization: `Bearer ${TOKEN}x` }), 401);
  assert.equal(await upgradeStatus(port, STREAM_PATH, proto), 401);
  assert.equal(await upgradeStatus(port, '/other', { ...proto, Authorization: `Bearer ${TOKEN}` }), 404);
  assert.equal(await upgradeStatus(port, STREAM_PATH, { Authorization: `Bearer ${TOKEN}` }), 400);
  assert.deepEqual(server.sessions(), []);
});

test('hello with an unknown version gets the full snapshot; with the current version, nothing', async () => {
  const a = snapshotWith(3);
  const { store, server, port } = await serve();
  store.publish(a);
  const p1 = await raw(port);
  p1.send({ type: 'hello', protocol: STREAM_PROTOCOL, proxyId: 'p1', version: 'abcdef0123456789' });
  assert.deepEqual(await p1.next(), { type: 'snapshot', snapshot: JSON.parse(JSON.stringify(a)) });

  const p2 = await raw(port);
  p2.send({ type: 'hello', protocol: STREAM_PROTOCOL, proxyId: 'p2', version: a.version });
  await waitUntil(() => server.sessions().some((s) => s.proxyId === 'p2'));
  const info = server.sessions().find((s) => s.proxyId === 'p2')!;
  assert.equal(info.ackedVersion, a.version);
  assert.equal(info.messagesSent, 0);
});

test('a NACK for a delta that did not apply is answered with the full snapshot', async () => {
  const [a, b] = [snapshotWith(3), snapshotWith(4)];
  const { store, port } = await serve();
  store.publish(a);
  store.publish(b);
  const p = await raw(port);
  p.send({ type: 'hello', protocol: STREAM_PROTOCOL, proxyId: 'p', version: a.version });
  const delta = (await p.next()) as DeltaMessage;
  assert.equal(delta.type, 'delta');
  assert.equal(delta.base, a.version);
  p.send({ type: 'nack', version: b.version, current: a.version, code: 'DELTA_APPLY_FAILED', reason: 'test' });
  const full = await p.next();
  assert.equal(full.type, 'snapshot');
  // A second refusal of the same version, now for a full snapshot, is final.
  p.send({ type: 'nack', version: b.version, current: a.version, code: 'DELTA_APPLY_FAILED', reason: 'test' });
  p.send({ type: 'hello', protocol: STREAM_PROTOCOL, proxyId: 'again' }); // a protocol error, to end the test deterministically
  assert.equal((await p.closed).code, 1002);
  assert.equal(p.inbox.length, 0, 'nothing was resent');
});

test('protocol errors close with 1002 and a reason', async () => {
  const { store, port } = await serve();
  store.publish(snapshotWith(1));
  const early = await raw(port);
  early.send({ type: 'ack', version: 'abc' });
  assert.deepEqual(await early.closed, { code: 1002, reason: 'ack before hello' });

  const junk = await raw(port);
  junk.ws.send('not json');
  const c = await junk.closed;
  assert.equal(c.code, 1002);
  assert.match(c.reason, /not JSON/);

  const wrongAck = await raw(port);
  wrongAck.send({ type: 'hello', protocol: STREAM_PROTOCOL, proxyId: 'x' });
  await wrongAck.next();
  wrongAck.send({ type: 'ack', version: 'ffff0000ffff0000' });
  assert.match((await wrongAck.closed).reason, /is outstanding/);
});

test('a proxy that sends no hello is closed after the timeout', async () => {
  const { port } = await serve({ helloTimeoutMs: 50 });
  const p = await raw(port);
  assert.deepEqual(await p.closed, { code: 1002, reason: 'no hello within 50 ms' });
});

test('a proxy that stops answering pings is terminated', async () => {
  const { server, port } = await serve({ heartbeatIntervalMs: 30 });
  const p = await raw(port, undefined, { autoPong: false });
  p.send({ type: 'hello', protocol: STREAM_PROTOCOL, proxyId: 'silent' });
  assert.equal((await p.closed).code, 1006, 'terminated, no close frame');
  await waitUntil(() => server.sessions().length === 0);
});

test('attaches to a caller-provided server and closes sessions with 1001', async () => {
  const http = createServer((_req, res) => res.end('admin'));
  cleanups.push(() => new Promise((r) => http.close(r)));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const store = new SnapshotStore();
  const server = new StreamServer({ store, token: TOKEN, server: http, log: silentLogger });
  assert.equal(await server.listen(), (http.address() as { port: number }).port);
  const p = await raw(server.port);
  p.send({ type: 'hello', protocol: STREAM_PROTOCOL, proxyId: 'x' });
  await waitUntil(() => server.sessions().length === 1);
  await server.close();
  assert.equal((await p.closed).code, 1001);
  assert.equal(http.listening, true, 'the caller still owns its server');
});

/** Polls a condition every 10 ms; fails after a generous bound instead of hanging. */
async function waitUntil(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met within bound');
    await new Promise((r) => setTimeout(r, 10));
  }
}
