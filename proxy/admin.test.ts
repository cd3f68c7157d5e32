import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { sealSnapshot } from '../api/version.ts';
import { startAdminServer } from './admin.ts';
import type { AdminHttp } from '../lib/admin-server.ts';
import { DataPlane } from './apply.ts';
import { cluster, content, freePort, get, route, testEngine, vhost } from './testkit.ts';
import { DEFAULT, FOO } from './testdata/tls.ts';

let dp: DataPlane;
let admin: AdminHttp;

before(async () => {
  dp = new DataPlane({ http1Engine: testEngine() });
  admin = await startAdminServer({
    source: dp,
    port: 0,
    extraRoutes: {
      '/status': () => ({ status: 200, body: [] }),
      '/readyz': () => ({ status: 200, body: 'cannot replace the proxy page\n' }),
    },
  });
});

after(async () => {
  await admin.close();
  await dp.close();
});

test('binds loopback by default', () => {
  assert.equal(admin.address, '127.0.0.1');
});

test('healthz is always ok; readyz waits for the first snapshot', async () => {
  assert.deepEqual([(await get(admin.port, '/healthz')).status, (await get(admin.port, '/healthz')).body], [200, 'ok\n']);
  assert.equal((await get(admin.port, '/readyz')).status, 503);
  const empty = JSON.parse((await get(admin.port, '/snapshot')).body) as Record<string, unknown>;
  assert.equal(empty.version, null);

  const port = await freePort();
  const s = sealSnapshot(content({
    listeners: {
      http: { protocol: 'http', address: '127.0.0.1', port },
    },
    virtualHosts: { 'foo.com': vhost([route('Prefix', '/', 'c/a:1'), route('Exact', '/x', 'c/a:1')], 'ns/foo') },
    clusters: { 'c/a:1': cluster(1, 2) },
    secrets: { 'ns/foo': { cert: FOO.cert, key: FOO.key }, '@default': { cert: DEFAULT.cert, key: DEFAULT.key } },
  }));
  assert.ok((await dp.apply(s)).ok);
  assert.equal((await get(admin.port, '/readyz')).status, 200);

  const res = await get(admin.port, '/snapshot');
  assert.equal(res.status, 200);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const doc = JSON.parse(res.body) as Record<string, unknown>;
  assert.equal(doc.version, s.version);
  assert.equal(typeof doc.appliedAt, 'string');
  assert.deepEqual(doc.listeners, { http: { protocol: 'http', address: '127.0.0.1', port } });
  assert.deepEqual(
    [doc.virtualHosts, doc.routes, doc.clusters, doc.endpoints, doc.secrets],
    [1, 2, 1, 2, 2],
  );
  assert.doesNotMatch(res.body, /BEGIN|ns\/foo|c\/a:1|127\.0\.0\.1:1/, 'no secrets, names or endpoints');
});

test('extra pages, 404 and 405', async () => {
  assert.deepEqual(JSON.parse((await get(admin.port, '/status')).body), []);
  assert.equal((await get(admin.port, '/readyz')).body, 'ok\n', 'an extra page cannot replace a proxy page');
  assert.equal((await get(admin.port, '/nope')).status, 404);
  const post = await get(admin.port, '/healthz', {}, 'POST');
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
});
