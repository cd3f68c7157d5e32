import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ResponseReader } from './http1.ts';

const ok = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!';

test('complete responses come out, split anywhere across chunks', () => {
  const all = Buffer.from(ok + ok.replace('200 OK', '503 Service Unavailable') + 'HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n');
  for (const step of [1, 7, all.length]) {
    const r = new ResponseReader();
    const got = [];
    for (let i = 0; i < all.length; i += step) got.push(...r.push(all.subarray(i, i + step)));
    assert.deepEqual(got, [{ status: 200, close: false }, { status: 503, close: false }, { status: 204, close: true }]);
    assert.equal(r.partial, false);
  }
});

test('chunked bodies are skipped to the last chunk', () => {
  const chunked = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHello\r\n8\r\n, world!\r\n0\r\n\r\n' + ok);
  for (const step of [1, 3, chunked.length]) {
    const r = new ResponseReader();
    const got = [];
    for (let i = 0; i < chunked.length; i += step) got.push(...r.push(chunked.subarray(i, i + step)));
    assert.deepEqual(got.map((x) => x.status), [200, 200]);
  }
});

test('a half-received response is partial; garbage throws', () => {
  const r = new ResponseReader();
  assert.deepEqual(r.push(Buffer.from(ok.slice(0, 20))), []);
  assert.equal(r.partial, true);
  assert.throws(() => new ResponseReader().push(Buffer.from('SSH-2.0-OpenSSH\r\n\r\n')), /not an HTTP/);
});
