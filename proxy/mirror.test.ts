// Request mirroring end to end through forward.ts with real loopback
// backends: what the mirror receives, that a broken mirror never touches the
// client's answer, and the deterministic percent counter.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { routeKey } from '../api/snapshot.ts';
import type { Mirror, Route, RouteMatch } from '../api/snapshot.ts';
import type { SnapshotContent } from '../api/version.ts';
import type { Logger } from '../lib/log.ts';
import { drawMirror } from './mirror.ts';
import type { DirectProxy, Echoed, TestServer } from './testkit.ts';
import { cluster, directProxy, echoBackend, freePort, get, startServer } from './testkit.ts';

const debug: Array<{ msg: string; fields: Record<string, unknown> }> = [];
const log: Logger = {
  debug: (msg, fields = {}) => { debug.push({ msg, fields }); },
  info: () => {}, warn: () => {}, error: () => {},
};
let proxy: DirectProxy;
let main: TestServer;
let shadow: TestServer;
/** What the shadow (mirror) backend received. */
const mirrored: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string }> = [];
let slow: TestServer;
/** Requests the slow mirror received and never answers. */
const stalled: http.ServerResponse[] = [];

const use = (parts: Partial<SnapshotContent>) => proxy.use(parts);

function r(match: RouteMatch, action: Omit<Route, 'match' | 'timeoutMs' | 'origin'>, timeoutMs = 5_000): [string, Route] {
  return [routeKey(match.type, match.path), { match, ...action, timeoutMs, origin: 'Route/test/r' }];
}
const prefix = (path: string): RouteMatch => ({ type: 'Prefix', path });
const host = (...routes: Array<[string, Route]>) => ({ routes: Object.fromEntries(routes) });

/** Waits until `cond` holds (polling), at most `ms`. */
async function until(cond: () => boolean, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

before(async () => {
  proxy = await directProxy({ log });
  main = await echoBackend('main');
  shadow = await startServer(http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      mirrored.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('the shadow answer is never seen');
    });
  }));
  slow = await startServer(http.createServer((req, res) => {
    req.resume();
    stalled.push(res);
  }));
});

after(async () => {
  await proxy.close();
  await Promise.all([main.close(), shadow.close(), slow.close()]);
});

test('a 100 % mirror gets the same method, rewritten path and filtered headers, X-Forwarded-Host kept; its answer is dropped', async () => {
  mirrored.length = 0;
  use({
    virtualHosts: {
      '*': host(r(prefix('/api'), {
        cluster: 'ns/main:80',
        rewrite: { path: { type: 'ReplacePrefixMatch', value: '/v2' } },
        requestHeaders: { set: [{ name: 'x-env', value: 'prod' }], remove: ['x-secret'] },
        mirror: { cluster: 'ns/shadow:80', percent: 100 },
      })),
    },
    clusters: { 'ns/main:80': cluster(main.port), 'ns/shadow:80': cluster(shadow.port) },
  });
  for (const method of ['GET', 'HEAD', 'DELETE']) {
    const res = await get(proxy.port, '/api/items?q=1', { host: 'shop.com:8080', 'x-secret': 's', 'x-trace': 't1' }, method);
    assert.equal(res.status, 200, method);
    if (method === 'GET') assert.equal((JSON.parse(res.body) as Echoed).backend, 'main');
  }
  await until(() => mirrored.length === 3);
  assert.deepEqual(mirrored.map((m) => [m.method, m.url]), [['GET', '/v2/items?q=1'], ['HEAD', '/v2/items?q=1'], ['DELETE', '/v2/items?q=1']]);
  const h = mirrored[0]?.headers ?? {};
  assert.equal(h.host, 'shop.com:8080');
  assert.equal(h['x-forwarded-host'], 'shop.com:8080');
  assert.equal(h['x-forwarded-proto'], 'http');
  assert.equal(h['x-env'], 'prod');
  assert.equal(h['x-secret'], undefined);
  assert.equal(h['x-trace'], 't1');
});

test('a small body is mirrored with the same bytes; chunked bodies, redirects and unresolved mirrors send nothing', async () => {
  mirrored.length = 0;
  use({
    virtualHosts: {
      '*': host(
        r(prefix('/m'), { cluster: 'ns/main:80', mirror: { cluster: 'ns/shadow:80', percent: 100 } }),
        r(prefix('/redirect'), { redirect: { statusCode: 302, scheme: 'https' }, mirror: { cluster: 'ns/shadow:80', percent: 100 } }),
        r(prefix('/unresolved'), { cluster: 'ns/main:80', mirror: { percent: 100 } }),
      ),
    },
    clusters: { 'ns/main:80': cluster(main.port), 'ns/shadow:80': cluster(shadow.port) },
  });
  const posted = await get(proxy.port, '/m/posted', {}, 'POST', 'payload');
  assert.equal((JSON.parse(posted.body) as Echoed).body, 'payload');
  await until(() => mirrored.length >= 1);
  assert.deepEqual(mirrored.splice(0).map((m) => [m.method, m.url, m.body]), [['POST', '/m/posted', 'payload']]);
  const chunked = await get(proxy.port, '/m/chunked', { 'transfer-encoding': 'chunked' }, 'POST', 'streamed');
  assert.equal((JSON.parse(chunked.body) as Echoed).body, 'streamed');
  assert.equal((await get(proxy.port, '/redirect')).status, 302);
  assert.equal((await get(proxy.port, '/unresolved')).status, 200);
  // A bodyless request afterwards is mirrored: once it arrives, nothing else did.
  await get(proxy.port, '/m/last');
  await until(() => mirrored.length >= 1);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(mirrored.map((m) => m.url), ['/m/last']);
});

