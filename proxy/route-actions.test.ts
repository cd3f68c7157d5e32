// What a matched Route does, end to end through forward.ts with real loopback
// backends: weighted backends, redirects, rewrites and header filters. The
// rules themselves are table-tested in filters.test.ts and upstream/split.test.ts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { routeKey } from '../api/snapshot.ts';
import type { Route, RouteMatch } from '../api/snapshot.ts';
import type { SnapshotContent } from '../api/version.ts';
import type { DirectProxy, Echoed, TestServer } from './testkit.ts';
import { cluster, directProxy, echoBackend, freePort, get, parseRaw, rawRequest } from './testkit.ts';

let proxy: DirectProxy;
let a: TestServer;
let b: TestServer;
/** Requests that reached backend a or b (a redirect must send none). */
let upstreamRequests = 0;

const use = (parts: Partial<SnapshotContent>) => proxy.use(parts);

/** A snapshot route under its key; `action` gives cluster, backends or redirect and the filters. */
function r(match: RouteMatch, action: Omit<Route, 'match' | 'timeoutMs' | 'origin'>): [string, Route] {
  return [routeKey(match.type, match.path), { match, ...action, timeoutMs: 5_000, origin: 'Route/test/r' }];
}
const prefix = (path: string): RouteMatch => ({ type: 'Prefix', path });
const host = (...routes: Array<[string, Route]>) => ({ routes: Object.fromEntries(routes) });

before(async () => {
  proxy = await directProxy();
  a = await echoBackend('a', { 'x-upstream': 'secret', 'cache-control': 'no-cache' });
  b = await echoBackend('b');
  for (const s of [a, b]) s.server.on('request', () => upstreamRequests++);
});

after(async () => {
  await proxy.close();
  await Promise.all([a.close(), b.close()]);
});

/** `n` GETs over a few keep-alive connections, `concurrency` at a time; counts by x-backend (or status). */
async function spread(n: number, path = '/', concurrency = 50): Promise<Map<string, number>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const counts = new Map<string, number>();
  const one = () => new Promise<void>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: proxy.port, path, agent }, (res) => {
      const key = res.statusCode === 200 ? String(res.headers['x-backend']) : String(res.statusCode);
      counts.set(key, (counts.get(key) ?? 0) + 1);
      res.resume();
      res.on('end', resolve);
    }).on('error', reject);
  });
  try {
    for (let done = 0; done < n; done += concurrency) {
      await Promise.all(Array.from({ length: Math.min(concurrency, n - done) }, one));
    }
  } finally {
    agent.destroy();
  }
  return counts;
}

test('a 90/10 split lands within ±3 % over 10,000 requests to two real backends', async (t) => {
  use({
    virtualHosts: { '*': host(r(prefix('/'), { backends: [{ cluster: 'ns/a:80', weight: 90 }, { cluster: 'ns/b:80', weight: 10 }] })) },
    clusters: { 'ns/a:80': cluster(a.port), 'ns/b:80': cluster(b.port) },
  });
  const counts = await spread(10_000);
  const shareA = (counts.get('a') ?? 0) / 10_000;
  const shareB = (counts.get('b') ?? 0) / 10_000;
  t.diagnostic(`measured: a ${(shareA * 100).toFixed(2)} %, b ${(shareB * 100).toFixed(2)} % (${JSON.stringify([...counts])})`);
  assert.equal((counts.get('a') ?? 0) + (counts.get('b') ?? 0), 10_000, 'every request answered by a backend');
  assert.ok(Math.abs(shareA - 0.9) <= 0.03, `a got ${shareA}`);
  assert.ok(Math.abs(shareB - 0.1) <= 0.03, `b got ${shareB}`);
});

test('weight 0 gets nothing; an unresolved backend takes its share as 500; all weights 0 is 500', async () => {
  use({
    virtualHosts: {
      '*': host(
        r(prefix('/zero'), { backends: [{ cluster: 'ns/a:80', weight: 1 }, { cluster: 'ns/b:80', weight: 0 }] }),
        r(prefix('/typo'), { backends: [{ cluster: 'ns/a:80', weight: 3 }, { weight: 1 }] }),
        r(prefix('/none'), { backends: [{ cluster: 'ns/a:80', weight: 0 }, { weight: 0 }] }),
      ),
    },
    clusters: { 'ns/a:80': cluster(a.port), 'ns/b:80': cluster(b.port) },
  });
  assert.deepEqual([...await spread(200, '/zero')], [['a', 200]]);
  const typo = await spread(400, '/typo');
  assert.deepEqual([typo.get('a'), typo.get('500')], [300, 100]);
  // One in four requests answers 500: find it within one cycle and look at the answer.
  let failed = await get(proxy.port, '/typo/x');
  for (let i = 0; i < 3 && failed.status !== 500; i++) failed = await get(proxy.port, '/typo/x');
  assert.deepEqual([failed.status, failed.body, failed.headers['content-type']], [500, 'backend not found\n', 'text/plain; charset=utf-8']);
  assert.deepEqual([...await spread(20, '/none')], [['500', 20]]);
});

