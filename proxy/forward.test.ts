import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { sealSnapshot } from '../api/version.ts';
import type { SnapshotContent } from '../api/version.ts';
import { createForwarder } from './forward.ts';
import { buildTable } from './routing/table.ts';
import { UpstreamPools } from './upstream/pools.ts';
import type { DirectProxy, Echoed, TestServer } from './testkit.ts';
import { cluster, content, directProxy, echoBackend, freePort, get, parseRaw, rawRequest, route, startServer, vhost } from './testkit.ts';

// A proxy whose table the test sets directly: forward.ts without apply.ts.
let proxy: DirectProxy;
let a: TestServer;
let b: TestServer;
const cleanup: Array<() => Promise<void>> = [];

const use = (parts: Partial<SnapshotContent>) => proxy.use(parts);

before(async () => {
  proxy = await directProxy();
  a = await echoBackend('a', { connection: 'x-secret', 'x-secret': '1', 'keep-alive': 'timeout=5', 'proxy-connection': 'keep-alive' });
  b = await echoBackend('b');
});

after(async () => {
  await proxy.close();
  await Promise.all([a.close(), b.close(), ...cleanup.map((f) => f())]);
});

test('no table yet: 503', async () => {
  const res = await get(proxy.port, '/');
  assert.equal(res.status, 503);
  assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
});

test('request headers: forwarded-* set, hop-by-hop stripped both ways, Host kept', async () => {
  use({ virtualHosts: { 'foo.com': vhost([route('Prefix', '/', 'c/a:1')]) }, clusters: { 'c/a:1': cluster(a.port) } });
  const raw = await rawRequest(proxy.port, [
    'GET /x/../echo//me?q=1 HTTP/1.1',
    'Host: Foo.com:8080',
    'Connection: close, X-Hop',
    'X-Hop: secret',
    'Keep-Alive: timeout=1',
    'Proxy-Connection: keep-alive',
    'TE: trailers',
    'Trailer: x-t',
    'Upgrade: websocket',
    'X-Forwarded-For: 10.1.1.1',
    'X-Forwarded-Proto: https',
    'X-Forwarded-Host: evil.com',
    'X-Forwarded-Port: 1',
    'X-Real-IP: 10.9.9.9',
    'Forwarded: proto=https;host=evil.com',
    'X_Forwarded_Proto: https',
    'X-Custom: kept',
    '', '',
  ].join('\r\n'));
  const res = parseRaw(raw);
  assert.equal(res.status, 200);
  const echoed = JSON.parse(res.body) as Echoed;
  assert.equal(echoed.url, '/echo/me?q=1', 'normalised path, query as sent');
  assert.equal(echoed.headers.host, 'Foo.com:8080');
  assert.equal(echoed.headers['x-forwarded-for'], '10.1.1.1, 127.0.0.1');
  assert.equal(echoed.headers['x-forwarded-proto'], 'http');
  assert.equal(echoed.headers['x-forwarded-host'], 'Foo.com:8080');
  assert.equal(echoed.headers['x-forwarded-port'], String(proxy.port));
  assert.equal(echoed.headers['x-real-ip'], '127.0.0.1');
  assert.equal(echoed.headers['x-custom'], 'kept');
  for (const h of ['x-hop', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'forwarded', 'x_forwarded_proto']) {
    assert.equal(echoed.headers[h], undefined, h);
  }
  // Connection towards the upstream is undici's own keep-alive, not the client's "close, X-Hop".
  assert.notEqual(echoed.headers.connection, 'close, X-Hop');
  // Response side: the upstream's Connection tokens and hop-by-hop headers are gone.
  assert.ok(res.headers.includes('x-backend: a'));
  assert.ok(!res.headers.some((h) => h.startsWith('x-secret') || h.startsWith('proxy-connection') || h === 'keep-alive: timeout=5'), res.headers.join('|'));
  assert.ok(res.headers.includes('connection: close'), 'the client asked to close its own connection');
});

