// The lean client's pool and request side (h1-pool.ts, h1-request.ts,
// h1-connection.ts): connections, queueing, keep-alive, connect failures,
// request bodies, the controller (abort, pause, resume), timeouts, close.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Readable } from 'node:stream';
import { CONNECT_FAILURES } from '../attempt.ts';
import { freePort, startServer } from '../testkit.ts';
import type { TestServer } from '../testkit.ts';
import { pool, rawServer, send, until } from './testing.ts';

/** A node:http backend that echoes method, url, framing headers and the body; counts connections. */
let connections = 0;
const echo: TestServer = await startServer(http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    res.end(JSON.stringify({ method: req.method, url: req.url, cl: req.headers['content-length'], te: req.headers['transfer-encoding'], host: req.headers.host, connection: req.headers.connection, x: req.headers['x-a'], body }));
  });
}).on('connection', () => connections++));
after(() => echo.close());

test('lean pool: sequential requests reuse one keep-alive connection; headers and host are sent', async () => {
  const p = pool(echo.port);
  const before = connections;
  try {
    for (let i = 0; i < 3; i++) {
      const o = await send(p, { path: `/r${i}?q=1`, headers: ['X-A', 'v'] });
      const seen = JSON.parse(o.body);
      assert.deepEqual([seen.url, seen.x, seen.host, seen.connection], [`/r${i}?q=1`, 'v', `127.0.0.1:${echo.port}`, 'keep-alive']);
    }
    assert.equal(connections - before, 1);
    assert.equal(p.connections, 1);
  } finally {
    await p.close();
  }
});

test('lean pool: request bodies: Buffer with its length, stream with a listed length, stream chunked without one', async () => {
  const p = pool(echo.port);
  try {
    const cases: Array<[string, Parameters<typeof send>[1], Record<string, unknown>]> = [
      ['buffer', { method: 'POST', body: Buffer.from('abc') }, { cl: '3', te: undefined, body: 'abc' }],
      ['stream, length listed', { method: 'PUT', headers: ['content-length', '5'], body: Readable.from([Buffer.from('ab'), Buffer.from('cde')]) }, { cl: '5', te: undefined, body: 'abcde' }],
      ['stream, no length', { method: 'POST', body: Readable.from([Buffer.from('ab'), Buffer.from('cde')]) }, { cl: undefined, te: 'chunked', body: 'abcde' }],
      ['empty stream, no length', { method: 'POST', body: Readable.from([]) }, { te: 'chunked', body: '' }],
      ['no body on POST', { method: 'POST' }, { cl: '0', body: '' }],
      ['no body on GET', { method: 'GET' }, { cl: undefined, te: undefined, body: '' }],
    ];
    for (const [name, opts, want] of cases) {
      const o = await send(p, opts);
      assert.equal(o.error, undefined, name);
      const seen = JSON.parse(o.body);
      for (const [k, v] of Object.entries(want)) assert.equal(seen[k], v, `${name}: ${k}`);
    }
  } finally {
    await p.close();
  }
});

test('lean pool: the request head on the wire, byte for byte (obs-text, empty and repeated values, a head larger than the line buffer)', async () => {
  const server = await rawServer((socket) => socket.write('HTTP/1.1 204 No Content\r\n\r\n'));
  const p = pool(server.port);
  try {
    const big = 'b'.repeat(20 * 1024);
    const cases: Array<[Parameters<typeof send>[1], string]> = [
      [{ path: '/p?q=\u00e9', headers: ['X-A', 'caf\u00e9\t!', 'x-empty', null as unknown as string, 'x-list', ['1', '2'] as unknown as string, 'Host', 'h.test'] },
        'GET /p?q=\u00e9 HTTP/1.1\r\nconnection: keep-alive\r\nX-A: caf\u00e9\t!\r\nx-empty: \r\nx-list: 1\r\nx-list: 2\r\nHost: h.test\r\n\r\n'],
      [{ method: 'HEAD', headers: ['Connection', 'close'] }, `HEAD / HTTP/1.1\r\nhost: 127.0.0.1:${server.port}\r\nconnection: close\r\n\r\n`],
      // Last: the test server takes the body for the start of the next head.
      [{ method: 'POST', headers: ['x-big', big], body: Buffer.from('xy') },
        `POST / HTTP/1.1\r\nhost: 127.0.0.1:${server.port}\r\nconnection: keep-alive\r\nx-big: ${big}\r\ncontent-length: 2\r\n\r\n`],
    ];
    for (const [opts, want] of cases) {
      const o = await send(p, opts);
      assert.equal(o.error, undefined);
      assert.equal(server.heads.at(-1), want);
    }
  } finally {
    await p.destroy();
    await server.close();
  }
});