test('a mirror that never answers does not delay the client; its copy times out after the route timeout', async () => {
  stalled.length = 0;
  debug.length = 0;
  use({
    virtualHosts: { '*': host(r(prefix('/'), { cluster: 'ns/main:80', mirror: { cluster: 'ns/slow:80', percent: 100 } }, 1_000)) },
    clusters: { 'ns/main:80': cluster(main.port), 'ns/slow:80': cluster(slow.port) },
  });
  const started = Date.now();
  const res = await get(proxy.port, '/p?x=1');
  const elapsed = Date.now() - started;
  assert.equal(res.status, 200);
  assert.equal((JSON.parse(res.body) as Echoed).url, '/p?x=1');
  assert.ok(elapsed < 500, `client answered in ${elapsed} ms`);
  // The copy did reach the slow mirror, which is still holding it.
  await until(() => stalled.length === 1);
  assert.equal(stalled[0]?.writableEnded, false, 'the slow mirror has not answered');
  // The copy is given up after the route timeout (1 s), at debug level only.
  await until(() => debug.some((d) => d.msg === 'mirror timed out'), 3_000);
  assert.equal(debug.find((d) => d.msg === 'mirror timed out')?.fields.cluster, 'ns/slow:80');
});

test('a mirror that refuses connections changes nothing for the client; the failure is a debug log', async () => {
  debug.length = 0;
  const dead = await freePort();
  use({
    virtualHosts: { '*': host(r(prefix('/'), { cluster: 'ns/main:80', mirror: { cluster: 'ns/dead:80', percent: 100 } })) },
    clusters: { 'ns/main:80': cluster(main.port), 'ns/dead:80': cluster(dead) },
  });
  for (let i = 0; i < 5; i++) {
    const started = Date.now();
    const res = await get(proxy.port, `/r${i}`);
    assert.equal(res.status, 200);
    assert.equal((JSON.parse(res.body) as Echoed).url, `/r${i}`);
    assert.ok(Date.now() - started < 500);
  }
  await until(() => debug.filter((d) => d.msg === 'mirror failed').length === 5);
  assert.ok(debug.filter((d) => d.msg === 'mirror failed').every((d) => d.fields.code === 'ECONNREFUSED'), JSON.stringify(debug));
});

test('percent 0 mirrors nothing; 50 mirrors exactly every second request', async () => {
  mirrored.length = 0;
  use({
    virtualHosts: {
      '*': host(
        r(prefix('/zero'), { cluster: 'ns/main:80', mirror: { cluster: 'ns/shadow:80', percent: 0 } }),
        r(prefix('/half'), { cluster: 'ns/main:80', mirror: { cluster: 'ns/shadow:80', percent: 50 } }),
      ),
    },
    clusters: { 'ns/main:80': cluster(main.port), 'ns/shadow:80': cluster(shadow.port) },
  });
  for (let i = 0; i < 20; i++) assert.equal((await get(proxy.port, `/zero/${i}`)).status, 200);
  for (let i = 0; i < 40; i++) assert.equal((await get(proxy.port, `/half/${i}`)).status, 200);
  await until(() => mirrored.length >= 20);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const urls = mirrored.map((m) => m.url).sort((x, y) => Number(x.split('/')[2]) - Number(y.split('/')[2]));
  assert.deepEqual(urls, Array.from({ length: 20 }, (_, k) => `/half/${2 * k + 1}`));
});

test('drawMirror: exactly p of every 100, evenly spread', () => {
  for (const percent of [0, 1, 10, 33, 50, 99, 100]) {
    const m: Mirror = { cluster: 'ns/x:80', percent };
    const draws = Array.from({ length: 200 }, () => drawMirror(m));
    assert.equal(draws.slice(0, 100).filter(Boolean).length, percent, `${percent}`);
    assert.equal(draws.slice(100).filter(Boolean).length, percent, `${percent}`);
    // Evenly: never two mirrored requests closer than floor(100 / p) apart.
    if (percent > 0 && percent < 100) {
      const at = draws.flatMap((d, i) => (d ? [i] : []));
      const gap = Math.min(...at.slice(1).map((x, i) => x - (at[i] as number)));
      assert.ok(gap >= Math.floor(100 / percent), `${percent}: gap ${gap}`);
    }
  }
  const tenth: Mirror = { percent: 10 };
  assert.deepEqual(Array.from({ length: 10 }, () => drawMirror(tenth)), [false, false, false, false, false, false, false, false, false, true]);
});
