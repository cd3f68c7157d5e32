// HTTP/2 rapid reset (CVE-2023-44487): a client that opens streams and
// cancels them at once, as fast as it can, must not make the proxy do
// unbounded upstream work, and must not starve other clients. The stream cap
// (100 concurrent, h2-sessions.ts) bounds what is in flight, and the nghttp2
// that Node 24 bundles rate-limits stream resets per session (a burst of
// 1,000, then ~33 per second; not configurable from Node) and ends the
// session with GOAWAY: measured here, after ~2,000 of the flood's 20,000
// streams. This test keeps that defence from regressing unnoticed (a Node
// upgrade, a listener change).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import { sealSnapshot } from '../api/version.ts';
import { DataPlane } from './apply.ts';
import type { TestServer } from './testkit.ts';
import { cluster, content, freePort, get, route, startServer, testEngine, vhost } from './testkit.ts';
import { DEFAULT } from './testdata/tls.ts';
import { h2request, h2session } from './testdata/h2.ts';

let dp: DataPlane;
let port: number;
let httpPort: number;
let backend: TestServer;
let served = 0;

before(async () => {
  // A slow backend: every request the proxy lets through is visible work.
  backend = await startServer(http.createServer((req, res) => {
    served++;
    req.resume();
    setTimeout(() => res.end('ok'), 20);
  }));
  dp = new DataPlane({ http1Engine: testEngine() });
  [port, httpPort] = [await freePort(), await freePort()];
  const r = await dp.apply(sealSnapshot(content({
    listeners: {
      https: { protocol: 'https', address: '127.0.0.1', port, defaultSecret: '@default' },
      http: { protocol: 'http', address: '127.0.0.1', port: httpPort },
    },
    virtualHosts: { '*': vhost([route('Prefix', '/', 'c/slow')]) },
    clusters: { 'c/slow': cluster(backend.port) },
    secrets: { '@default': { cert: DEFAULT.cert, key: DEFAULT.key } },
  })));
  assert.ok(r.ok);
});

after(async () => {
  await dp.close();
  await backend.close();
});

test('a rapid-reset flood ends its session; upstream work stays bounded and other clients are served', async () => {
  const attacker = await h2session(port);
  const closed = new Promise<void>((resolve) => attacker.once('close', () => resolve()));
  attacker.on('error', () => {});
  let sent = 0;
  const t0 = Date.now();
  // Bounded: at most 20,000 streams or 5 s.
  while (!attacker.closed && !attacker.destroyed && sent < 20_000 && Date.now() - t0 < 5_000) {
    for (let i = 0; i < 100 && !attacker.closed && !attacker.destroyed; i++, sent++) {
      try {
        const s = attacker.request({ ':path': `/r${sent}`, ':method': 'GET' });
        s.on('error', () => {});
        // HEADERS go out first (the stream gets its id), then RST_STREAM:
        // the server has started the request when the cancel arrives.
        s.once('ready', () => s.close(http2.constants.NGHTTP2_CANCEL));
      } catch {
        break; // the session is going away
      }
    }
    await new Promise((r) => setImmediate(r));
  }
  const floodMs = Date.now() - t0;
  const ended = await Promise.race([closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5_000))]);
  attacker.destroy();
  // Meanwhile and afterwards, a well-behaved client is served on both protocols.
  const good = await h2session(port);
  const res = await h2request(good, { ':path': '/fine', ':method': 'GET' });
  good.close();
  assert.equal(res.headers[':status'], 200);
  assert.equal((await get(httpPort, '/fine')).status, 200);
  console.log(`# rapid reset: ${sent} streams opened and cancelled in ${floodMs} ms, session ended by the server: ${ended}, upstream requests: ${served}`);
  assert.ok(ended, `the server did not end a session that reset ${sent} streams`);
  assert.ok(served < sent / 4, `upstream work not bounded: ${served} requests for ${sent} cancelled streams`);
});