test('a chosen backend without endpoints is 503; connect retries stay within the chosen backend', async () => {
  const dead = await freePort();
  use({
    virtualHosts: {
      '*': host(
        r(prefix('/empty'), { backends: [{ cluster: 'ns/empty:80', weight: 1 }, { cluster: 'ns/b:80', weight: 1 }] }),
        r(prefix('/mixed'), { backends: [{ cluster: 'ns/dead-a:80', weight: 1 }, { cluster: 'ns/b:80', weight: 1 }] }),
        r(prefix('/dead'), { backends: [{ cluster: 'ns/dead:80', weight: 1 }, { cluster: 'ns/b:80', weight: 1 }] }),
      ),
    },
    clusters: { 'ns/empty:80': { endpoints: {} }, 'ns/dead-a:80': cluster(dead, a.port), 'ns/dead:80': cluster(dead), 'ns/b:80': cluster(b.port) },
  });
  const empty = await spread(10, '/empty');
  assert.deepEqual([empty.get('503'), empty.get('b')], [5, 5]);
  // The dead endpoint of the first backend is retried on that backend's other endpoint (a), never on b.
  const mixed = await spread(20, '/mixed', 1);
  assert.deepEqual([mixed.get('a'), mixed.get('b')], [10, 10]);
  // A backend whose only endpoint refuses is 502 for its share: the split is not undone by a retry.
  const deadSplit = await spread(10, '/dead', 1);
  assert.deepEqual([deadSplit.get('502'), deadSplit.get('b')], [5, 5]);
});

