// Request smuggling and malformed framing through a real listener (the
// server options of listeners.ts, not a bare http.Server): each attempt is
// refused with 400 or the connection is closed, and nothing of it, above all
// not the request hidden inside it, reaches the backend.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { sealSnapshot } from '../api/version.ts';
import { DataPlane } from './apply.ts';
import type { TestServer } from './testkit.ts';
import { cluster, content, freePort, route, startServer, testEngine, vhost } from './testkit.ts';

let dp: DataPlane;
let port: number;
let backend: TestServer;
/** Every request line the backend saw, in order. */
const seen: string[] = [];

before(async () => {
  backend = await startServer(http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => res.end('ok'));
  }));
  dp = new DataPlane({ http1Engine: testEngine(), limits: { headersTimeoutMs: 600 } });
  port = await freePort();
  const applied = await dp.apply(sealSnapshot(content({
    listeners: { http: { protocol: 'http', address: '127.0.0.1', port } },
    virtualHosts: { '*': vhost([route('Prefix', '/', 'c/b:1')]) },
    clusters: { 'c/b:1': cluster(backend.port) },
  })));
  assert.ok(applied.ok);
});

after(async () => {
  await dp.close();
  await backend.close();
});

/** Sends `bytes` on a new connection; everything received until close, or until `waitMs` passes. */
function exchange(bytes: string, waitMs = 1_500): Promise<{ data: string; closed: boolean }> {
  return new Promise((resolve) => {
    let data = '';
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes, 'latin1'));
    const timer = setTimeout(() => { socket.destroy(); resolve({ data, closed: false }); }, waitMs);
    socket.on('data', (c: Buffer) => { data += c.toString('latin1'); });
    socket.on('error', () => {});
    socket.on('close', () => { clearTimeout(timer); resolve({ data, closed: true }); });
  });
}

/** A request the attacker hopes the backend reads as a second, separate one. */
const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
const body = (s: string) => `${s.length.toString(16)}\r\n${s}\r\n0\r\n\r\n`;

const cases: Array<[string, string]> = [
  ['Content-Length and Transfer-Encoding together (CL.TE)',
    `POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  ['Transfer-Encoding and Content-Length together (TE.CL)',
    `POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n${body(SMUGGLED)}`],
  ['two different Content-Lengths', `POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`],
  ['a Content-Length list', `POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0, ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`],
  ['a signed Content-Length', `POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: +0\r\n\r\n${SMUGGLED}`],
  ['a negative Content-Length', `POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n${SMUGGLED}`],
  ['Transfer-Encoding not ending in chunked', `POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n${body(SMUGGLED)}`],
  ['an unknown Transfer-Encoding', `POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n${body(SMUGGLED)}`],
  ['whitespace before the colon of Transfer-Encoding', `POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n${body(SMUGGLED)}`],
  ['an obs-folded Transfer-Encoding', `POST /a HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n\r\n${body(SMUGGLED)}`],
  ['obs-fold in a header value', `GET /a HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\t2\r\n\r\n${SMUGGLED}`],
  ['bare LF line endings', `GET /a HTTP/1.1\nHost: x\n\n${SMUGGLED}`],
  ['a bare CR in a header value', `GET /a HTTP/1.1\r\nHost: x\r\nX-A: 1\r2\r\n\r\n${SMUGGLED}`],
  ['a NUL in a header value', `GET /a HTTP/1.1\r\nHost: x\r\nX-A: 1\u00002\r\n\r\n${SMUGGLED}`],
  ['a space in a header name', `GET /a HTTP/1.1\r\nHost: x\r\nX A: 1\r\n\r\n${SMUGGLED}`],
  ['a non-token header name', `GET /a HTTP/1.1\r\nHost: x\r\nX(A): 1\r\n\r\n${SMUGGLED}`],
  ['a chunk size that is not hex', `POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n${SMUGGLED}`],
  ['a chunk size that overflows', `POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nabc\r\n0\r\n\r\n${SMUGGLED}`],
  ['a chunk without its CRLF', `POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX${SMUGGLED}`],
  ['a chunk extension with a bare LF', `POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\nabc\r\n0\r\n\r\n${SMUGGLED}`],
  ['no Host header', `GET /a HTTP/1.1\r\n\r\n`],
  ['a space in the target', `GET /a b HTTP/1.1\r\nHost: x\r\n\r\n`],
  ['an unknown HTTP version', `GET /a HTTP/1.2\r\nHost: x\r\n\r\n`],
];

test('smuggling attempts and malformed framing: 400 or closed, never forwarded', async (t) => {
  for (const [name, bytes] of cases) {
    await t.test(name, async () => {
      const before = seen.length;
      const { data, closed } = await exchange(bytes);
      const status = Number(data.split(' ', 2)[1] ?? 0);
      assert.ok(status === 400 || (data === '' && closed), `answered ${JSON.stringify(data.slice(0, 60))}, closed=${closed}`);
      assert.ok(data === '' || closed, 'the connection is closed after a framing error');
      assert.deepEqual(seen.slice(before), [], 'the backend saw nothing');
    });
  }
});

// Well framed but refused by the proxy itself: 400, the connection stays
// usable (its framing is intact), and the next request on it is served.
const refused: Array<[string, string]> = [
  ['two Host headers', 'GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n'],
  ['a Host that is not host[:port]', 'GET /a HTTP/1.1\r\nHost: x/y@z\r\n\r\n'],
  ['an absolute-form target', 'GET http://evil/a HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['an asterisk-form target', 'GET * HTTP/1.1\r\nHost: x\r\n\r\n'],
];

test('ambiguous requests are refused with 400 by the proxy, never forwarded', async (t) => {
  for (const [name, bytes] of refused) {
    await t.test(name, async () => {
      const before = seen.length;
      const { data } = await exchange(`${bytes}GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.match(data, /^HTTP\/1.1 400 /, data.slice(0, 80));
      assert.deepEqual(seen.slice(before), ['GET /after'], 'only the next, valid request was forwarded');
    });
  }
});

test('the same connection framed correctly is forwarded (the table above is not refusing everything)', async () => {
  const before = seen.length;
  const { data } = await exchange(`POST /ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body('abc')}GET /ok2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  assert.equal(data.match(/HTTP\/1.1 200/g)?.length, 2, data);
  assert.deepEqual(seen.slice(before), ['POST /ok', 'GET /ok2']);
});

test('slowloris: a client dribbling its headers is cut at the header timeout (408), whatever it keeps sending', async () => {
  const t0 = Date.now();
  const result = await new Promise<{ data: string; ms: number }>((resolve) => {
    let data = '';
    const socket = net.connect(port, '127.0.0.1');
    const bytes = 'GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(200);
    let i = 0;
    const drip = setInterval(() => { if (!socket.destroyed) socket.write(bytes[i++ % bytes.length]!); }, 50);
    socket.on('data', (c: Buffer) => { data += c.toString('latin1'); });
    socket.on('error', () => {});
    socket.on('close', () => { clearInterval(drip); resolve({ data, ms: Date.now() - t0 }); });
    setTimeout(() => socket.destroy(), 10_000);
  });
  assert.match(result.data, /^HTTP\/1.1 408 /);
  assert.ok(result.ms >= 550 && result.ms < 5_000, `cut after ${result.ms} ms`);
});
