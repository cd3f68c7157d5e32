// Authentication in the upgrade handler, on real sockets: ServiceAccount
// tokens through a fake reviewer (there is no API server here), and the
// asynchronous cases — nothing is sent before the answer, a proxy that hangs
// up meanwhile, a controller that shuts down meanwhile.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { STREAM_PROTOCOL } from '../../api/stream.ts';
import { StreamClient } from '../../proxy/stream/client.ts';
import { FakeApplier } from '../../proxy/stream/testing.ts';
import { silentLogger } from '../../lib/log.ts';
import { SnapshotStore } from '../snapshot/store.ts';
import { snapshotWith } from '../snapshot/testing.ts';
import { ServiceAccountAuthenticator, type TokenReviewer } from './auth.ts';
import { StreamServer } from './server.ts';
import { cleanupList, fakeJwt, GatedAuthenticator, nextEvent, rawUpgrade, waitUntil } from './testing.ts';

const cleanups = cleanupList();
after(() => cleanups.run());

const PROXY = fakeJwt({ sub: 'system:serviceaccount:turnout-system:turnout-proxy', exp: Math.floor(Date.now() / 1000) + 3600 });
const OTHER = fakeJwt({ sub: 'system:serviceaccount:default:default' });
const REPLAYED = fakeJwt({ sub: 'system:serviceaccount:turnout-system:turnout-proxy', aud: ['https://kubernetes.default.svc'] });
/** A second proxy pod's token (same ServiceAccount, another token). */
const SECOND = fakeJwt({ sub: 'system:serviceaccount:turnout-system:turnout-proxy', jti: 'second-pod' });

/** Answers like an API server would for the three tokens above; `down` makes it fail like an unreachable one. */
function reviewer() {
  const state = { down: false, calls: 0 };
  const review: TokenReviewer = async (token, audiences) => {
    state.calls++;
    if (state.down) throw new Error('connect ECONNREFUSED 10.96.0.1:443');
    assert.deepEqual(audiences, ['turnout']);
    if (token === PROXY || token === SECOND) return { status: { authenticated: true, audiences: ['turnout'], user: { username: 'system:serviceaccount:turnout-system:turnout-proxy' } } };
    if (token === OTHER) return { status: { authenticated: true, audiences: ['turnout'], user: { username: 'system:serviceaccount:default:default' } } };
    return { status: { authenticated: false, user: {}, error: '[invalid bearer token, token audiences ["https://kubernetes.default.svc"] is invalid for the target audiences ["turnout"]]' } };
  };
  return { review, state };
}

async function serve(auth: ConstructorParameters<typeof StreamServer>[0]['auth'], server?: ReturnType<typeof createServer>) {
  const store = new SnapshotStore();
  store.publish(snapshotWith(2));
  const stream = new StreamServer({ store, auth, log: silentLogger, ...(server ? { server } : {}) });
  cleanups.add(() => stream.close());
  return { store, stream, port: await stream.listen() };
}

function proxy(port: number, token: string) {
  const applier = new FakeApplier();
  const client = new StreamClient({ url: `ws://127.0.0.1:${port}`, token, proxyId: 'p', applier, backoff: { initialMs: 20, maxMs: 100 } });
  cleanups.add(() => client.close());
  return { client, applier };
}

test('ServiceAccount tokens: an allowed one connects; another ServiceAccount gets 403; a replayed API token 401; no API server 503', async () => {
  const { review, state } = reviewer();
  const auth = new ServiceAccountAuthenticator({ review, allowed: ['turnout-system/turnout-proxy'] });
  const { stream, port } = await serve(auth);

  const ok = proxy(port, PROXY);
  ok.client.start();
  await waitUntil(() => ok.applier.applied.length === 1);
  assert.equal(stream.sessions()[0]!.identity, 'system:serviceaccount:turnout-system:turnout-proxy');

  for (const [token, status, reason] of [
    [OTHER, 403, /ServiceAccount default\/default is not allowed/],
    [REPLAYED, 401, /^HTTP 401 Unauthorized: the API server did not authenticate the token$/],
  ] as const) {
    const p = proxy(port, token);
    const d = nextEvent(p.client, 'disconnected');
    p.client.start();
    const got = await d;
    assert.equal(got.status, status);
    assert.match(got.reason, reason);
    await p.client.close();
    assert.equal(p.applier.calls, 0);
  }
  assert.equal(stream.sessions().length, 1);

  // The API server goes away: a new pod cannot be checked (503) and keeps
  // retrying; once the API server is back it gets in without a restart.
  state.down = true;
  const p = proxy(port, SECOND);
  const unavailable = nextEvent(p.client, 'disconnected');
  p.client.start();
  const d = await unavailable;
  assert.equal(d.status, 503);
  assert.match(d.reason, /TokenReview failed: connect ECONNREFUSED/);
  const callsWhileDown = state.calls;
  state.down = false;
  await nextEvent(p.client, 'connected');
  assert.ok(state.calls > callsWhileDown);
});

test('nothing is written to the socket before the token is accepted', async () => {
  const gate = new GatedAuthenticator();
  const { port } = await serve(gate);
  const r = await rawUpgrade(port, { Authorization: 'Bearer anything', 'Sec-WebSocket-Protocol': STREAM_PROTOCOL });
  cleanups.add(() => r.socket.destroy());
  await gate.called(1);
  await new Promise((resolve) => setTimeout(resolve, 50)); // a window for anything to leak out
  assert.equal(r.received(), '');
  gate.release(true);
  await waitUntil(() => r.received().includes('\r\n\r\n'));
  assert.match(r.received(), /^HTTP\/1\.1 101 Switching Protocols\r\n/);
});

test('a proxy that hangs up while its token is checked costs no session, and the next one is served', async () => {
  const gate = new GatedAuthenticator();
  const http = createServer();
  const serverSide: Socket[] = [];
  http.on('upgrade', (_req: IncomingMessage, socket: Socket) => void serverSide.push(socket));
  cleanups.add(() => new Promise((r) => { http.closeAllConnections(); http.close(r); }));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const { stream } = await serve(gate, http);
  const port = stream.port;

  const r = await rawUpgrade(port, { Authorization: 'Bearer first', 'Sec-WebSocket-Protocol': STREAM_PROTOCOL });
  await gate.called(1);
  r.socket.destroy();
  const gone = serverSide[0]!;
  if (gone.readable) await once(gone, 'end');
  gate.release(true);
  await waitUntil(() => gone.destroyed, 10_000, 'the server dropped the socket');
  assert.deepEqual(stream.sessions(), []);

  const { client, applier } = proxy(port, 'second');
  client.start();
  await gate.called(2);
  gate.release(true);
  await waitUntil(() => applier.applied.length === 1);
  assert.equal(stream.sessions().length, 1);
});

test('a controller shutting down answers upgrades still waiting for their token with 503', async () => {
  const gate = new GatedAuthenticator();
  const { stream, port } = await serve(gate);
  const r = await rawUpgrade(port, { Authorization: 'Bearer waiting', 'Sec-WebSocket-Protocol': STREAM_PROTOCOL });
  await gate.called(1);
  await stream.close();
  await r.ended;
  assert.match(r.received(), /^HTTP\/1\.1 503 Service Unavailable\r\n[\s\S]*controller shutting down\n$/);
  gate.release(true); // the late answer finds nothing to do
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(stream.sessions(), []);
});
