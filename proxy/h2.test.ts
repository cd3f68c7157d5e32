// HTTP/2 clients through the HTTPS listener (ALPN h2), HTTP/1.1 on the same
// listener, HTTP/2 limits and drain, with real servers on loopback. The
// upstream protocols a cluster can ask for: upstream-protocols.test.ts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { sealSnapshot } from '../api/version.ts';
import type { Snapshot } from '../api/snapshot.ts';
import { DataPlane } from './apply.ts';
import type { Echoed, TestServer } from './testkit.ts';
import { cluster, content, echoBackend, freePort, route, startServer, testEngine, vhost } from './testkit.ts';
import { DEFAULT } from './testdata/tls.ts';
import { h2request, h2session } from './testdata/h2.ts';

let dp: DataPlane;
let port: number;
let httpPort: number;
let echo: TestServer;

before(async () => {
  dp = new DataPlane({ http1Engine: testEngine(), drainTimeoutMs: 5_000 });
  [port, httpPort] = [await freePort(), await freePort()];
  echo = await echoBackend('h1');
});

after(async () => {
  await dp.close();
  await echo.close();
});

const secrets = { '@default': { cert: DEFAULT.cert, key: DEFAULT.key } };

/** HTTPS and HTTP listeners, '*' routing /<name> to an HTTP/1.1 cluster per [name, port]. */
function snapshot(backends: Array<[string, number]>): Snapshot {
  return sealSnapshot(content({
    listeners: {
      https: { protocol: 'https', address: '127.0.0.1', port, defaultSecret: '@default' },
      http: { protocol: 'http', address: '127.0.0.1', port: httpPort },
    },
    virtualHosts: { '*': vhost(backends.map(([name]) => route('Prefix', `/${name}`, `c/${name}`))) },
    clusters: Object.fromEntries(backends.map(([name, p]) => [`c/${name}`, cluster(p)])),
    secrets,
  }));
}

