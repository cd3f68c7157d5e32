// The proxy's own paths (forward.ts, exchange.ts, retry.ts, mirror.ts) with
// the lean HTTP/1.1 client under them (PoolOptions.http1Client 'lean'): a
// representative set of forward, retry and mirror scenarios, each of which the
// undici-based suites also cover. The whole proxy suite also passes with
// 'lean' as the default (checked by hand, see h1-pool.ts).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { routeKey } from '../../api/snapshot.ts';
import type { ClusterKey, Route } from '../../api/snapshot.ts';
import type { RoutingTable } from '../routing/table.ts';
import type { DirectProxy, Echoed, TestServer } from '../testkit.ts';
import { cluster, directProxy, echoBackend, freePort, get, startServer } from '../testkit.ts';
import { H1Pool } from './h1-pool.ts';
import { rawServer, until } from './testing.ts';
import type { RawServer } from './testing.ts';

let proxy: DirectProxy;
let current: RoutingTable | undefined;
let good: TestServer;
let other: TestServer;
let bad: TestServer;
let reset: TestServer;
let silent: TestServer;
let garbage: RawServer;
let refused: number;
const mirrored: string[] = [];
let shadow: TestServer;

function use(clusters: Record<ClusterKey, number[]>, extra: Partial<Route> = {}): void {
  const rt: Route = { match: { type: 'Prefix', path: '/' }, cluster: 'ns/c:80', timeoutMs: 5_000, origin: 'Route/test/r', ...extra };
  const c = Object.fromEntries(Object.entries(clusters).map(([k, ports]) => [k, cluster(...ports)]));
  current = proxy.use({ virtualHosts: { '*': { routes: { [routeKey('Prefix', '/')]: rt } } }, clusters: c });
}

before(async () => {
  // The node engine in front, so this file covers the lean client under node:http too.
  proxy = await directProxy({ engine: 'node', replayBodyLimit: 1024, pools: { http1Client: 'lean' } });
  good = await echoBackend('good', { connection: 'keep-alive, x-hop', 'x-hop': 'dropped', 'keep-alive': 'timeout=30' });
  other = await echoBackend('other');
  bad = await startServer(http.createServer((req, res) => { req.resume(); req.on('end', () => res.writeHead(503).end('unavailable')); }));
  reset = await startServer(http.createServer((req) => req.socket.destroy()));
  silent = await startServer(http.createServer((req) => req.resume()));
  garbage = await rawServer((s) => s.end('HTTP/1.1 2OO nope\r\n\r\n'));
  shadow = await startServer(http.createServer((req, res) => { mirrored.push(`${req.method} ${req.url}`); req.resume(); res.end(); }));
  refused = await freePort();
});

after(async () => {
  await proxy.close();
  await Promise.all([good, other, bad, reset, silent, garbage, shadow].map((s) => s.close()));
});

test('lean upstream via the proxy: a GET is relayed; names lower-case, hop-by-hop dropped, forwarding headers set; the pool is an H1Pool', async () => {
  use({ 'ns/c:80': [good.port] });
  for (let i = 0; i < 2; i++) {
    const res = await get(proxy.port, `/a?i=${i}`, { 'x-client': 'c' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-backend'], 'good');
    assert.equal(res.headers['x-hop'], undefined, 'named by Connection');
    assert.equal(res.headers['keep-alive'], undefined);
    const seen = JSON.parse(res.body) as Echoed;
    assert.equal(seen.url, `/a?i=${i}`);
    assert.equal(seen.headers['x-client'], 'c');
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
  }
  assert.ok(current?.cluster('ns/c:80')?.pick()?.dispatcher instanceof H1Pool);
});

test('lean upstream via the proxy: a chunked client body streams to the upstream chunked', async () => {
  use({ 'ns/c:80': [good.port] });
  const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxy.port, path: '/up', method: 'POST', agent: false }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => resolve({ status: r.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.write('part one, ');
    setTimeout(() => req.end('part two'), 20);
  });
  assert.equal(res.status, 200);
  const seen = JSON.parse(res.body) as Echoed;
  assert.equal(seen.body, 'part one, part two');
  assert.equal(seen.headers['transfer-encoding'], 'chunked');
});

test('lean upstream via the proxy: a refused endpoint is retried on the next without a policy', async () => {
  use({ 'ns/c:80': [refused, other.port] });
  for (let i = 0; i < 2; i++) {
    const res = await get(proxy.port, '/r');
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-backend'], 'other');
  }
});

test('lean upstream via the proxy: a retry policy retries a 503 and a reset on the other endpoint', async () => {
  use({ 'ns/c:80': [bad.port, other.port] }, { retry: { attempts: 2, on: ['503'], backoffMs: 1 } });
  for (let i = 0; i < 2; i++) assert.equal((await get(proxy.port, '/p', {}, 'POST', 'body')).headers['x-backend'], 'other');
  use({ 'ns/c:80': [reset.port, other.port] }, { retry: { attempts: 2, on: ['reset'], backoffMs: 1 } });
  for (let i = 0; i < 2; i++) assert.equal((await get(proxy.port, '/p')).headers['x-backend'], 'other');
});

test('lean upstream via the proxy: failures answer 502 (reset, invalid response) and 504 (no answer in time)', async () => {
  use({ 'ns/c:80': [reset.port] });
  assert.equal((await get(proxy.port, '/x')).status, 502);
  use({ 'ns/c:80': [garbage.port] });
  const invalid = await get(proxy.port, '/x');
  assert.deepEqual([invalid.status, invalid.body], [502, 'invalid upstream response\n']);
  use({ 'ns/c:80': [silent.port] }, { timeoutMs: 200 });
  assert.equal((await get(proxy.port, '/x')).status, 504);
});

test('lean upstream via the proxy: a mirror copy reaches the mirror cluster; the client gets the main answer', async () => {
  use({ 'ns/c:80': [good.port], 'ns/shadow:80': [shadow.port] }, { mirror: { cluster: 'ns/shadow:80', percent: 100 } });
  const res = await get(proxy.port, '/m?x=1');
  assert.equal(res.headers['x-backend'], 'good');
  assert.ok(await until(() => mirrored.includes('GET /m?x=1')));
});
