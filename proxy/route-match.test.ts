// Header, query, method and regular expression matching end to end: real
// backends on loopback behind createForwarder, requests from a real client
// (raw bytes where the test needs exact headers).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { routeKey } from '../api/snapshot.ts';
import type { Route, RouteMatch } from '../api/snapshot.ts';
import { sealSnapshot } from '../api/version.ts';
import { createForwarder } from './forward.ts';
import { buildTable } from './routing/table.ts';
import type { RoutingTable } from './routing/table.ts';
import { UpstreamPools } from './upstream/pools.ts';
import type { Echoed, TestServer } from './testkit.ts';
import { cluster, content, echoBackend, get, parseRaw, rawRequest, startServer } from './testkit.ts';

let current: RoutingTable | undefined;
const pools = new UpstreamPools({ connectTimeoutMs: 1_000 });
const handler = createForwarder({ getTable: () => current });
let proxy: TestServer;
const backends: Record<string, TestServer> = {};
const NAMES = ['stable', 'canary', 'v2', 'writes', 'images', 'fallback'];

function r(match: RouteMatch, name: string, rank?: number): [string, Route] {
  return [routeKey(match.type, match.path, match), { match, cluster: `ns/${name}:80`, timeoutMs: 5_000, origin: `Route/ns/${name}`, ...(rank === undefined ? {} : { rank }) }];
}

before(async () => {
  proxy = await startServer(http.createServer((req, res) => handler(req, res, 'http')));
  for (const name of NAMES) backends[name] = await echoBackend(name);
  current = buildTable(sealSnapshot(content({
    virtualHosts: {
      'shop.com': { routes: Object.fromEntries([
        r({ type: 'Prefix', path: '/' }, 'stable'),
        r({ type: 'Prefix', path: '/', headers: [{ name: 'x-canary', type: 'Exact', value: '1' }] }, 'canary'),
        r({ type: 'Prefix', path: '/api', queryParams: [{ name: 'v', type: 'RegularExpression', value: '2(\\.[0-9]+)?' }] }, 'v2'),
        r({ type: 'Prefix', path: '/api', method: 'POST' }, 'writes'),
        r({ type: 'RegularExpression', path: '/img/[a-z0-9]+\\.(png|jpe?g)' }, 'images'),
      ]) },
    },
    clusters: Object.fromEntries(NAMES.map((n) => [`ns/${n}:80`, cluster((backends[n] as TestServer).port)])),
    defaultRoute: { match: { type: 'Prefix', path: '/' }, cluster: 'ns/fallback:80', timeoutMs: 5_000, origin: 'Ingress/ns/default' },
  })), undefined, { pools });
});

after(async () => {
  await proxy.close();
  current?.retire();
  await pools.close();
  await Promise.all(Object.values(backends).map((b) => b.close()));
});

async function backendFor(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<string | undefined> {
  const res = await get(proxy.port, path, { host: 'shop.com', ...headers }, method, method === 'POST' ? 'x' : undefined);
  assert.equal(res.status, 200, res.body);
  return res.headers['x-backend'] as string | undefined;
}

test('e2e: a header condition takes its requests; the rest go to the plain route', async () => {
  assert.equal(await backendFor('/cart', { 'x-canary': '1' }), 'canary');
  assert.equal(await backendFor('/cart', { 'X-Canary': '1' }), 'canary', 'header names are case-insensitive');
  assert.equal(await backendFor('/cart', { 'x-canary': '0' }), 'stable');
  assert.equal(await backendFor('/cart'), 'stable');
});

test('e2e: a repeated header is matched as Node joins it ("1, 1" is not "1")', async () => {
  const raw = await rawRequest(proxy.port, 'GET /cart HTTP/1.1\r\nHost: shop.com\r\nX-Canary: 1\r\nX-Canary: 1\r\nConnection: close\r\n\r\n');
  const res = parseRaw(raw);
  assert.equal(res.status, 200);
  assert.equal((JSON.parse(res.body) as Echoed).backend, 'stable');
});

test('e2e: a query condition (anchored pattern, first value) beats a method condition on the same prefix', async () => {
  assert.equal(await backendFor('/api/items?v=2'), 'v2');
  assert.equal(await backendFor('/api/items?x=1&v=2.1', {}, 'POST'), 'v2', 'query beats method');
  assert.equal(await backendFor('/api/items?v=21'), 'stable', 'the pattern must match the whole value');
  assert.equal(await backendFor('/api/items?v=1&v=2'), 'stable', 'only the first value counts');
  const echoed = JSON.parse((await get(proxy.port, '/api/items?v=2&q=a%20b', { host: 'shop.com' })).body) as Echoed;
  assert.equal(echoed.url, '/api/items?v=2&q=a%20b', 'the query is forwarded as sent');
});

test('e2e: a method condition', async () => {
  assert.equal(await backendFor('/api/items', {}, 'POST'), 'writes');
  assert.equal(await backendFor('/api/items', {}, 'GET'), 'stable', 'fall-through from /api to /');
});

test('e2e: a regular expression path, anchored, on the normalised path', async () => {
  assert.equal(await backendFor('/img/cat.png'), 'images');
  assert.equal(await backendFor('/img//x/../cat.jpeg'), 'images');
  assert.equal(await backendFor('/img/cat.png/raw'), 'stable');
  assert.equal(await backendFor('/img/Cat.png'), 'stable');
});

test('e2e: an unknown host goes to the default route', async () => {
  const res = await get(proxy.port, '/cart', { host: 'other.com', 'x-canary': '1' });
  assert.equal(res.headers['x-backend'], 'fallback');
});
