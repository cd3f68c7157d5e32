// The net engine behind TLS (servers.ts takeHttp1Connections): an https
// listener's HTTP/1.1 connections reach the engine, its HTTP/2 ones stay on
// node:http2, both through the one TLS server.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { createHttpsServer, DEFAULT_LIMITS, http1Server } from '../servers.ts';
import type { ClientRequest, ClientResponse } from '../decide.ts';
import { DEFAULT } from '../testdata/tls.ts';
import { NetRequest } from './messages.ts';

let port = 0;
let server: ReturnType<typeof createHttpsServer>;
const seen: string[] = [];

before(async () => {
  const onRequest = (req: ClientRequest, res: ClientResponse) => {
    seen.push(req instanceof NetRequest ? 'net' : `node h${req.httpVersionMajor}`);
    (res as import('node:http').ServerResponse).writeHead(200, ['content-length', '2']);
    res.end('ok');
  };
  server = createHttpsServer(DEFAULT_LIMITS, DEFAULT, () => undefined, onRequest, http1Server('net', DEFAULT_LIMITS, onRequest));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

test('HTTP/1.1 over TLS (ALPN http/1.1, or none) is the engine\'s; HTTP/2 stays on node:http2', async () => {
  for (const alpn of [['http/1.1'], undefined]) {
    const body = await new Promise<string>((resolve, reject) => {
      const options: https.RequestOptions & { ALPNProtocols?: string[] } = { host: '127.0.0.1', port, path: '/', rejectUnauthorized: false, agent: false };
      if (alpn !== undefined) options.ALPNProtocols = alpn;
      const req = https.get(options, (res) => {
        let b = '';
        res.on('data', (c: Buffer) => { b += String(c); });
        res.on('end', () => resolve(b));
      });
      req.on('error', reject);
    });
    assert.equal(body, 'ok');
  }
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
  const stream = session.request({ ':path': '/' });
  let body = '';
  stream.on('data', (c: Buffer) => { body += String(c); });
  await new Promise((resolve) => stream.on('end', resolve));
  session.close();
  assert.equal(body, 'ok');
  assert.deepEqual(seen, ['net', 'net', 'node h2']);
});