test('response headers: repeated fields each relayed in order, names lower-case, Connection-listed ones dropped', async () => {
  const up = await startServer(http.createServer((_req, res) => {
    res.writeHead(200, ['Set-Cookie', 'a=1', 'X-Multi', 'one', 'Set-Cookie', 'b=2', 'X-Multi', 'two', 'Connection', 'keep-alive, X-Private', 'X-Private', 'no', 'Content-Length', '2']);
    res.end('ok');
  }));
  cleanup.push(() => up.close());
  use({ virtualHosts: { '*': vhost([route('Prefix', '/', 'c/up:1')]) }, clusters: { 'c/up:1': cluster(up.port) } });
  const raw = await rawRequest(proxy.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const res = parseRaw(raw);
  assert.equal(res.status, 200);
  assert.equal(res.body, 'ok');
  assert.ok(raw.includes('\r\nset-cookie: a=1\r\n') && raw.includes('\r\ncontent-length: 2\r\n'), raw);
  assert.deepEqual(res.headers.filter((h) => /^(set-cookie|x-multi):/i.test(h)), ['set-cookie: a=1', 'set-cookie: b=2', 'x-multi: one', 'x-multi: two']);
  assert.ok(!res.headers.some((h) => h.toLowerCase().startsWith('x-private')), res.headers.join('|'));
});

test('request body streams through (chunked and content-length)', async () => {
  use({ virtualHosts: { '*': vhost([route('Prefix', '/', 'c/a:1')]) }, clusters: { 'c/a:1': cluster(a.port) } });
  const big = 'x'.repeat(3 * 1024 * 1024);
  const withLength = await get(proxy.port, '/up', { 'content-type': 'text/plain' }, 'POST', big);
  assert.equal(withLength.status, 200);
  assert.equal((JSON.parse(withLength.body) as Echoed).body.length, big.length);
  const chunked = parseRaw(await rawRequest(proxy.port, 'PUT /up HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n'));
  const echoed = JSON.parse(chunked.body) as Echoed;
  assert.equal(echoed.body, 'hello world');
  // Framing towards the upstream is undici's choice (chunked, or a length once the body is all in).
  assert.ok(echoed.headers['transfer-encoding'] === 'chunked' || echoed.headers['content-length'] === '11');
});

test('a large response streams back intact', async () => {
  const size = 8 * 1024 * 1024;
  const big = await startServer(http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': size });
    const chunk = Buffer.alloc(64 * 1024, 7);
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  }));
  cleanup.push(() => big.close());
  use({ virtualHosts: { '*': vhost([route('Prefix', '/', 'c/big:1')]) }, clusters: { 'c/big:1': cluster(big.port) } });
  const res = await get(proxy.port, '/big');
  assert.equal(res.status, 200);
  assert.equal(res.body.length, size);
  assert.equal(res.headers['content-length'], String(size));
});

test('HEAD keeps the upstream content-length and sends no body', async () => {
  use({ virtualHosts: { '*': vhost([route('Prefix', '/', 'c/a:1')]) }, clusters: { 'c/a:1': cluster(a.port) } });
  const res = await get(proxy.port, '/', {}, 'HEAD');
  assert.equal(res.status, 200);
  assert.equal(res.body, '');
});

test('400 for targets that are not origin-form and for a duplicate Host', async () => {
  use({ virtualHosts: { '*': vhost([route('Prefix', '/', 'c/a:1')]) }, clusters: { 'c/a:1': cluster(a.port) } });
  for (const line of ['GET http://foo.com/ HTTP/1.1', 'OPTIONS * HTTP/1.1']) {
    const res = parseRaw(await rawRequest(proxy.port, `${line}\r\nHost: foo.com\r\nConnection: close\r\n\r\n`));
    assert.equal(res.status, 400, line);
    assert.equal(res.body, 'bad request\n');
  }
  const dup = parseRaw(await rawRequest(proxy.port, 'GET / HTTP/1.1\r\nHost: a.com\r\nHost: b.com\r\nConnection: close\r\n\r\n'));
  assert.equal(dup.status, 400);
});

