// Websockets through the proxy's listeners, with real backends on loopback.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import v8 from 'node:v8';
import vm from 'node:vm';
import { WebSocket, WebSocketServer } from 'ws';
import { sealSnapshot } from '../api/version.ts';
import { routeKey } from '../api/snapshot.ts';
import type { Listener, Route, RouteMatch } from '../api/snapshot.ts';
import { DataPlane } from './apply.ts';
import type { RoutingTable } from './routing/table.ts';
import type { Echoed, TestServer } from './testkit.ts';
import { cluster, content, echoBackend, freePort, get, parseRaw, rawRequest, route, startServer, testEngine, vhost } from './testkit.ts';
import { DEFAULT } from './testdata/tls.ts';

/** A websocket echo backend: answers every message with `<name>:<message>`. */
interface WsBackend extends TestServer {
  /** Headers of the last handshake it accepted. */
  lastHeaders: http.IncomingHttpHeaders | undefined;
  /** Server-side websockets, to close them from the backend. */
  readonly sockets: Set<WebSocket>;
  /** Open TCP connections (upgraded ones included). */
  connections(): Promise<number>;
}

async function wsBackend(name: string): Promise<WsBackend> {
  const server = http.createServer((_req, res) => res.writeHead(426).end());
  const wss = new WebSocketServer({ server });
  const started = await startServer(server);
  const backend: WsBackend = {
    ...started,
    lastHeaders: undefined,
    sockets: new Set(),
    connections: () => new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n)))),
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      await started.close();
    },
  };
  wss.on('connection', (ws, req) => {
    backend.lastHeaders = req.headers;
    backend.sockets.add(ws);
    ws.on('close', () => backend.sockets.delete(ws));
    ws.on('message', (data) => ws.send(`${name}:${String(data)}`));
  });
  return backend;
}

/** Opens a websocket; rejects with the status when the proxy or upstream answers something else. */
function openWs(url: string, options: { headers?: Record<string, string>; rejectUnauthorized?: boolean } = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      reject(new Error(`status ${res.statusCode}`));
    });
    ws.once('error', reject);
  });
}

/** Sends one message and waits (bounded) for the next one. */
async function roundTrip(ws: WebSocket, msg: string): Promise<string> {
  const got = once(ws, 'message', { signal: AbortSignal.timeout(2_000) });
  ws.send(msg);
  const [data] = await got as [Buffer];
  return String(data);
}