test('lean pool: a streamed body longer than its Content-Length fails and is never sent past it', async () => {
  const server = await rawServer(() => {});
  const p = pool(server.port);
  try {
    const o = await send(p, { method: 'POST', headers: ['content-length', '2'], body: Readable.from([Buffer.from('abcd')]) });
    assert.equal(o.error?.code, 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH');
    assert.ok(!server.received.join('').includes('abcd'));
  } finally {
    await p.destroy();
    await server.close();
  }
});

test('lean pool: what could smuggle a request is refused synchronously with UND_ERR_INVALID_ARG', async () => {
  const p = pool(echo.port);
  try {
    const bad: Array<Parameters<typeof send>[1]> = [
      { headers: ['x-a', 'v\r\nx-b: w'] },
      { headers: ['x-a', 'v\0'] },
      { headers: ['x-a', 'v\u007f'] },
      { headers: ['x-a', 'v\u20ac'] },
      { headers: ['x-a', ['ok', 'v\nx-b: w']] as unknown as string[] },
      { headers: ['x a', 'v'] },
      { headers: ['transfer-encoding', 'chunked'] },
      { headers: ['host', 'a', 'Host', 'b'] },
      { path: '/a b' },
      { path: 'http://x/' },
      { method: 'GE T' },
    ];
    for (const opts of bad) {
      const pending = send(p, opts);
      let settled = false;
      void pending.then(() => { settled = true; });
      await Promise.resolve();
      assert.ok(settled, `reported synchronously: ${JSON.stringify(opts)}`);
      const o = await pending;
      assert.equal(o.error?.code, 'UND_ERR_INVALID_ARG', JSON.stringify(opts));
      assert.equal(o.started, false);
    }
    assert.equal(p.connections, 0, 'no connection was opened');
  } finally {
    await p.close();
  }
});

test('lean pool: beyond `connections` requests queue, in order, and all complete', async () => {
  const held: http.ServerResponse[] = [];
  const slow = await startServer(http.createServer((req, res) => { held.push(res); res.setHeader('x-url', req.url ?? ''); }));
  const p = pool(slow.port, { connections: 2 });
  try {
    const pending = [0, 1, 2, 3, 4].map((i) => send(p, { path: `/${i}` }));
    assert.ok(await until(() => held.length === 2));
    assert.equal(p.queued, 3);
    assert.equal(p.connections, 2);
    // Answer whatever arrives until all five are done.
    assert.ok(await until(() => {
      while (held.length > 0) held.shift()!.end('ok');
      return p.queued === 0 && p.connections === 2;
    }));
    const outs = await Promise.all(pending.map((x) => x.then((o) => { while (held.length > 0) held.shift()!.end('ok'); return o; })));
    assert.deepEqual(outs.map((o) => o.headers['x-url']), ['/0', '/1', '/2', '/3', '/4']);
  } finally {
    for (const r of held) r.end();
    await p.close();
    await slow.close();
  }
});

test('lean pool: connect refused reports ECONNREFUSED before onRequestStart (a connect failure)', async () => {
  const p = pool(await freePort());
  try {
    const o = await send(p, {});
    assert.equal(o.error?.code, 'ECONNREFUSED');
    assert.equal(o.started, false);
    assert.ok(CONNECT_FAILURES.has(o.error.code));
  } finally {
    await p.close();
  }
});

test('lean pool: a connect slower than connectTimeoutMs fails with UND_ERR_CONNECT_TIMEOUT', async () => {
  const p = pool(echo.port, { connectTimeoutMs: 5 });
  try {
    const pending = send(p, {});
    // Block the loop past the timeout: the timers phase then runs before the
    // poll phase that would see the connect complete.
    const end = Date.now() + 30;
    while (Date.now() < end) { /* busy */ }
    const o = await pending;
    assert.equal(o.error?.code, 'UND_ERR_CONNECT_TIMEOUT');
    assert.equal(o.started, false);
    assert.ok(CONNECT_FAILURES.has(o.error.code));
  } finally {
    await p.close();
  }
});

test('lean pool: a connection the server closed while idle is never picked; the next request gets a fresh one', async () => {
  const server = await rawServer((s) => { s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'); setTimeout(() => s.end(), 10); });
  const p = pool(server.port);
  try {
    assert.equal((await send(p, {})).body, 'ok');
    assert.ok(await until(() => p.connections === 0), 'the ended connection left the pool');
    assert.equal((await send(p, {})).body, 'ok');
    assert.equal(server.connections, 2);
  } finally {
    await p.destroy();
    await server.close();
  }
});

test('lean pool: Keep-Alive hints: timeout=1 (under the 2 s margin) is not reused; timeout=3 closes after ~1 s, also on a warm connection', async () => {
  const hint = { value: 'timeout=1' };
  const server = await rawServer((s) => s.write(`HTTP/1.1 200 OK\r\nKeep-Alive: ${hint.value}\r\nContent-Length: 2\r\n\r\nok`));
  const p = pool(server.port, { keepAliveTimeoutMs: 60_000 });
  try {
    await send(p, {});
    await send(p, {});
    assert.equal(server.connections, 2, 'timeout=1 leaves no time to reuse');
    // A connection idle-armed for 60 s, then told timeout=3 by its next response.
    hint.value = 'timeout=60';
    await send(p, {});
    hint.value = 'timeout=3';
    await send(p, {});
    assert.equal(server.connections, 3, 'the last two on one connection');
    assert.equal(p.connections, 1);
    // The pool's own idle time is 60 s: only the hint can close it this soon.
    assert.ok(await until(() => p.connections === 0, 10_000), 'closed by the hint');
  } finally {
    await p.destroy();
    await server.close();
  }
});

test('lean pool: idle connections close after keepAliveTimeoutMs', async () => {
  const p = pool(echo.port, { keepAliveTimeoutMs: 50 });
  try {
    await send(p, {});
    assert.equal(p.connections, 1);
    assert.ok(await until(() => p.connections === 0));
  } finally {
    await p.close();
  }
});

test('lean pool: abort in onRequestStart sends nothing and keeps the connection; abort after the response started fails once', async () => {
  const server = await rawServer((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
  const p = pool(server.port);
  try {
    await send(p, {});
    const early = await send(p, { path: '/early' }, { start: (c) => c.abort(new Error('no thanks')) });
    assert.deepEqual(early.events, ['start', 'error Error']);
    assert.equal(early.error?.message, 'no thanks');
    assert.ok(!server.heads.some((h) => h.includes('/early')), 'nothing written');
    const late = await send(p, { path: '/late' }, { response: (c) => c.abort(new Error('enough')) });
    assert.deepEqual(late.events, ['start', 'response 200', 'error Error']);
    assert.equal((await send(p, {})).body, 'ok');
    assert.equal(server.connections, 2, 'the early abort kept its connection, the late one did not');
  } finally {
    await p.destroy();
    await server.close();
  }
});

test('lean pool: pause holds body chunks until resume; the end waits for them', async () => {
  const server = await rawServer((s) => {
    s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n');
    setTimeout(() => s.write('1\r\nb\r\n1\r\nc\r\n0\r\n\r\n'), 30);
  });
  const p = pool(server.port);
  try {
    let delivered = 0;
    let whilePaused = -1;
    const o = await send(p, {}, {
      data: (c) => {
        if (delivered++ > 0) return;
        c.pause();
        assert.equal(c.paused, true);
        setTimeout(() => {
          whilePaused = delivered;
          c.resume();
        }, 100);
      },
    });
    assert.equal(whilePaused, 1, 'nothing delivered while paused');
    assert.equal(o.body, 'abc');
    assert.equal(o.events.at(-1), 'end');
  } finally {
    await p.destroy();
    await server.close();
  }
});

test('lean pool: headersTimeout and bodyTimeout (as mirror.ts passes them) fail with undici codes', async () => {
  const server = await rawServer((s, head) => {
    if (head.includes('/body')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
  });
  const p = pool(server.port);
  try {
    const h = await send(p, { path: '/head', headersTimeout: 50, bodyTimeout: 50 });
    assert.equal(h.error?.code, 'UND_ERR_HEADERS_TIMEOUT');
    const b = await send(p, { path: '/body', headersTimeout: 50, bodyTimeout: 50 });
    assert.equal(b.error?.code, 'UND_ERR_BODY_TIMEOUT');
    assert.deepEqual(b.events, ['start', 'response 200', 'data', 'error UND_ERR_BODY_TIMEOUT']);
  } finally {
    await p.destroy();
    await server.close();
  }
});

test('lean pool: a handler that throws gets one onResponseError and the pool goes on', async () => {
  const p = pool(echo.port);
  try {
    const o = await send(p, {}, { data: () => { throw new Error('handler bug'); } });
    assert.deepEqual(o.events, ['start', 'response 200', 'data', 'error Error']);
    assert.equal((await send(p, {})).error, undefined);
  } finally {
    await p.close();
  }
});

test('lean pool: a request body that breaks mid-stream fails the request and closes its connection', async () => {
  const server = await rawServer(() => {});
  const p = pool(server.port);
  try {
    const body = new Readable({ read() {} });
    const pending = send(p, { method: 'POST', body });
    body.push(Buffer.from('abc'));
    assert.ok(await until(() => server.received.join('').includes('abc')));
    body.destroy(new Error('client went away'));
    const o = await pending;
    assert.equal(o.error?.message, 'client went away');
    assert.ok(await until(() => p.connections === 0));
  } finally {
    await p.destroy();
    await server.close();
  }
});

test('lean pool: close() lets running and queued requests finish, then refuses; destroy() fails what is left', async () => {
  const held: http.ServerResponse[] = [];
  const slow = await startServer(http.createServer((_req, res) => { held.push(res); }));
  const p = pool(slow.port, { connections: 1 });
  try {
    const running = send(p, { path: '/1' });
    const queued = send(p, { path: '/2' });
    assert.ok(await until(() => held.length === 1));
    const closed = p.close();
    assert.equal((await send(p, {})).error?.code, 'UND_ERR_CLOSED');
    held.shift()!.end('one');
    assert.ok(await until(() => held.length === 1));
    held.shift()!.end('two');
    assert.deepEqual([(await running).body, (await queued).body], ['one', 'two']);
    await closed;
    assert.equal(p.connections, 0);

    const q = pool(slow.port, { connections: 1 });
    const a = send(q, { path: '/a' });
    const b = send(q, { path: '/b' });
    assert.ok(await until(() => held.length === 1));
    await q.destroy();
    assert.deepEqual([(await a).error?.code, (await b).error?.code], ['UND_ERR_DESTROYED', 'UND_ERR_DESTROYED']);
  } finally {
    for (const r of held) r.end();
    await slow.close();
  }
});

test('lean pool: an answer before the streamed body ended: reported whole, the body stream destroyed, the connection closed', async () => {
  const server = await rawServer((s) => s.write('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n'));
  const p = pool(server.port);
  try {
    const body = new Readable({ read() {} });
    body.push(Buffer.from('first part'));
    const o = await send(p, { method: 'POST', body });
    assert.deepEqual(o.events, ['start', 'response 413', 'end']);
    assert.ok(body.destroyed);
    assert.ok(await until(() => p.connections === 0));
  } finally {
    await p.destroy();
    await server.close();
  }
});

test('lean pool: a handler throwing in data delivered by resume() fails the request instead of throwing to the caller', { timeout: 10_000 }, async () => {
  // Both chunks in one read: the second is held while paused, and delivered by resume().
  const server = await rawServer((s) => s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n1\r\nb\r\n0\r\n\r\n'));
  const p = pool(server.port);
  try {
    let calls = 0;
    let threw: unknown;
    const o = await send(p, {}, {
      data: (c) => {
        if (calls++ === 0) {
          c.pause();
          setTimeout(() => { try { c.resume(); } catch (err) { threw = err; } }, 60);
          return;
        }
        throw new Error('handler bug');
      },
    });
    assert.equal(threw, undefined);
    assert.equal(o.error?.message, 'handler bug');
  } finally {
    await p.destroy();
    await server.close();
  }
});

test('lean pool: a port net.connect refuses is reported to the handler', async () => {
  const p = pool(70_000);
  const o = await send(p, {});
  assert.equal(o.error?.name, 'RangeError');
  assert.equal(p.connections, 0);
  await p.close();
});