test('a Host that is not host[:port] is a 400 and never reaches a backend', async () => {
  use({ virtualHosts: { '*': vhost([route('Prefix', '/', 'c/a:1')]) }, clusters: { 'c/a:1': cluster(a.port) } });
  const bad = ['shop.example:@evil.example', 'shop.example:99999999', 'shop.example:70000', 'a b.com', 'user@a.com', '[::1', 'a.com:80:80'];
  for (const host of bad) {
    const res = parseRaw(await rawRequest(proxy.port, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    assert.equal(res.status, 400, host);
  }
  for (const host of ['a.com', 'A.com:8080', '127.0.0.1:80', '[::1]:8443', 'foo.com.', 'my_host.internal']) {
    const res = parseRaw(await rawRequest(proxy.port, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    assert.equal(res.status, 200, host);
  }
});

test('404 without a route, 503 without a cluster or endpoints; short plain bodies', async () => {
  use({
    virtualHosts: { 'foo.com': vhost([route('Prefix', '/none'), route('Prefix', '/empty', 'c/e:1')]) },
    clusters: { 'c/e:1': { endpoints: {} } },
  });
  const nf = await get(proxy.port, '/other', { host: 'foo.com' });
  assert.deepEqual([nf.status, nf.body], [404, 'no route\n']);
  const none = await get(proxy.port, '/none', { host: 'foo.com' });
  assert.deepEqual([none.status, none.body], [503, 'no healthy upstream\n']);
  const empty = await get(proxy.port, '/empty', { host: 'foo.com' });
  assert.equal(empty.status, 503);
});

test('the default backend takes unmatched requests', async () => {
  use({ virtualHosts: { 'foo.com': vhost([route('Prefix', '/api', 'c/a:1')]) }, clusters: { 'c/a:1': cluster(a.port), 'c/b:1': cluster(b.port) }, defaultRoute: route('Prefix', '/', 'c/b:1', 1234)[1] });
  const res = await get(proxy.port, '/elsewhere', { host: 'foo.com' });
  assert.equal(res.headers['x-backend'], 'b');
});

test('502 when every endpoint refuses the connection', async () => {
  const dead1 = await freePort();
  const dead2 = await freePort();
  use({ virtualHosts: { '*': vhost([route('Prefix', '/', 'c/dead:1')]) }, clusters: { 'c/dead:1': cluster(dead1, dead2) } });
  const res = await get(proxy.port, '/');
  assert.deepEqual([res.status, res.body], [502, 'upstream connect error\n']);
});

test('502 when the upstream resets before answering', async () => {
  const rude = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
  await new Promise<void>((resolve) => rude.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise((resolve) => rude.close(() => resolve())));
  const port = (rude.address() as net.AddressInfo).port;
  use({ virtualHosts: { '*': vhost([route('Prefix', '/', 'c/rude:1')]) }, clusters: { 'c/rude:1': cluster(port) } });
  const res = await get(proxy.port, '/');
  assert.equal(res.status, 502);
});

test('504 when no response headers arrive within the route timeout', async () => {
  const pending: http.ServerResponse[] = [];
  const silent = await startServer(http.createServer((_req, res) => void pending.push(res)));
  cleanup.push(() => silent.close());
  use({ virtualHosts: { '*': vhost([route('Prefix', '/', 'c/s:1', 150)]) }, clusters: { 'c/s:1': cluster(silent.port) } });
  const res = await get(proxy.port, '/');
  assert.deepEqual([res.status, res.body], [504, 'upstream timeout\n']);
});

test('504 also when the request waits for a busy connection longer than the route timeout', async () => {
  // One connection per endpoint, held by a request that never gets an answer:
  // the next request queues in undici, where headersTimeout has not started.
  const onePool = new UpstreamPools({ connections: 1 });
  const pending: http.ServerResponse[] = [];
  const silent = await startServer(http.createServer((_req, res) => void pending.push(res)));
  const local = await startServer(http.createServer((req, res) => createForwarder({ getTable: () => table })(req, res, 'http')));
  const table = buildTable(sealSnapshot(content({ virtualHosts: { '*': vhost([route('Prefix', '/', 'c/s:1', 300)]) }, clusters: { 'c/s:1': cluster(silent.port) } })), undefined, { pools: onePool });
  cleanup.push(async () => { await local.close(); table.retire(); for (const r of pending) r.destroy(); await onePool.close(); await silent.close(); });
  const results = await Promise.all([get(local.port, '/first'), get(local.port, '/queued')]);
  assert.deepEqual(results.map((r) => r.status), [504, 504]);
});

test('a client that stops reading is cut after the send timeout, releasing the upstream', async () => {
  let upstreamClosed = false;
  const endless = await startServer(http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const chunk = Buffer.alloc(64 * 1024);
    const pump = () => { while (res.write(chunk)); };
    res.on('drain', pump);
    res.on('close', () => (upstreamClosed = true));
    pump();
  }));
  const slowHandler = createForwarder({ getTable: () => table, sendTimeoutMs: 200 });
  const local = await startServer(http.createServer((req, res) => slowHandler(req, res, 'http')));
  const table = buildTable(sealSnapshot(content({ virtualHosts: { '*': vhost([route('Prefix', '/', 'c/e:1')]) }, clusters: { 'c/e:1': cluster(endless.port) } })), undefined, { pools: proxy.pools });
  cleanup.push(async () => { await local.close(); table.retire(); await endless.close(); });
  // A raw client that reads the headers, then never reads again.
  const sock = net.connect(local.port, '127.0.0.1');
  sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await once(sock, 'data');
  sock.pause();
  try {
    for (let i = 0; i < 250 && !upstreamClosed; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(upstreamClosed, 'the upstream exchange was aborted within 5 s');
  } finally {
    sock.destroy();
  }
});

test('a client paused longer than the route\'s body idle bound is not cut by it: the upstream is not the slow side', async () => {
  // 4 MiB sent at once fills the socket buffers, so the proxy pauses the
  // upstream until the client reads; the idle bound (150 ms) must be off meanwhile.
  const size = 4 * 1024 * 1024;
  const big = await startServer(http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': String(size) });
    res.end(Buffer.alloc(size, 120));
  }));
  const idle = route('Prefix', '/', 'c/big:1');
  idle[1] = { ...idle[1], idleTimeoutMs: 150 };
  const handler = createForwarder({ getTable: () => table });
  const local = await startServer(http.createServer((req, res) => handler(req, res, 'http')));
  const table = buildTable(sealSnapshot(content({ virtualHosts: { '*': vhost([idle]) }, clusters: { 'c/big:1': cluster(big.port) } })), undefined, { pools: proxy.pools });
  cleanup.push(async () => { await local.close(); table.retire(); await big.close(); });
  const sock = net.connect(local.port, '127.0.0.1');
  try {
    sock.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    let got = 0;
    const first = await once(sock, 'data');
    got += (first[0] as Buffer).length;
    sock.pause();
    await new Promise((r) => setTimeout(r, 600));
    sock.on('data', (c: Buffer) => { got += c.length; });
    sock.resume();
    await Promise.race([once(sock, 'end'), new Promise((_, reject) => setTimeout(() => reject(new Error('no end within 10 s')), 10_000))]);
    assert.ok(got > size, `the whole body arrived after the pause (${got} bytes with headers, body ${size})`);
  } finally {
    sock.destroy();
  }
});

test('round-robin spreads requests over the endpoints', async () => {
  use({ virtualHosts: { '*': vhost([route('Prefix', '/', 'c/ab:1')]) }, clusters: { 'c/ab:1': cluster(a.port, b.port) } });
  const seen: string[] = [];
  for (let i = 0; i < 6; i++) seen.push(String((await get(proxy.port, '/')).headers['x-backend']));
  assert.deepEqual(seen.filter((s) => s === 'a').length, 3);
  assert.deepEqual(seen.filter((s) => s === 'b').length, 3);
  for (let i = 1; i < seen.length; i++) assert.notEqual(seen[i], seen[i - 1], 'alternates');
});

test('a refused connect is retried on another endpoint, body included', async () => {
  const dead = await freePort();
  use({ virtualHosts: { '*': vhost([route('Prefix', '/', 'c/mixed:1')]) }, clusters: { 'c/mixed:1': cluster(dead, b.port) } });
  for (let i = 0; i < 4; i++) {
    const res = await get(proxy.port, '/', { 'content-type': 'text/plain' }, 'POST', `body ${i}`);
    assert.equal(res.status, 200);
    const echoed = JSON.parse(res.body) as Echoed;
    assert.equal(echoed.backend, 'b');
    assert.equal(echoed.body, `body ${i}`);
  }
});

test('a client that goes away aborts the upstream exchange', async () => {
  let upstreamClosed: Promise<unknown> | undefined;
  const arrived = Promise.withResolvers<void>();
  const slow = await startServer(http.createServer((_req, res) => {
    res.writeHead(200);
    res.write('first');
    upstreamClosed = once(res, 'close');
    arrived.resolve();
  }));
  cleanup.push(() => slow.close());
  const t = use({ virtualHosts: { '*': vhost([route('Prefix', '/', 'c/slow:1')]) }, clusters: { 'c/slow:1': cluster(slow.port) } });
  const req = http.request({ host: '127.0.0.1', port: proxy.port, path: '/', agent: false });
  req.on('error', () => {});
  req.end();
  const [res] = await once(req, 'response') as [http.IncomingMessage];
  await once(res, 'data');
  await arrived.promise;
  const inflight = () => t.inflight;
  assert.equal(inflight(), 1);
  req.destroy();
  await upstreamClosed;
  // The pinned table sees the request leave.
  while (inflight() !== 0) await new Promise((r) => setImmediate(r));
});

test('Expect: 100-continue is answered by the proxy and not forwarded', async () => {
  use({ virtualHosts: { '*': vhost([route('Prefix', '/', 'c/a:1')]) }, clusters: { 'c/a:1': cluster(a.port) } });
  const req = http.request({ host: '127.0.0.1', port: proxy.port, path: '/', method: 'POST', agent: false, headers: { expect: '100-continue', 'content-length': '5' } });
  await once(req, 'continue');
  req.end('hello');
  const [res] = await once(req, 'response') as [http.IncomingMessage];
  let body = '';
  for await (const c of res) body += String(c);
  const echoed = JSON.parse(body) as Echoed;
  assert.equal(echoed.body, 'hello');
  assert.equal(echoed.headers.expect, undefined);
});

test('a request handler sees no websocket upgrade: an Upgrade header is stripped and the request forwarded plainly', async () => {
  use({ virtualHosts: { '*': vhost([route('Prefix', '/', 'c/a:1')]) }, clusters: { 'c/a:1': cluster(a.port) } });
  const res = await get(proxy.port, '/ws', { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' });
  assert.equal(res.status, 200);
  const echoed = JSON.parse(res.body) as Echoed;
  assert.equal(echoed.headers.upgrade, undefined);
  assert.equal(echoed.headers['sec-websocket-key'], 'dGhlIHNhbXBsZSBub25jZQ==');
});