/** Polls `cond` every 10 ms for at most `ms`. */
async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 2_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** An upgrade attempt with http.request: the status of a refused one, and its body. */
function upgradeAnswer(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, path, agent: false,
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    });
    req.on('upgrade', (_res, socket) => {
      socket.destroy();
      reject(new Error('upgraded'));
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

// A garbage collector to call, so a test can show that no old table is reachable.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const httpListener = (port: number): Listener => ({ protocol: 'http', address: '127.0.0.1', port });

let ws1: WsBackend;
let ws2: WsBackend;
let plain: TestServer;
let refusing: TestServer;
let raw: TestServer;
let silent: net.Server;
let silentPort: number;
let deadPort: number;
const silentSockets = new Set<net.Socket>();

before(async () => {
  ws1 = await wsBackend('one');
  ws2 = await wsBackend('two');
  plain = await echoBackend('plain');
  // Refuses every upgrade with a chunked body (the proxy must re-frame it).
  refusing = await startServer(http.createServer((_req, res) => {
    res.writeHead(403, { 'content-type': 'text/plain', 'keep-alive': 'timeout=5', 'x-reason': 'policy' });
    res.write('den');
    res.end('ied');
  }));
  // Switches with bytes right after its 101, in the same write, then echoes raw bytes.
  const rawServer = http.createServer();
  rawServer.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const names = req.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase()).join(',');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\n`
      + `X-Path: ${req.url}\r\nX-Seen: ${names}\r\n\r\nEARLY`);
    if (head.length > 0) socket.write(Buffer.concat([Buffer.from('HEAD:'), head]));
    socket.on('data', (d: Buffer) => socket.write(d));
    socket.on('end', () => socket.end());
    socket.on('error', () => socket.destroy());
  });
  raw = await startServer(rawServer);
  // Accepts connections and never answers.
  silent = net.createServer((s) => {
    s.resume(); // reads (and drops) so that the proxy's FIN is seen
    silentSockets.add(s);
    s.on('close', () => silentSockets.delete(s));
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  silentPort = (silent.address() as net.AddressInfo).port;
  deadPort = await freePort();
});

after(async () => {
  for (const s of silentSockets) s.destroy();
  await new Promise((resolve) => silent.close(resolve));
  await Promise.all([ws1.close(), ws2.close(), plain.close(), refusing.close(), raw.close()]);
});

/** Routes of the shared proxy; `chat` is the cluster /chat goes to. */
function routes(chatTimeoutMs = 5_000): Array<[string, Route]> {
  return [
    route('Prefix', '/chat', 'c/chat', chatTimeoutMs),
    route('Prefix', '/plain', 'c/plain'),
    route('Prefix', '/refuse', 'c/refuse'),
    route('Prefix', '/raw', 'c/raw'),
    route('Prefix', '/empty', 'c/empty'),
    route('Prefix', '/nocluster'),
    route('Prefix', '/dead', 'c/dead'),
    route('Prefix', '/mixed', 'c/mixed'),
    route('Prefix', '/silent', 'c/silent', 300),
  ];
}

function snapshot(port: number, chat: number[] = [ws1.port], chatTimeoutMs = 5_000) {
  return sealSnapshot(content({
    listeners: { http: httpListener(port) },
    virtualHosts: { '*': vhost(routes(chatTimeoutMs)) },
    clusters: {
      'c/chat': cluster(...chat),
      'c/plain': cluster(plain.port),
      'c/refuse': cluster(refusing.port),
      'c/raw': cluster(raw.port),
      'c/empty': cluster(),
      'c/dead': cluster(deadPort),
      'c/mixed': cluster(deadPort, ws1.port),
      'c/silent': cluster(silentPort),
    },
  }));
}

/** A proxy on a fresh port, closed after `body`. */
async function withProxy(body: (dp: DataPlane, port: number) => Promise<void>, options: ConstructorParameters<typeof DataPlane>[0] = {}): Promise<void> {
  const dp = new DataPlane({ http1Engine: testEngine(), ...options });
  const port = await freePort();
  try {
    const outcome = await dp.apply(snapshot(port));
    assert.ok(outcome.ok, JSON.stringify(outcome));
    await body(dp, port);
  } finally {
    await dp.close();
  }
}

test('a websocket echoes through the proxy; the upstream handshake carries forwarding headers', () => withProxy(async (dp, port) => {
  const ws = await openWs(`ws://127.0.0.1:${port}/chat/room?x=1`, { headers: { 'x-forwarded-for': '10.0.0.1' } });
  assert.equal(await roundTrip(ws, 'hello'), 'one:hello');
  assert.equal(await roundTrip(ws, 'again'), 'one:again');
  const h = ws1.lastHeaders ?? {};
  assert.equal(h.connection, 'Upgrade');
  assert.equal(h.upgrade, 'websocket');
  assert.equal(h.host, `127.0.0.1:${port}`);
  assert.equal(h['x-forwarded-for'], '10.0.0.1, 127.0.0.1');
  assert.equal(h['x-forwarded-proto'], 'http');
  assert.equal(h['x-forwarded-port'], String(port));
  assert.ok(h['sec-websocket-key'] !== undefined);
  assert.equal(dp.listeners.upgrader.open, 1);
  assert.equal(dp.pools.open, 0, 'a tunnel never creates an undici pool');
  ws.close();
  await once(ws, 'close');
  await waitFor('the backend connection to close', async () => (await ws1.connections()) === 0);
  await waitFor('the tunnel to be forgotten', () => dp.listeners.upgrader.open === 0);
}));

