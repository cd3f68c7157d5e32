// The lean client's reading of responses (h1-connection.ts): framing, interim
// responses, headers and trailers, and every way a response can be broken,
// each against a raw server sending exact bytes. Failures must carry the codes
// attempt.ts and retry.ts act on, so each case also checks what the proxy
// would answer (classify(), RESET_CODES).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import { classify } from '../attempt.ts';
import { ClientError } from '../errors.ts';
import { RESET_CODES } from '../retry.ts';
import { pool, rawServer, send } from './testing.ts';
import type { Outcome } from './testing.ts';

interface Case {
  name: string;
  method?: string;
  /** What the server does with each request head. */
  answer: (socket: net.Socket) => void;
  check: (o: Outcome) => void;
  /** Whether the connection is reused for a second request (the same case answers it). */
  reused?: boolean;
}

const ok = (body: string) => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;

const cases: Case[] = [
  {
    name: 'Content-Length body; names lower-cased, repeated names as arrays',
    answer: (s) => s.write('HTTP/1.1 200 OK\r\nX-Mixed-Case: a\r\nSet-Cookie: 1\r\nSet-Cookie: 2\r\nContent-Length: 5\r\n\r\nhello'),
    check: (o) => {
      assert.deepEqual(o.events, ['start', 'response 200', 'data', 'end']);
      assert.equal(o.body, 'hello');
      assert.deepEqual(o.headers, { 'x-mixed-case': 'a', 'set-cookie': ['1', '2'], 'content-length': '5' });
    },
    reused: true,
  },
  {
    name: 'chunked body with trailers',
    answer: (s) => s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\nGrpc-Status: 0\r\n\r\n'),
    check: (o) => {
      assert.equal(o.body, 'abcde');
      assert.deepEqual(o.trailers, { 'x-t': '1', 'grpc-status': '0' });
    },
    reused: true,
  },
  {
    name: 'a body read to the close (no length)',
    answer: (s) => { s.write('HTTP/1.1 200 OK\r\n\r\nuntil '); setTimeout(() => s.end('the close'), 20); },
    check: (o) => assert.equal(o.body, 'until the close'),
    reused: false,
  },
  {
    name: '204 has no body',
    answer: (s) => s.write('HTTP/1.1 204 No Content\r\n\r\n'),
    check: (o) => assert.deepEqual(o.events, ['start', 'response 204', 'end']),
    reused: true,
  },
  {
    name: '304 has no body',
    answer: (s) => s.write('HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n'),
    check: (o) => assert.deepEqual(o.events, ['start', 'response 304', 'end']),
    reused: true,
  },
  {
    name: '304 with a Content-Length: no body read, connection not reused',
    answer: (s) => s.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n'),
    check: (o) => { assert.equal(o.status, 304); assert.deepEqual(o.events, ['start', 'response 304', 'end']); },
    reused: false,
  },
  {
    name: 'HEAD: the length is not read as a body; the connection closes (as undici)',
    method: 'HEAD',
    answer: (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n'),
    check: (o) => { assert.equal(o.headers['content-length'], '5'); assert.deepEqual(o.events, ['start', 'response 200', 'end']); },
    reused: false,
  },
  {
    name: '100 and 103 are skipped, not reported',
    answer: (s) => s.write(`HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n${ok('ok')}`),
    check: (o) => { assert.deepEqual(o.events, ['start', 'response 200', 'data', 'end']); assert.equal(o.headers.link, undefined); },
    reused: true,
  },
  {
    name: 'Connection: close is honoured',
    answer: (s) => s.write('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok'),
    check: (o) => assert.equal(o.body, 'ok'),
    reused: false,
  },
  {
    name: 'HTTP/1.0 without keep-alive is not reused',
    answer: (s) => s.write('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok'),
    check: (o) => assert.equal(o.body, 'ok'),
    reused: false,
  },
  {
    name: 'bytes after the response: answered, never reused',
    answer: (s) => s.write(`${ok('ok')}HTTP/1.1 200 OK\r\n`),
    check: (o) => assert.equal(o.body, 'ok'),
    reused: false,
  },
  {
    name: 'Content-Length longer than the body, then close',
    answer: (s) => s.end('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 10\r\n\r\nabc'),
    check: (o) => {
      assert.equal(o.error?.code, 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH');
      assert.equal(classify(o.error!), ClientError.UPSTREAM_INVALID);
    },
  },
  {
    name: 'a keep-alive response cut mid-body by a close',
    answer: (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'),
    check: (o) => { assert.equal(o.error?.code, 'UND_ERR_SOCKET'); assert.ok(RESET_CODES.has(o.error.code)); assert.equal(o.body, 'abc'); },
  },
  {
    name: 'a chunked response cut mid-body by a reset',
    answer: (s) => { s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n'); setTimeout(() => s.resetAndDestroy(), 20); },
    check: (o) => { assert.ok(RESET_CODES.has(o.error?.code ?? ''), o.error?.code); assert.deepEqual(o.events.slice(0, 3), ['start', 'response 200', 'data']); },
  },
  {
    name: 'closed before any response',
    answer: (s) => s.end(),
    check: (o) => { assert.equal(o.error?.code, 'UND_ERR_SOCKET'); assert.ok(o.started); assert.equal(classify(o.error!), ClientError.UPSTREAM_CONNECT); },
  },
  {
    name: 'a response head over 16 KiB',
    answer: (s) => s.write(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\nContent-Length: 0\r\n\r\n`),
    check: (o) => { assert.equal(o.error?.code, 'UND_ERR_HEADERS_OVERFLOW'); assert.equal(classify(o.error!), ClientError.UPSTREAM_INVALID); },
  },
  {
    name: 'an unparsable status line',
    answer: (s) => s.write('HTTP/1.1 abc\r\n\r\n'),
    check: (o) => {
      assert.equal(o.error?.name, 'HTTPParserError');
      assert.match(o.error?.code ?? '', /^HPE_/);
      assert.equal(classify(o.error!), ClientError.UPSTREAM_INVALID);
    },
  },
  {
    name: 'Content-Length and Transfer-Encoding together',
    answer: (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'),
    check: (o) => assert.equal(o.error?.name, 'HTTPParserError'),
  },
  {
    name: 'an unasked-for 101',
    answer: (s) => s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n'),
    check: (o) => { assert.equal(o.error?.code, 'UND_ERR_SOCKET'); assert.deepEqual(o.events, ['start', 'error UND_ERR_SOCKET']); },
  },
];

for (const c of cases) {
  test(`lean client response: ${c.name}`, async () => {
    const server = await rawServer((s) => c.answer(s));
    const p = pool(server.port);
    try {
      const first = await send(p, { method: c.method ?? 'GET' });
      c.check(first);
      if (c.reused === undefined) return;
      // A second request: on the same connection, or on a new one.
      const second = await send(p, { method: c.method ?? 'GET' });
      c.check(second);
      assert.equal(server.connections, c.reused ? 1 : 2, 'connections used');
    } finally {
      await p.destroy();
      await server.close();
    }
  });
}

test('lean client response: a response split at every byte reads the same', async () => {
  const bytes = 'HTTP/1.1 200 OK\r\nA: 1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 2\r\n\r\n';
  // Every second split point keeps the run short; each piece is its own write with a pause.
  for (let cut = 1; cut < bytes.length; cut += 2) {
    const server = await rawServer((s) => { s.write(bytes.slice(0, cut)); setTimeout(() => s.write(bytes.slice(cut)), 2); });
    const p = pool(server.port);
    try {
      const o = await send(p, {});
      assert.deepEqual([o.body, o.headers.a, o.trailers?.t], ['abc', '1', '2'], `cut at ${cut}`);
    } finally {
      await p.destroy();
      await server.close();
    }
  }
});
