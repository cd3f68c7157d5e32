// NetRequest and NetResponse against node:http on the points a client or the
// proxy can observe: how repeated request headers are joined, when a
// request stream ends, and which response fields writeHead() refuses.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { NetRequest, NetResponse } from './messages.ts';
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

test('writeHead refuses exactly the fields node:http refuses, with its error codes, having stored nothing', () => {
  // [name, value]: every character class at the edges of the two rules.
  const cases: Array<[unknown, unknown]> = [
    ['x-ok', 'plain'], ['x-ok', ''], ['x-ok', ' spaced\tvalue '], ['x-ok', 'caf\u00e9 \u00ff obs-text'], ['x-ok', 'a: b, c'],
    ["!#$%&'*+-.^_`|~09azAZ", 'token punctuation'], ['x-num', 13],
    ['', 'empty name'], ['x bad', 'space in name'], ['x:bad', 'colon in name'], ['x\u00e9', 'non-ASCII name'], ['x\r\nInjected', 'v'],
    ['x-bad', 'cr\rin value'], ['x-bad', 'lf\nin value'], ['x-bad', 'nul\u0000'], ['x-bad', 'ctl\u0001'], ['x-bad', 'del\u007f'],
    ['x-bad', 'wide\u0100'], ['x-bad', '\ud83d'], [42, 'number name'],
    // CR LF inside a name or value that would read as a line of its own.
    ['x-bad', 'v\r\nx-injected: w'], ['x-bad: v\r\nx-injected', 'w'],
  ];
  for (const [name, value] of cases) {
    let expected: string | undefined;
    try {
      if (typeof name !== 'string') throw Object.assign(new Error('name'), { code: 'ERR_INVALID_HTTP_TOKEN' });
      http.validateHeaderName(name);
      http.validateHeaderValue(name, String(value));
    } catch (err) {
      expected = (err as { code: string }).code;
    }
    const res = new NetResponse(owner, new NetRequest(owner), true);
    let got: string | undefined;
    try {
      res.writeHead(200, ['x-first', 'fine', name as string, value as string]);
    } catch (err) {
      got = (err as { code: string }).code;
    }
    assert.equal(got, expected, `${JSON.stringify(name)}: ${JSON.stringify(value)}`);
    // A refused head leaves nothing behind: a second writeHead works.
    if (got !== undefined) assert.doesNotThrow(() => res.writeHead(502, ['content-length', '0']));
  }
});
