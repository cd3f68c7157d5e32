// H2Response on its own, over a plain node:http2 server (h2c on loopback):
// the header list it hands to Node, the held first chunk, trailers.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { H2Response } from './h2-stream.ts';
import { h2request } from './testdata/h2.ts';

let server: http2.Http2Server;
let session: http2.ClientHttp2Session;
/** What each test's handler does with the response of the stream at :path. */
const handlers = new Map<string, (res: H2Response) => void>();

before(async () => {
  server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const res = new H2Response(stream);
    handlers.get(headers[':path'] as string)!(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  session = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  session.on('error', () => {});
  await once(session, 'connect');
});

after(async () => {
  session.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function get(path: string, handler: (res: H2Response) => void) {
  handlers.set(path, handler);
  return h2request(session, { ':path': path });
}

test('writeHead: repeated names stay repeated, connection-specific ones are dropped, names lowercased', async () => {
  const r = await get('/repeat', (res) => {
    res.writeHead(201, ['Set-Cookie', 'a=1', 'set-cookie', 'b=2', 'Connection', 'x', 'keep-alive', '5', 'X-One', 'v']);
    res.end('ok');
  });
  assert.equal(r.headers[':status'], 201);
  assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
  assert.equal(r.headers['x-one'], 'v');
  assert.equal(r.headers.connection, undefined);
  assert.equal(r.headers['keep-alive'], undefined);
  assert.equal(r.body, 'ok');
});

test('writeHead throws on an invalid name or value having set nothing; held names can be listed and removed', async () => {
  const seen: unknown[] = [];
  const r = await get('/invalid', (res) => {
    res.writeHead(200, { 'x-kept': 'k', 'x-gone': 'g', 'x-gone2': 'g' });
    seen.push(res.getHeaderNames());
    res.removeHeader('X-Gone');
    seen.push(res.getHeaderNames());
    assert.throws(() => res.writeHead(502, ['x-bad', 'a\r\nb']), { code: 'ERR_INVALID_CHAR' });
    assert.throws(() => res.writeHead(502, ['bad name', 'v']), { code: 'ERR_INVALID_HTTP_TOKEN' });
    seen.push(res.getHeaderNames(), res.statusCode);
    res.end();
  });
  assert.deepEqual(seen, [['x-kept', 'x-gone', 'x-gone2'], ['x-kept', 'x-gone2'], ['x-kept', 'x-gone2'], 200]);
  assert.equal(r.headers['x-kept'], 'k');
  assert.equal(r.headers['x-gone'], undefined);
  assert.equal(r.headers['x-gone2'], 'g');
});

test('a chunk, trailers and the end in one turn: body, then trailers', async () => {
  const r = await get('/trailers', (res) => {
    res.writeHead(200, ['content-type', 'application/grpc']);
    res.write('message');
    res.addTrailers({ 'grpc-status': '0', 'content-length': '3' });
    res.end();
  });
  assert.equal(r.body, 'message');
  assert.equal(r.trailers?.['grpc-status'], '0');
  assert.equal(r.trailers['content-length'], undefined, 'framing fields are never trailers');
});

test('chunks over several turns arrive in order; end() with a last chunk after a held one', async () => {
  const r = await get('/turns', (res) => {
    res.writeHead(200, ['content-type', 'text/plain']);
    res.write('a');
    setImmediate(() => {
      res.write('b');
      res.write('c');
      setImmediate(() => res.end('d'));
    });
  });
  assert.equal(r.body, 'abcd');
  assert.equal(r.trailers, undefined);
  const same = await get('/same-turn', (res) => {
    res.writeHead(200);
    res.write('held ');
    res.end('last');
  });
  assert.equal(same.body, 'held last');
});

test('headers only, written without writeHead: the status set, one HEADERS frame with END_STREAM', async () => {
  const r = await get('/bare', (res) => {
    res.statusCode = 204;
    res.end();
  });
  assert.equal(r.headers[':status'], 204);
  assert.notEqual(r.flags & http2.constants.NGHTTP2_FLAG_END_STREAM, 0);
});
