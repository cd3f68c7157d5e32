// The upstream protocols a cluster can ask for (api/snapshot.ts
// UpstreamProtocol, from the Service port's appProtocol): h2c and tls, for
// HTTP/2 and HTTP/1.1 clients and websockets, with real servers on loopback.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import tls from 'node:tls';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { sealSnapshot } from '../api/version.ts';
import type { Cluster, Snapshot, UpstreamProtocol } from '../api/snapshot.ts';
import { DataPlane } from './apply.ts';
import type { TestServer } from './testkit.ts';
import { cluster, content, echoBackend, freePort, route, startServer, testEngine, vhost } from './testkit.ts';
import { DEFAULT } from './testdata/tls.ts';
import { h2request, h2session } from './testdata/h2.ts';

let dp: DataPlane;
let port: number;
let httpPort: number;
let echo: TestServer;

before(async () => {
  dp = new DataPlane({ http1Engine: testEngine(), drainTimeoutMs: 5_000 });
  [port, httpPort] = [await freePort(), await freePort()];
  echo = await echoBackend('h1');
});

after(async () => {
  await dp.close();
  await echo.close();
});

function withProtocol(c: Cluster, protocol: UpstreamProtocol | undefined): Cluster {
  return protocol === undefined ? c : { ...c, protocol };
}

/** HTTPS and HTTP listeners, '*' routing /<name> to each cluster given as [name, port, protocol]. */
function snapshot(backends: Array<[string, number, UpstreamProtocol?]>): Snapshot {
  return sealSnapshot(content({
    listeners: {
      https: { protocol: 'https', address: '127.0.0.1', port, defaultSecret: '@default' },
      http: { protocol: 'http', address: '127.0.0.1', port: httpPort },
    },
    virtualHosts: { '*': vhost(backends.map(([name]) => route('Prefix', `/${name}`, `c/${name}`))) },
    clusters: Object.fromEntries(backends.map(([name, p, protocol]) => [`c/${name}`, withProtocol(cluster(p), protocol)])),
    secrets: { '@default': { cert: DEFAULT.cert, key: DEFAULT.key } },
  }));
}

/** An h2c backend (HTTP/2 without TLS, prior knowledge) that answers by path. */
async function h2cBackend(): Promise<{ port: number; server: http2.Http2Server; close(): Promise<void>; lastHeaders?: http2.IncomingHttpHeaders }> {
  const state: { lastHeaders?: http2.IncomingHttpHeaders } = {};
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    state.lastHeaders = headers;
    const path = headers[':path'];
    if (path === '/h2c/trailers') {
      stream.respond({ ':status': 200, 'content-type': 'text/plain' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'abc', 'grpc-status': '0' }));
      stream.end('with trailers');
    } else if (path === '/h2c/only') {
      // A "trailers-only" answer: one HEADERS frame with END_STREAM.
      stream.respond({ ':status': 200, 'grpc-status': '5', 'grpc-message': 'not found' }, { endStream: true });
    } else {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        stream.respond({ ':status': 200, 'x-proto': 'h2c' });
        stream.end(`${headers[':method']} ${path} ${headers[':authority']} ${Buffer.concat(chunks).length}`);
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)); });
  return {
    port: (server.address() as AddressInfo).port,
    server,
    get lastHeaders() { return state.lastHeaders; },
    close: () => new Promise<void>((resolve) => {
      for (const s of sessions) s.destroy();
      server.close(() => resolve());
    }),
  };
}

test('an h2c cluster is spoken to with HTTP/2; trailers and trailers-only answers reach HTTP/2 clients intact', async () => {
  const be = await h2cBackend();
  assert.ok((await dp.apply(snapshot([['h2c', be.port, 'h2c']]))).ok);
  const session = await h2session(port);
  try {
    const plain = await h2request(session, { ':method': 'POST', ':path': '/h2c/echo', ':authority': 'grpc.example', te: 'trailers' }, 'hello');
    assert.equal(plain.headers['x-proto'], 'h2c');
    assert.equal(plain.body, 'POST /h2c/echo grpc.example 5');
    assert.equal(be.lastHeaders?.te, 'trailers');
    assert.equal(be.lastHeaders?.['x-forwarded-proto'], 'https');

    const withTrailers = await h2request(session, { ':path': '/h2c/trailers', ':authority': 'grpc.example' });
    assert.equal(withTrailers.body, 'with trailers');
    assert.equal(withTrailers.trailers?.['x-checksum'], 'abc');
    assert.equal(withTrailers.trailers?.['grpc-status'], '0');

    const only = await h2request(session, { ':path': '/h2c/only', ':authority': 'grpc.example' });
    assert.equal(only.headers['grpc-status'], '5');
    assert.equal(only.headers['grpc-message'], 'not found');
    assert.equal(only.body, '');
    assert.equal(only.flags & http2.constants.NGHTTP2_FLAG_END_STREAM, http2.constants.NGHTTP2_FLAG_END_STREAM, 'one HEADERS frame that ends the stream');

    // An HTTP/1.1 client to the same h2c cluster: the body arrives, trailers are dropped.
    const h1 = await new Promise<string>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: httpPort, path: '/h2c/trailers', agent: false }, (res) => {
        let data = '';
        res.on('data', (c: Buffer) => (data += c.toString()));
        res.on('end', () => resolve(`${data}|${Object.keys(res.trailers).join(',')}`));
      }).on('error', reject);
    });
    assert.equal(h1, 'with trailers|');
  } finally {
    session.close();
    await be.close();
  }
});

test('a tls cluster is spoken to over TLS (certificate not verified); pools are per endpoint and protocol', async () => {
  const tlsServer = https.createServer({ cert: DEFAULT.cert, key: DEFAULT.key }, (req, res) => {
    res.end(`tls ${(req.socket as tls.TLSSocket).encrypted === true} ${req.headers.host}`);
  });
  const be = await startServer(tlsServer as unknown as http.Server);
  try {
    assert.ok((await dp.apply(snapshot([['sec', be.port, 'tls'], ['h1', echo.port]]))).ok);
    const body = await new Promise<string>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: httpPort, path: '/sec', headers: { host: 'sec.example' }, agent: false }, (res) => {
        let data = '';
        res.on('data', (c: Buffer) => (data += c.toString()));
        res.on('end', () => resolve(data));
      }).on('error', reject);
    });
    assert.equal(body, 'tls true sec.example');
    assert.ok(dp.pools.has(`127.0.0.1:${be.port} tls`));
    assert.ok(dp.pools.has(`127.0.0.1:${echo.port}`));
  } finally {
    await be.close();
  }
});

test('a websocket to a tls cluster (appProtocol kubernetes.io/wss) is tunnelled over TLS', { timeout: 30_000 }, async () => {
  const server = https.createServer({ cert: DEFAULT.cert, key: DEFAULT.key }, (_req, res) => res.writeHead(426).end());
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => ws.on('message', (m) => ws.send(`${(req.socket as tls.TLSSocket).encrypted === true ? 'tls' : 'plain'}:${String(m)}`)));
  const be = await startServer(server as unknown as http.Server);
  try {
    assert.ok((await dp.apply(snapshot([['ws', be.port, 'tls']]))).ok);
    const ws = new WebSocket(`ws://127.0.0.1:${httpPort}/ws`);
    await once(ws, 'open');
    ws.send('hi');
    const [msg] = await once(ws, 'message');
    assert.equal(String(msg), 'tls:hi');
    ws.close();
    await once(ws, 'close');
  } finally {
    for (const c of wss.clients) c.terminate();
    wss.close();
    await be.close();
  }
});
