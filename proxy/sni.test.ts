import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { MAX_HELLO_BYTES, readClientHello } from './sni.ts';

/** The first bytes a real Node TLS client sends (its ClientHello), captured by a plain TCP server. */
async function capturedHello(options: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const got = new Promise<Buffer>((resolve) => {
    server.once('connection', (s) => {
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (readClientHello(buf).kind !== 'partial') { resolve(buf); s.destroy(); }
      });
    });
  });
  const client = tls.connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, rejectUnauthorized: false, ...options });
  client.on('error', () => {});
  const hello = await got;
  client.destroy();
  server.close();
  return hello;
}

/** The same ClientHello re-framed as two handshake records (a split some clients send). */
function splitRecords(hello: Buffer, at: number): Buffer {
  const body = hello.subarray(5);
  const rec = (part: Buffer) => Buffer.concat([Buffer.from([22, 3, 1, part.length >> 8, part.length & 0xff]), part]);
  return Buffer.concat([rec(body.subarray(0, at)), rec(body.subarray(at))]);
}

test('the server name of a real ClientHello, lower-cased', async () => {
  const hello = await capturedHello({ servername: 'DB.Example.com' });
  assert.deepEqual(readClientHello(hello), { kind: 'hello', serverName: 'db.example.com' });
});

test('a ClientHello without SNI has no server name', async () => {
  const hello = await capturedHello({ servername: '' });
  assert.deepEqual(readClientHello(hello), { kind: 'hello', serverName: undefined });
});

test('every prefix of a ClientHello is partial; the whole is read', async () => {
  const hello = await capturedHello({ servername: 'a.example.com' });
  for (let n = 0; n < hello.length; n++) assert.equal(readClientHello(hello.subarray(0, n)).kind, 'partial', `${n} bytes`);
  assert.equal(readClientHello(hello).kind, 'hello');
});

test('a ClientHello split over two records (even inside its header) is reassembled', async () => {
  const hello = await capturedHello({ servername: 'split.example.com' });
  for (const at of [2, 40, hello.length - 20]) {
    assert.deepEqual(readClientHello(splitRecords(hello, at)), { kind: 'hello', serverName: 'split.example.com' }, `split at ${at}`);
  }
});

test('bytes that are not a ClientHello are invalid, with a reason', () => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n'), /not a TLS handshake record/],
    ['an SSLv2-style hello', Buffer.from([0x80, 0x2e, 0x01, 0x03, 0x01, 0, 0]), /not a TLS handshake record/],
    ['a record of another version family', Buffer.from([22, 2, 0, 0, 4, 1, 0, 0, 0]), /not a TLS record version/],
    ['an empty record', Buffer.from([22, 3, 1, 0, 0]), /empty handshake record/],
    ['a ServerHello', Buffer.from([22, 3, 3, 0, 4, 2, 0, 0, 0]), /not a ClientHello/],
    ['a hello over the limit', Buffer.from([22, 3, 3, 0, 4, 1, 0x00, 0x40, 0x01]), /too large/],
    ['a record over 16 KiB', Buffer.from([22, 3, 3, 0x40, 0x01, 1]), /record over 16 KiB/],
    ['a truncated hello body', Buffer.from([22, 3, 3, 0, 6, 1, 0, 0, 2, 3, 3]), /truncated/],
  ];
  for (const [name, bytes, reason] of cases) {
    const r = readClientHello(bytes);
    assert.equal(r.kind, 'invalid', name);
    assert.match((r as { reason: string }).reason, reason, name);
  }
});

test('a corrupted server_name extension is invalid', async () => {
  const hello = Buffer.from(await capturedHello({ servername: 'abc.example.com' }));
  const at = hello.indexOf('abc.example.com');
  hello[at] = 0x20; // a space: not a DNS name
  assert.deepEqual(readClientHello(hello), { kind: 'invalid', reason: 'server_name is not a DNS name' });
});

test('garbage never reads past the limit', () => {
  const big = Buffer.alloc(MAX_HELLO_BYTES * 2, 0);
  big.set([22, 3, 3, 0xff, 0xff]);
  assert.equal(readClientHello(big).kind, 'invalid');
});