test('the echo keeps working across 20 swaps, even when its endpoint leaves the cluster; old tables are not kept alive', () => withProxy(async (dp, port) => {
  const ws = await openWs(`ws://127.0.0.1:${port}/chat`);
  const tables: Array<WeakRef<RoutingTable>> = [new WeakRef(dp.table as RoutingTable)];
  // Every swap changes the table; even ones drop the websocket's endpoint from
  // /chat's cluster. Says whether the swapped-out table closed. (A function,
  // so that no table stays in this frame's registers for the GC check.)
  const swap = async (i: number): Promise<boolean> => {
    const previous = dp.table as RoutingTable;
    const outcome = await dp.apply(snapshot(port, i % 2 === 0 ? [ws2.port] : [ws1.port, ws2.port], 5_000 + i));
    assert.ok(outcome.ok);
    tables.push(new WeakRef(dp.table as RoutingTable));
    return previous.closed && previous.inflight === 0;
  };
  const closed: boolean[] = [];
  for (let i = 0; i < 20; i++) {
    closed.push(await swap(i));
    assert.equal(await roundTrip(ws, `m${i}`), `one:m${i}`, `message after swap ${i + 1}`);
  }
  // The websocket counted against the first table only during its handshake,
  // and nothing of the tunnel refers to a table.
  assert.ok(closed.every(Boolean), 'every swapped-out table closed at its swap');
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  assert.equal(tables.slice(0, -1).filter((t) => t.deref() !== undefined).length, 0, 'no swapped-out table is reachable');
  assert.equal(await roundTrip(ws, 'after gc'), 'one:after gc');
  // A new websocket follows the current table.
  const fresh = await openWs(`ws://127.0.0.1:${port}/chat`);
  assert.match(await roundTrip(fresh, 'new'), /^(one|two):new$/);
  assert.equal(dp.listeners.upgrader.open, 2);
  fresh.close();
  ws.close();
  await waitFor('the backends to see no connection', async () => (await ws1.connections()) + (await ws2.connections()) === 0);
}));

test('the handshake keeps only Connection/Upgrade of the hop-by-hop headers; bytes after either head are relayed in order', () => withProxy(async (dp, port) => {
  const socket = net.connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (d: Buffer) => { received += d.toString('latin1'); });
  await once(socket, 'connect');
  socket.write([
    'GET /raw/x HTTP/1.1', 'Host: a.test', 'Connection: Upgrade, X-Hop', 'Upgrade: websocket', 'X-Hop: secret', 'Keep-Alive: timeout=1',
    'TE: trailers', 'X-Forwarded-Proto: https', 'X_Forwarded_For: 1.2.3.4', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', '', 'HELLO',
  ].join('\r\n'));
  await waitFor('the 101, the early upstream bytes and the echo of the client head', () => received.endsWith('EARLYHELLO'));
  const res = parseRaw(received);
  assert.equal(res.status, 101);
  assert.ok(res.headers.includes('x-path: /raw/x'));
  assert.ok(res.headers.includes('connection: upgrade'));
  assert.ok(res.headers.includes('upgrade: websocket'));
  assert.ok(!res.headers.some((h) => h.startsWith('x-secret') || h.startsWith('keep-alive')), `101 hop-by-hop headers stripped: ${res.headers.join(' | ')}`);
  const seen = (res.headers.find((h) => h.startsWith('x-seen: ')) ?? '').slice(8).split(',');
  assert.deepEqual(seen.sort(), [
    'connection', 'host', 'sec-websocket-key', 'upgrade', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-proto', 'x-real-ip',
  ]);
  assert.equal(res.body, 'EARLYHELLO', 'the client head reached the upstream after its 101, as plain data, not as its upgrade head');
  socket.write('MORE');
  await waitFor('the echo', () => received.endsWith('MORE'));
  socket.end();
  await once(socket, 'close');
  await waitFor('the tunnel to end', () => dp.listeners.upgrader.open === 0);
}));

test('a non-101 answer is relayed with its body re-framed, then the connection closes', () => withProxy(async (dp, port) => {
  const text = await rawRequest(port, 'GET /refuse HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n');
  const res = parseRaw(text);
  assert.equal(res.status, 403);
  assert.equal(res.body, 'denied');
  assert.ok(res.headers.includes('x-reason: policy'));
  assert.ok(res.headers.includes('connection: close'));
  assert.ok(!res.headers.some((h) => h.startsWith('transfer-encoding') || h.startsWith('keep-alive')), 'hop-by-hop response headers stripped');
  // A plain HTTP backend answers the handshake like a request: 200 with a Content-Length body.
  const echoed = await upgradeAnswer(port, '/plain/p');
  assert.equal(echoed.status, 200);
  const body = JSON.parse(echoed.body) as Echoed;
  assert.equal(body.url, '/plain/p');
  assert.equal(body.headers.upgrade, 'websocket');
  assert.equal(dp.listeners.upgrader.open, 0);
  assert.equal(dp.table?.inflight, 0);
}));

