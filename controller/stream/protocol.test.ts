// Protocol version negotiation: websocket subprotocols in the upgrade, then
// the version named again in the hello. A proxy and a controller without a
// common version never get as far as a snapshot.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { STREAM_PATH, STREAM_PROTOCOL, STREAM_PROTOCOLS } from '../../api/stream.ts';
import { StreamClient } from '../../proxy/stream/client.ts';
import { FakeApplier } from '../../proxy/stream/testing.ts';
import { silentLogger } from '../../lib/log.ts';
import { SnapshotStore } from '../snapshot/store.ts';
import { snapshotWith } from '../snapshot/testing.ts';
import { StreamServer, type StreamServerOptions } from './server.ts';
import { cleanupList, nextEvent, rawUpgrade, waitUntil } from './testing.ts';

const TOKEN = 'protocol-test-token-0123';
const V0 = 'turnout.snapshot.v0';
const V1 = 'turnout.snapshot.v1';
const V3 = 'turnout.snapshot.v3';
const cleanups = cleanupList();
after(() => cleanups.run());

async function serve(opts: Partial<StreamServerOptions> = {}) {
  const store = new SnapshotStore();
  store.publish(snapshotWith(3));
  const server = new StreamServer({ store, token: TOKEN, log: silentLogger, ...opts });
  cleanups.add(() => server.close());
  return { store, server, port: await server.listen() };
}

function client(port: number, protocols?: readonly string[]) {
  const applier = new FakeApplier();
  const c = new StreamClient({
    url: `ws://127.0.0.1:${port}`, token: TOKEN, proxyId: 'p', applier, backoff: { initialMs: 50, maxMs: 200 },
    ...(protocols ? { protocols } : {}),
  });
  cleanups.add(() => c.close());
  return { client: c, applier };
}

/** A raw websocket offering `protocols`, collecting what the controller sends. */
async function raw(port: number, protocols: string[]) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${STREAM_PATH}`, protocols, { headers: { Authorization: `Bearer ${TOKEN}` } });
  cleanups.add(() => ws.terminate());
  const inbox: unknown[] = [];
  ws.on('message', (d) => inbox.push(JSON.parse(String(d))));
  const closed = once(ws, 'close').then(([code, reason]) => ({ code: code as number, reason: String(reason) }));
  await once(ws, 'open');
  return { ws, inbox, closed };
}

test('this build speaks turnout.snapshot.v2 only (v1 versions were SHA-256 of the whole canonical JSON)', () => {
  assert.deepEqual(STREAM_PROTOCOLS, [STREAM_PROTOCOL]);
  assert.equal(STREAM_PROTOCOL, 'turnout.snapshot.v2');
});

test('a v1 proxy (the old version definition) is refused at the upgrade, told that this controller speaks v2', async () => {
  const { server, port } = await serve();
  const { client: c, applier } = client(port, [V1]);
  const refused = nextEvent(c, 'disconnected');
  c.start();
  const d = await refused;
  assert.equal(d.status, 400);
  assert.match(d.reason, /offered turnout\.snapshot\.v1; this controller speaks turnout\.snapshot\.v2$/);
  assert.equal(applier.calls, 0, 'no snapshot reached it, so none could be refused as a version mismatch');
  assert.deepEqual(server.sessions(), []);
});

test('a proxy that offers no version the controller speaks is refused before the upgrade, and told which it speaks', async () => {
  const { server, port } = await serve();
  const { client: c, applier } = client(port, [V0]);
  const refused = nextEvent(c, 'disconnected');
  c.start();
  const d = await refused;
  assert.equal(d.status, 400);
  assert.match(d.reason, /^HTTP 400 Bad Request: unsupported snapshot stream protocol/);
  assert.match(d.reason, /offered turnout\.snapshot\.v0; this controller speaks turnout\.snapshot\.v2/);
  assert.match(String(d.error?.message), /controller refused the stream: HTTP 400/);
  assert.ok(d.retryInMs !== undefined, 'it keeps retrying: the controller may be upgraded or rolled back');
  assert.equal(applier.calls, 0, 'nothing was applied');
  assert.deepEqual(server.sessions(), []);
});

test('the refusal body names the versions even without a client library', async () => {
  const { port } = await serve({ protocols: [V3, STREAM_PROTOCOL] });
  const r = await rawUpgrade(port, { Authorization: `Bearer ${TOKEN}` });
  await r.ended;
  assert.match(r.received(), /^HTTP\/1\.1 400 Bad Request\r\n/);
  assert.match(r.received(), /the proxy offered no protocol version; this controller speaks turnout\.snapshot\.v3, turnout\.snapshot\.v2\n$/);
});

test('a newer proxy offering v3 and v2 to a v2 controller gets v2', async () => {
  const { server, port } = await serve();
  const { client: c, applier } = client(port, [V3, STREAM_PROTOCOL]);
  const connected = nextEvent(c, 'connected');
  c.start();
  assert.equal((await connected).protocol, STREAM_PROTOCOL);
  await waitUntil(() => applier.applied.length === 1);
  assert.equal(server.sessions()[0]!.protocol, STREAM_PROTOCOL);
  assert.equal(server.sessions()[0]!.identity, 'token');
});

test('the controller picks by its own preference among the versions offered', async () => {
  const { port } = await serve({ protocols: [V3, STREAM_PROTOCOL] });
  const r = await raw(port, [STREAM_PROTOCOL, V3]);
  assert.equal(r.ws.protocol, V3);
  const only1 = await raw(port, [STREAM_PROTOCOL]);
  assert.equal(only1.ws.protocol, STREAM_PROTOCOL);
});

test('a hello naming another version than the one negotiated is closed with 1002 and nothing is sent', async () => {
  const { port } = await serve({ protocols: [V3, STREAM_PROTOCOL] });
  const r = await raw(port, [STREAM_PROTOCOL]);
  r.ws.send(JSON.stringify({ type: 'hello', protocol: V3, proxyId: 'confused' }));
  assert.deepEqual(await r.closed, { code: 1002, reason: 'hello speaks "turnout.snapshot.v3" but the connection negotiated turnout.snapshot.v2' });
  assert.deepEqual(r.inbox, [], 'a snapshot was published, yet none was sent');

  const none = await raw(port, [STREAM_PROTOCOL]);
  none.ws.send(JSON.stringify({ type: 'hello', proxyId: 'old' }));
  assert.deepEqual(await none.closed, { code: 1002, reason: 'protocol: must be a non-empty string' });
  assert.deepEqual(none.inbox, []);
});