test('an HTTP/2 client reaches an HTTP/1.1 backend: Host from :authority, forwarding headers, bodies both ways', async () => {
  assert.ok((await dp.apply(snapshot([['h1', echo.port]]))).ok);
  const session = await h2session(port);
  try {
    assert.equal((session.socket as tls.TLSSocket).alpnProtocol, 'h2');
    const get = await h2request(session, { ':path': '/h1/x?q=1', ':authority': 'shop.example.com', 'x-custom': 'v', 'x-forwarded-proto': 'spoofed', te: 'trailers' });
    assert.equal(get.headers[':status'], 200);
    assert.equal(get.headers['x-backend'], 'h1');
    // Connection-specific headers never reach an HTTP/2 client (Node would refuse to send them anyway).
    for (const name of ['connection', 'keep-alive', 'transfer-encoding']) assert.equal(get.headers[name], undefined, name);
    const e = JSON.parse(get.body) as Echoed;
    assert.equal(e.method, 'GET');
    assert.equal(e.url, '/h1/x?q=1');
    assert.equal(e.headers.host, 'shop.example.com');
    assert.equal(e.headers['x-forwarded-host'], 'shop.example.com');
    assert.equal(e.headers['x-forwarded-proto'], 'https');
    assert.equal(e.headers['x-forwarded-port'], String(port));
    assert.equal(e.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(e.headers['x-custom'], 'v');
    assert.equal(e.headers.te, 'trailers', 'te: trailers is forwarded for an HTTP/2 client');
    assert.ok(!e.rawHeaders.some((n) => n.startsWith(':')), 'no pseudo-header upstream');
    assert.equal(e.rawHeaders.filter((n) => n.toLowerCase() === 'host').length, 1);

    const big = 'b'.repeat(200_000);
    const post = await h2request(session, { ':method': 'POST', ':path': '/h1/upload', ':authority': 'shop.example.com', 'content-type': 'text/plain' }, big);
    assert.equal(post.headers[':status'], 200);
    const pe = JSON.parse(post.body) as Echoed;
    assert.equal(pe.method, 'POST');
    assert.equal(pe.body.length, big.length, 'a body without content-length is streamed whole');
    assert.equal(pe.body, big);

    // A bodiless POST (END_STREAM on HEADERS) sends no body upstream.
    const empty = await h2request(session, { ':method': 'POST', ':path': '/h1/empty', ':authority': 'shop.example.com' });
    assert.equal((JSON.parse(empty.body) as Echoed).headers['transfer-encoding'], undefined);
  } finally {
    session.close();
  }
});

test('HTTP/2: proxy answers, a Host that differs from :authority, and many streams on one session', async () => {
  assert.ok((await dp.apply(snapshot([['h1', echo.port]]))).ok);
  const session = await h2session(port);
  try {
    assert.equal((await h2request(session, { ':path': '/nowhere', ':authority': 'a.example' })).headers[':status'], 404);
    assert.equal((await h2request(session, { ':path': '/h1', ':authority': 'a.example', host: 'b.example' })).headers[':status'], 400);
    assert.equal((await h2request(session, { ':path': '/h1', ':authority': 'a.example:99999' })).headers[':status'], 400);
    // (An :authority with a space never reaches the proxy: Node's HTTP/2 layer resets the stream.)
    const same = await h2request(session, { ':path': '/h1', ':authority': 'a.example', host: 'a.example' });
    assert.equal((JSON.parse(same.body) as Echoed).headers.host, 'a.example');
    const all = await Promise.all(Array.from({ length: 50 }, (_, i) => h2request(session, { ':path': `/h1/${i}`, ':authority': 'a.example' })));
    assert.deepEqual(all.map((r) => (JSON.parse(r.body) as Echoed).url), Array.from({ length: 50 }, (_, i) => `/h1/${i}`));
    assert.equal(session.remoteSettings.maxConcurrentStreams, 100, 'the listener advertises its stream limit');
    assert.equal(session.remoteSettings.maxHeaderListSize, 16 * 1024);
  } finally {
    session.close();
  }
});

test('HTTP/1.1 still works on the same TLS listener, keep-alive included, and TE is not forwarded for it', async () => {
  assert.ok((await dp.apply(snapshot([['h1', echo.port]]))).ok);
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
  try {
    const once1 = (): Promise<{ alpn: string | false | null; body: Echoed; connection: string | undefined }> => new Promise((resolve, reject) => {
      const req = https.get({ host: '127.0.0.1', port, path: '/h1/one', headers: { host: 'h1.example', te: 'trailers' }, agent }, (res) => {
        // Read now: a keep-alive socket goes back to the agent at the end.
        const alpn = (res.socket as tls.TLSSocket).alpnProtocol;
        let data = '';
        res.on('data', (c: Buffer) => (data += c.toString()));
        res.on('end', () => resolve({ alpn, body: JSON.parse(data) as Echoed, connection: res.headers.connection }));
      });
      req.on('error', reject);
    });
    const a = await once1();
    const b = await once1();
    assert.equal(a.alpn, 'http/1.1');
    assert.equal(a.connection, 'keep-alive');
    assert.equal(a.body.headers.host, 'h1.example');
    assert.equal(a.body.headers['x-forwarded-proto'], 'https');
    assert.equal(a.body.headers.te, undefined, 'an HTTP/1.1 client gets no trailers, so its TE is not forwarded');
    assert.equal(b.body.url, '/h1/one');
  } finally {
    agent.destroy();
  }
});

test('on the TLS listener too, only websocket upgrades leave the request path: Upgrade: h2c stays a plain request', async () => {
  assert.ok((await dp.apply(snapshot([['h1', echo.port]]))).ok);
  const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
  await once(socket, 'secureConnect');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.write('GET /h1/up HTTP/1.1\r\nHost: a.example\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n');
  await once(socket, 'close');
  const raw = Buffer.concat(chunks).toString();
  assert.match(raw, /^HTTP\/1\.1 200 /);
  const echoed = JSON.parse(raw.slice(raw.indexOf('{'), raw.lastIndexOf('}') + 1)) as Echoed;
  assert.equal(echoed.url, '/h1/up');
  assert.equal(echoed.headers.upgrade, undefined);
  assert.equal(echoed.headers['http2-settings'], undefined);
});

test('HTTP/1.1 limits still apply on the TLS listener: a slow request head is cut at headersTimeout', async () => {
  const local = new DataPlane({ http1Engine: testEngine(), limits: { headersTimeoutMs: 300, requestTimeoutMs: 600 } });
  const p = await freePort();
  try {
    assert.ok((await local.apply(sealSnapshot(content({
      listeners: { https: { protocol: 'https', address: '127.0.0.1', port: p, defaultSecret: '@default' } },
      virtualHosts: { '*': vhost([route('Prefix', '/', 'c/a')]) },
      clusters: { 'c/a': cluster(echo.port) },
      secrets,
    })))).ok);
    // No ALPN at all: HTTP/1.1 too.
    const socket = tls.connect({ host: '127.0.0.1', port: p, rejectUnauthorized: false });
    await once(socket, 'secureConnect');
    socket.write('GET / HTTP/1.1\r\nHost: a\r\n');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    const started = Date.now();
    await once(socket, 'close');
    // Node answers 408 and closes; the request never completed.
    assert.match(Buffer.concat(chunks).toString(), /^HTTP\/1\.1 408 /);
    assert.ok(Date.now() - started < 10_000);

    // An oversized head is refused, never forwarded: with a 431 on a TLS
    // socket Node accepted itself, with a plain close behind the passthrough
    // front (the same with https.Server there; Node's default clientError
    // answer apparently needs a socket that has written nothing).
    const big = tls.connect({ host: '127.0.0.1', port: p, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    await once(big, 'secureConnect');
    const got: Buffer[] = [];
    big.on('data', (c: Buffer) => got.push(c));
    big.write(`GET / HTTP/1.1\r\nHost: a\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`);
    await once(big, 'close');
    assert.match(Buffer.concat(got).toString(), /^(?:HTTP\/1\.1 431 |$)/);
  } finally {
    await local.close();
  }
});

test('an HTTP/2 session without an open stream for keepAliveTimeoutMs gets GOAWAY; one with a quiet open stream does not', { timeout: 30_000 }, async () => {
  let release: (() => void) | undefined;
  const arrived = Promise.withResolvers<void>();
  const quiet = await startServer(http.createServer((_req, res) => {
    res.writeHead(200);
    res.write('a');
    arrived.resolve();
    release = () => res.end('b');
  }));
  const local = new DataPlane({ http1Engine: testEngine(), limits: { keepAliveTimeoutMs: 300 } });
  const p = await freePort();
  try {
    assert.ok((await local.apply(sealSnapshot(content({
      listeners: { https: { protocol: 'https', address: '127.0.0.1', port: p, defaultSecret: '@default' } },
      virtualHosts: { '*': vhost([route('Prefix', '/quiet', 'c/quiet'), route('Prefix', '/', 'c/a')]) },
      clusters: { 'c/a': cluster(echo.port), 'c/quiet': cluster(quiet.port) },
      secrets,
    })))).ok);
    const connect = async () => {
      const s = http2.connect(`https://127.0.0.1:${p}`, { rejectUnauthorized: false });
      s.on('error', () => {});
      await once(s, 'connect');
      return s;
    };
    const idle = await connect();
    const idleGoaway = once(idle, 'goaway');
    await h2request(idle, { ':path': '/x', ':authority': 'a.example' });
    const busy = await connect();
    let busyGoaway = false;
    busy.on('goaway', () => { busyGoaway = true; });
    const inflight = h2request(busy, { ':path': '/quiet', ':authority': 'a.example' });
    await arrived.promise;
    await idleGoaway;
    // Three idle periods with nothing but an open, silent stream.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal(busyGoaway, false, 'a session with an open stream is not idle');
    release?.();
    assert.equal((await inflight).body, 'ab');
    await once(busy, 'goaway');
    busy.destroy();
    idle.destroy();
  } finally {
    await local.close();
    await quiet.close();
  }
});

test('an HTTP/2 header list over the limit is refused', async () => {
  assert.ok((await dp.apply(snapshot([['h1', echo.port]]))).ok);
  const session = await h2session(port);
  // The limit applies once the client acknowledged the listener's SETTINGS
  // (before that, only Node's own 64 KiB cap): a request written after the
  // client received them is written after its acknowledgement.
  if (session.remoteSettings.maxHeaderListSize !== 16 * 1024) await once(session, 'remoteSettings');
  try {
    // The client honours the server's SETTINGS_MAX_HEADER_LIST_SIZE itself, or the server resets the stream.
    await assert.rejects(h2request(session, { ':path': '/h1', ':authority': 'a.example', 'x-big': 'a'.repeat(20_000) }));
  } finally {
    session.destroy();
  }
});

test('draining an HTTPS listener lets an HTTP/2 stream in flight finish, then sends GOAWAY', { timeout: 30_000 }, async () => {
  let release: (() => void) | undefined;
  const arrived = Promise.withResolvers<void>();
  const slow = await startServer(http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first ');
    arrived.resolve();
    release = () => res.end('last');
  }));
  const local = new DataPlane({ http1Engine: testEngine(), drainTimeoutMs: 10_000 });
  const [p, other] = [await freePort(), await freePort()];
  const listeners = (withHttps: boolean) => sealSnapshot(content({
    listeners: withHttps
      ? { https: { protocol: 'https', address: '127.0.0.1', port: p, defaultSecret: '@default' } }
      : { http: { protocol: 'http', address: '127.0.0.1', port: other } },
    virtualHosts: { '*': vhost([route('Prefix', '/', 'c/slow')]) },
    clusters: { 'c/slow': cluster(slow.port) },
    secrets,
  }));
  try {
    assert.ok((await local.apply(listeners(true))).ok);
    const session = http2.connect(`https://127.0.0.1:${p}`, { rejectUnauthorized: false });
    session.on('error', () => {});
    const goaway = once(session, 'goaway');
    const inflight = h2request(session, { ':path': '/slow', ':authority': 'a.example' });
    await arrived.promise;
    // The listener is removed: it drains.
    assert.ok((await local.apply(listeners(false))).ok);
    await goaway;
    // No new stream is accepted on the session…
    await assert.rejects(h2request(session, { ':path': '/again', ':authority': 'a.example' }));
    // …but the one in flight finishes whole.
    release?.();
    const done = await inflight;
    assert.equal(done.headers[':status'], 200);
    assert.equal(done.body, 'first last');
    await once(session, 'close');
  } finally {
    await local.close();
    await slow.close();
  }
});

test('a response\'s first chunk waits at most a turn: a streamed body is delivered as it comes; a one-chunk answer ends with its DATA, no trailers', { timeout: 30_000 }, async () => {
  // The backend sends its first chunk and holds the rest until the client has
  // seen that chunk (bounded: after 5 s it ends anyway and the test fails).
  const seen = Promise.withResolvers<void>();
  let timedOut = false;
  const backend = await startServer(http.createServer((req, res) => {
    if (req.url === '/stream/one') {
      res.writeHead(200, { 'content-length': '5' });
      res.end('whole');
      return;
    }
    if (req.url === '/stream/empty') {
      res.writeHead(200, { 'content-length': '0', 'x-empty': 'yes' });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first ');
    const timer = setTimeout(() => {
      timedOut = true;
      seen.resolve();
    }, 5_000);
    void seen.promise.then(() => {
      clearTimeout(timer);
      res.end('last');
    });
  }));
  try {
    assert.ok((await dp.apply(snapshot([['stream', backend.port]]))).ok);
    const session = await h2session(port);
    try {
      const stream = session.request({ ':path': '/stream/slow', ':authority': 'a.example' }, { endStream: true });
      const chunks: string[] = [];
      stream.on('data', (c: Buffer) => {
        chunks.push(c.toString());
        seen.resolve();
      });
      await once(stream, 'end');
      assert.equal(timedOut, false, 'the first chunk reached the client while the backend held the rest');
      assert.equal(chunks.join(''), 'first last');

      const one = await h2request(session, { ':path': '/stream/one', ':authority': 'a.example' });
      assert.equal(one.headers[':status'], 200);
      assert.equal(one.body, 'whole');
      assert.equal(one.trailers, undefined, 'no trailers frame for an upstream without trailers');
      assert.equal(one.flags & http2.constants.NGHTTP2_FLAG_END_STREAM, 0, 'the body follows the HEADERS frame');

      const empty = await h2request(session, { ':path': '/stream/empty', ':authority': 'a.example' });
      assert.equal(empty.headers['x-empty'], 'yes');
      assert.equal(empty.body, '');
      assert.equal(empty.trailers, undefined);
      assert.notEqual(empty.flags & http2.constants.NGHTTP2_FLAG_END_STREAM, 0, 'headers only: one HEADERS frame with END_STREAM');
    } finally {
      session.close();
    }
  } finally {
    await backend.close();
  }
});

// H2Request reads the client address and port from the session's TLS socket
// (servers.ts keeps it per session) rather than Node's Proxy in front of it:
// the PROXY header's client must still be found behind it.
test('an HTTP/2 client behind a PROXY header: X-Forwarded-For and X-Real-IP name the header\'s client, X-Forwarded-Port the listener', async () => {
  const local = new DataPlane({ http1Engine: testEngine() });
  const p = await freePort();
  try {
    assert.ok((await local.apply(sealSnapshot(content({
      listeners: { https: { protocol: 'https', address: '127.0.0.1', port: p, defaultSecret: '@default', proxyProtocol: true } },
      virtualHosts: { '*': vhost([route('Prefix', '/', 'c/h1')]) },
      clusters: { 'c/h1': cluster(echo.port) },
      secrets,
    })))).ok);
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(p, '127.0.0.1', () => resolve(s));
      s.on('error', reject);
    });
    sock.write('PROXY TCP4 203.0.113.9 10.0.0.1 40002 443\r\n');
    const session = http2.connect(`https://127.0.0.1:${p}`, { createConnection: () => tls.connect({ socket: sock, ALPNProtocols: ['h2'], rejectUnauthorized: false }) });
    session.on('error', () => {});
    try {
      for (let i = 0; i < 2; i++) {
        const r = await h2request(session, { ':path': `/x${i}`, ':authority': 'shop.example.com' });
        assert.equal(r.headers[':status'], 200);
        const e = JSON.parse(r.body) as Echoed;
        assert.equal(e.headers['x-forwarded-for'], '203.0.113.9', `stream ${i}`);
        assert.equal(e.headers['x-real-ip'], '203.0.113.9');
        assert.equal(e.headers['x-forwarded-port'], String(p));
      }
    } finally {
      session.destroy();
    }
  } finally {
    await local.close();
  }
});