test('proxy answers: 404 no route, 503 no endpoint, 502 connect failure, 504 no answer in time, 400 bad Host', () => withProxy(async (dp, port) => {
  const nowhere = await upgradeAnswer(port, '/nowhere');
  assert.deepEqual([nowhere.status, nowhere.body, nowhere.headers.connection], [404, 'no route\n', 'close']);
  assert.equal((await upgradeAnswer(port, '/empty')).status, 503);
  assert.equal((await upgradeAnswer(port, '/nocluster')).status, 503);
  assert.deepEqual(await upgradeAnswer(port, '/dead').then((r) => [r.status, r.body]), [502, 'upstream connect error\n']);
  const started = Date.now();
  assert.equal((await upgradeAnswer(port, '/silent')).status, 504);
  assert.ok(Date.now() - started >= 250, 'the route timeout (300 ms) applied');
  await waitFor('the silent upstream connection to be closed', () => silentSockets.size === 0);
  assert.equal((await upgradeAnswer(port, '/chat', { host: 'a@b.test' })).status, 400);
  assert.equal(dp.table?.inflight, 0, 'every failed handshake left its table');
}));

test('a handshake counts against the table it pinned until the upstream answers', () => withProxy(async (dp, port) => {
  const first = dp.table as RoutingTable;
  const answer = upgradeAnswer(port, '/silent');
  await waitFor('the handshake to reach the silent upstream', () => silentSockets.size === 1);
  assert.ok((await dp.apply(snapshot(port, [ws1.port], 4_000))).ok);
  assert.equal(first.inflight, 1);
  assert.ok(!first.closed, 'swapped out, but still pinned by the handshake');
  assert.equal((await answer).status, 504, 'the handshake kept its table\'s route timeout');
  assert.ok(first.closed, 'the 504 released it');
}));

test('an upstream that answers what cannot be relayed gets a 502, quickly', async () => {
  // Answers by request path, with bytes no HTTP library would send.
  const answers: Record<string, string> = {
    '/bare101': 'HTTP/1.1 101 Switching Protocols\r\n\r\n',
    '/h2c': 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n',
    '/huge': `HTTP/1.1 101 Switching Protocols\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    '/garbage': 'SSH-2.0-OpenSSH_9.6\r\n\r\n',
    '/hangup': '',
  };
  const bad = net.createServer((s) => {
    s.once('data', (d: Buffer) => {
      const path = d.toString('latin1').split(' ')[1] ?? '';
      s.end(answers[path] ?? '');
    });
    s.on('error', () => s.destroy());
  });
  await new Promise<void>((resolve) => bad.listen(0, '127.0.0.1', resolve));
  const badPort = (bad.address() as net.AddressInfo).port;
  const dp = new DataPlane({ http1Engine: testEngine() });
  try {
    const port = await freePort();
    assert.ok((await dp.apply(sealSnapshot(content({
      listeners: { http: httpListener(port) },
      virtualHosts: { '*': vhost([route('Prefix', '/', 'c/bad', 10_000)]) },
      clusters: { 'c/bad': cluster(badPort) },
    })))).ok);
    for (const path of Object.keys(answers)) {
      const started = Date.now();
      const res = await upgradeAnswer(port, path);
      assert.equal(res.status, 502, path);
      // Well before the 10 s route timeout: a bad answer is a 502 at once, not a 504 later.
      assert.ok(Date.now() - started < 5_000, `${path}: answered before the route timeout`);
    }
    assert.equal(dp.listeners.upgrader.open, 0);
    assert.equal(dp.table?.inflight, 0);
  } finally {
    await dp.close();
    await new Promise((resolve) => bad.close(resolve));
  }
});

test('a connect failure is retried on another endpoint', () => withProxy(async (_dp, port) => {
  // c/mixed is [dead, ws1]: whichever the round-robin starts with, every handshake succeeds.
  for (let i = 0; i < 4; i++) {
    const ws = await openWs(`ws://127.0.0.1:${port}/mixed`);
    assert.equal(await roundTrip(ws, `r${i}`), `one:r${i}`);
    ws.terminate();
  }
  await waitFor('the backend connections to close', async () => (await ws1.connections()) === 0);
}));

