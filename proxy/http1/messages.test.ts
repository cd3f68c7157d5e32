// NetRequest and NetResponse against node:http on the points a client or the
// proxy can observe: how repeated request headers are joined, and when a
// request stream ends.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { NetRequest } from './messages.ts';
import type { MessageOwner } from './messages.ts';

const owner: MessageOwner = {
  socket: new net.Socket(),
  keepAliveSeconds: 5,
  resumeBody() {},
  responseEnded() {},
  responseDestroyed() {},
};

/** The headers object node:http builds from `fields`. */
async function nodeHeaders(fields: Array<[string, string]>): Promise<http.IncomingHttpHeaders> {
  const server = http.createServer((req, res) => res.end(JSON.stringify(req.headers)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => s.write(`GET / HTTP/1.1\r\n${fields.map(([n, v]) => `${n}: ${v}\r\n`).join('')}Connection: close\r\n\r\n`));
      let raw = '';
      s.on('data', (c: Buffer) => { raw += String(c); });
      s.on('end', () => resolve(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as http.IncomingHttpHeaders));
      s.on('error', reject);
    });
  } finally {
    server.close();
  }
}

test('repeated request headers are joined as node:http joins them', async () => {
  const fields: Array<[string, string]> = [
    ['Host', 'a.test'], ['host', 'b.test'], ['X-List', '1'], ['x-list', '2'], ['Cookie', 'a=1'], ['cookie', 'b=2'],
    ['Set-Cookie', 's=1'], ['Set-Cookie', 's=2'], ['Content-Type', 'text/plain'], ['Content-Type', 'text/html'],
    ['User-Agent', 'one'], ['User-Agent', 'two'], ['Authorization', 'x'], ['Authorization', 'y'], ['Accept', 'a'], ['Accept', 'b'],
    ['Referer', 'r1'], ['Referer', 'r2'], ['X-Empty', ''], ['X-Empty', 'v'],
  ];
  const req = new NetRequest(owner);
  for (const [n, v] of fields) req.addHeader(n, v);
  const node = await nodeHeaders(fields);
  delete node.connection;
  assert.deepEqual({ ...req.headers }, node);
  assert.deepEqual(req.rawHeaders, fields.flat());
});

test('a request without a body ends for a reader, whether it reads before or after completion', async () => {
  for (const readFirst of [true, false]) {
    const req = new NetRequest(owner);
    let ended = false;
    const done = new Promise<void>((resolve) => req.on('end', () => { ended = true; resolve(); }));
    if (readFirst) req.resume();
    await new Promise((r) => setImmediate(r));
    req.finish();
    if (!readFirst) req.resume();
    await done;
    assert.equal(ended, true);
  }
});

test('a body is read in order and then ends; an aborted request errors only for an error listener', async () => {
  const req = new NetRequest(owner);
  const chunks: string[] = [];
  req.on('data', (c: Buffer) => chunks.push(String(c)));
  req.addBody(Buffer.from('ab'));
  req.addBody(Buffer.from('cd'));
  req.finish();
  await new Promise((r) => req.on('end', r));
  assert.deepEqual(chunks, ['ab', 'cd']);
  const cut = new NetRequest(owner);
  let aborted = false;
  cut.on('aborted', () => { aborted = true; });
  cut.destroy(new Error('aborted'));
  await new Promise((r) => cut.on('close', r));
  assert.equal(aborted, true);
});