test('redirects: Location per rule, status as given, nothing sent upstream', async () => {
  use({
    virtualHosts: {
      'shop.com': host(
        r(prefix('/secure'), { redirect: { scheme: 'https', statusCode: 301 } }),
        r(prefix('/old'), { redirect: { path: { type: 'ReplacePrefixMatch', value: '/new' }, statusCode: 308 } }),
        r(prefix('/moved'), { redirect: { hostname: 'www.shop.com', port: 8443, scheme: 'https', path: { type: 'ReplaceFullPath', value: '/home' }, statusCode: 302 } }),
        r({ type: 'Exact', path: '/same' }, { redirect: { statusCode: 307 }, responseHeaders: { set: [{ name: 'cache-control', value: 'max-age=60' }] } }),
      ),
    },
  });
  const before = upstreamRequests;
  const cases: Array<[string, string, number, string]> = [
    ['GET', '/secure/a/../b?x=1', 301, 'https://shop.com/secure/b?x=1'],
    ['GET', '/old', 308, `http://shop.com:${proxy.port}/new`],
    ['POST', '/old/x/y?q', 308, `http://shop.com:${proxy.port}/new/x/y?q`],
    ['GET', '/oldish', 404, ''],
    ['GET', '/moved/anything?k=v', 302, 'https://www.shop.com:8443/home?k=v'],
    ['HEAD', '/same', 307, `http://shop.com:${proxy.port}/same`],
  ];
  for (const [method, path, status, location] of cases) {
    const raw = await rawRequest(proxy.port, `${method} ${path} HTTP/1.1\r\nHost: Shop.com:1234\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    const res = parseRaw(raw);
    assert.equal(res.status, status, `${method} ${path}`);
    if (status === 404) continue;
    // The Host's port (1234) is replaced by the listener's (Gateway API), or left out for a new scheme.
    assert.ok(res.headers.includes(`location: ${location}`), `${path}: ${res.headers.join(' | ')}`);
    assert.ok(res.headers.includes('content-length: 0'));
    assert.equal(res.body, '');
  }
  const same = parseRaw(await rawRequest(proxy.port, 'GET /same HTTP/1.1\r\nHost: shop.com\r\nConnection: close\r\n\r\n'));
  assert.ok(same.headers.includes('cache-control: max-age=60'), 'response header filters apply to redirects');
  assert.equal(upstreamRequests, before, 'no request went upstream');
});

test('rewrites: path (prefix and full) and Host upstream, X-Forwarded-Host keeps the client\'s, query kept', async () => {
  use({
    virtualHosts: {
      'shop.com': host(
        r(prefix('/api'), { cluster: 'ns/a:80', rewrite: { path: { type: 'ReplacePrefixMatch', value: '/v2' } } }),
        r(prefix('/root'), { cluster: 'ns/a:80', rewrite: { path: { type: 'ReplacePrefixMatch', value: '/' } } }),
        r(prefix('/full'), { cluster: 'ns/a:80', rewrite: { hostname: 'internal.svc', path: { type: 'ReplaceFullPath', value: '/index.html' } } }),
        r(prefix('/split'), { backends: [{ cluster: 'ns/a:80', weight: 1 }], rewrite: { hostname: 'split.svc' } }),
      ),
    },
    clusters: { 'ns/a:80': cluster(a.port) },
  });
  const cases: Array<[string, string, string]> = [
    ['/api/users/../items//7?q=1&q=2', '/v2/items/7?q=1&q=2', 'shop.com:8080'],
    ['/api', '/v2', 'shop.com:8080'],
    ['/api/', '/v2/', 'shop.com:8080'],
    ['/root/x?y', '/x?y', 'shop.com:8080'],
    ['/root', '/', 'shop.com:8080'],
    ['/full/a/b?z=9', '/index.html?z=9', 'internal.svc'],
    ['/split/p', '/split/p', 'split.svc'],
  ];
  for (const [path, upstreamUrl, upstreamHost] of cases) {
    const res = await get(proxy.port, path, { host: 'shop.com:8080' });
    assert.equal(res.status, 200, path);
    const echoed = JSON.parse(res.body) as Echoed;
    assert.equal(echoed.url, upstreamUrl, path);
    assert.equal(echoed.headers.host, upstreamHost, path);
    assert.equal(echoed.headers['x-forwarded-host'], 'shop.com:8080', path);
  }
});

test('header filters: remove, set, add on the request sent upstream and on the response; not bypassable by the client', async () => {
  use({
    virtualHosts: {
      '*': host(r(prefix('/'), {
        cluster: 'ns/a:80',
        requestHeaders: {
          remove: ['x-internal-user'],
          set: [{ name: 'x-env', value: 'prod' }],
          add: [{ name: 'x-tag', value: 'edge' }],
        },
        responseHeaders: {
          remove: ['x-upstream'],
          set: [{ name: 'cache-control', value: 'private' }],
          add: [{ name: 'x-served-by', value: 'turnout' }],
        },
      })),
    },
    clusters: { 'ns/a:80': cluster(a.port) },
  });
  const raw = await rawRequest(proxy.port, [
    'GET /f HTTP/1.1',
    'Host: shop.com',
    // The client tries to keep x-env and to drop it as hop-by-hop, and sends x-internal-user in two spellings.
    'Connection: close, x-env',
    'X-ENV: dev',
    'x-env: qa',
    'X-Internal-User: admin',
    'x-internal-user: root',
    'X-Tag: client',
    'X-Forwarded-For: 10.1.1.1',
    '', '',
  ].join('\r\n'));
  const res = parseRaw(raw);
  assert.equal(res.status, 200);
  const echoed = JSON.parse(res.body) as Echoed;
  assert.equal(echoed.headers['x-env'], 'prod', 'set replaces every client value, and survives Connection: x-env');
  assert.equal(echoed.headers['x-internal-user'], undefined, 'removed in every spelling');
  assert.equal(echoed.headers['x-tag'], 'client, edge', 'add appends to the client\'s value');
  assert.equal(echoed.headers['x-forwarded-for'], '10.1.1.1, 127.0.0.1', 'forwarding headers are the proxy\'s');
  assert.equal(echoed.headers['x-real-ip'], '127.0.0.1');
  assert.ok(!res.headers.some((h) => h.startsWith('x-upstream')), res.headers.join(' | '));
  assert.ok(res.headers.includes('cache-control: private'));
  assert.ok(!res.headers.includes('cache-control: no-cache'));
  assert.ok(res.headers.includes('x-served-by: turnout'));
  assert.ok(res.headers.includes('x-backend: a'));
});