test('closing either side closes the other: no socket is leaked', () => withProxy(async (dp, port) => {
  // The client closes (close handshake), then the client vanishes (reset).
  const a = await openWs(`ws://127.0.0.1:${port}/chat`);
  const b = await openWs(`ws://127.0.0.1:${port}/chat`);
  assert.equal(await roundTrip(a, 'a'), 'one:a');
  assert.equal(await roundTrip(b, 'b'), 'one:b');
  assert.equal(await ws1.connections(), 2);
  a.close();
  b.terminate();
  await waitFor('the backend connections to close', async () => (await ws1.connections()) === 0);
  await waitFor('both tunnels to end', () => dp.listeners.upgrader.open === 0);

  // The backend closes: politely, then abruptly.
  const c = await openWs(`ws://127.0.0.1:${port}/chat`);
  const d = await openWs(`ws://127.0.0.1:${port}/chat`);
  assert.equal(await roundTrip(c, 'c'), 'one:c');
  assert.equal(await roundTrip(d, 'd'), 'one:d');
  const [first, second] = [...ws1.sockets];
  const closedC = once(c, 'close');
  const closedD = once(d, 'close');
  first?.close(1000, 'bye');
  second?.terminate();
  const [[code]] = await Promise.all([closedC, closedD]) as [[number], [number]];
  assert.ok(code === 1000 || code === 1006);
  await waitFor('both tunnels to end', () => dp.listeners.upgrader.open === 0);
  await waitFor('the backend connections to close', async () => (await ws1.connections()) === 0);
}));

test('other upgrades (h2c) stay plain requests: Upgrade stripped, keep-alive kept', () => withProxy(async (_dp, port) => {
  const res = await get(port, '/plain/h2c', { connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAAQAoAAAAAIAAAAA' });
  assert.equal(res.status, 200);
  const echoed = JSON.parse(res.body) as Echoed;
  assert.equal(echoed.headers.upgrade, undefined);
  assert.equal(echoed.headers['http2-settings'], undefined);
  // A websocket upgrade on a POST with a body is not a handshake either.
  const post = await get(port, '/plain/post', { connection: 'Upgrade', upgrade: 'websocket' }, 'POST', 'body');
  assert.equal(post.status, 200);
  assert.equal((JSON.parse(post.body) as Echoed).body, 'body');
}));

test('a removed listener cuts its websockets at the drain deadline, not before', async () => {
  const dp = new DataPlane({ http1Engine: testEngine(), drainTimeoutMs: 400 });
  try {
    const [p1, p2] = [await freePort(), await freePort()];
    assert.ok((await dp.apply(snapshot(p1))).ok);
    const ws = await openWs(`ws://127.0.0.1:${p1}/chat`);
    const closed = once(ws, 'close');
    const started = Date.now();
    assert.ok((await dp.apply(snapshot(p2))).ok);
    assert.equal(await roundTrip(ws, 'still'), 'one:still', 'alive while draining');
    await closed;
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 350 && elapsed < 10_000, `closed after ${elapsed} ms`);
    await waitFor('the backend connection to close', async () => (await ws1.connections()) === 0);
    // The new listener serves websockets.
    const next = await openWs(`ws://127.0.0.1:${p2}/chat`);
    assert.equal(await roundTrip(next, 'new'), 'one:new');
    next.close();
  } finally {
    await dp.close();
  }
});

test('websockets over the HTTPS listener', async () => {
  const dp = new DataPlane({ http1Engine: testEngine() });
  try {
    const port = await freePort();
    const snap = sealSnapshot(content({
      listeners: { https: { protocol: 'https', address: '127.0.0.1', port, defaultSecret: '@default' } },
      virtualHosts: { '*': vhost([route('Prefix', '/', 'c/chat')]) },
      clusters: { 'c/chat': cluster(ws1.port) },
      secrets: { '@default': { cert: DEFAULT.cert, key: DEFAULT.key } },
    }));
    assert.ok((await dp.apply(snap)).ok);
    const ws = await openWs(`wss://127.0.0.1:${port}/secure`, { rejectUnauthorized: false });
    assert.equal(await roundTrip(ws, 'tls'), 'one:tls');
    assert.equal(ws1.lastHeaders?.['x-forwarded-proto'], 'https');
    ws.close();
    await waitFor('the backend connection to close', async () => (await ws1.connections()) === 0);
  } finally {
    await dp.close();
  }
});

test('route actions apply to handshakes: header matches, weighted backends, rewrites, header filters, redirects', async () => {
  const dp = new DataPlane({ http1Engine: testEngine() });
  const r = (match: RouteMatch, action: Omit<Route, 'match' | 'timeoutMs' | 'origin'>): [string, Route] =>
    [routeKey(match.type, match.path, match), { match, ...action, timeoutMs: 5_000, origin: 'Route/test/r' }];
  const opened: WebSocket[] = [];
  try {
    const port = await freePort();
    assert.ok((await dp.apply(sealSnapshot(content({
      listeners: { http: httpListener(port) },
      virtualHosts: {
        '*': vhost([
          r({ type: 'Prefix', path: '/hdr' }, { cluster: 'c/one' }),
          r({ type: 'Prefix', path: '/hdr', headers: [{ name: 'x-canary', type: 'Exact', value: '1' }] }, { cluster: 'c/two' }),
          r({ type: 'Prefix', path: '/split' }, { backends: [{ cluster: 'c/one', weight: 1 }, { cluster: 'c/two', weight: 1 }] }),
          r({ type: 'Prefix', path: '/typo' }, { backends: [{ weight: 1 }] }),
          r({ type: 'Prefix', path: '/rw' }, {
            cluster: 'c/raw',
            rewrite: { path: { type: 'ReplacePrefixMatch', value: '/raw2' } },
            requestHeaders: { set: [{ name: 'x-added', value: '1' }], remove: ['x-drop'] },
            responseHeaders: { add: [{ name: 'x-resp', value: 'yes' }] },
          }),
          r({ type: 'Prefix', path: '/moved' }, { redirect: { statusCode: 301, path: { type: 'ReplaceFullPath', value: '/hdr' } } }),
        ]),
      },
      clusters: { 'c/one': cluster(ws1.port), 'c/two': cluster(ws2.port), 'c/raw': cluster(raw.port) },
    })))).ok);

    const open = async (path: string, headers: Record<string, string> = {}) => {
      const ws = await openWs(`ws://127.0.0.1:${port}${path}`, { headers });
      opened.push(ws);
      return ws;
    };
    assert.equal(await roundTrip(await open('/hdr'), 'h'), 'one:h');
    assert.equal(await roundTrip(await open('/hdr', { 'x-canary': '1' }), 'h'), 'two:h');
    const split: string[] = [];
    for (let i = 0; i < 4; i++) split.push((await roundTrip(await open('/split'), 's')).split(':')[0] as string);
    assert.deepEqual(split.sort(), ['one', 'one', 'two', 'two']);
    assert.equal((await upgradeAnswer(port, '/typo')).status, 500);
    const moved = await upgradeAnswer(port, '/moved?q=1');
    assert.deepEqual([moved.status, moved.headers.location], [301, `http://127.0.0.1:${port}/hdr?q=1`]);

    const text = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.write(
        'GET /rw/x HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nX-Drop: 1\r\n\r\n'));
      let got = '';
      socket.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        if (got.endsWith('EARLY')) {
          socket.destroy();
          resolve(got);
        }
      });
      socket.on('error', reject);
    });
    const res = parseRaw(text);
    assert.equal(res.status, 101);
    assert.ok(res.headers.includes('x-path: /raw2/x'), 'path rewritten');
    assert.ok(res.headers.includes('x-resp: yes'), 'response filter applied to the 101');
    const seen = (res.headers.find((h) => h.startsWith('x-seen: ')) ?? '').slice(8).split(',');
    assert.ok(seen.includes('x-added') && !seen.includes('x-drop') && seen.includes('upgrade'), seen.join(','));
  } finally {
    for (const ws of opened) ws.terminate();
    await dp.close();
  }
});
