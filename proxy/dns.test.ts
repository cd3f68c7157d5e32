// DNS-named clusters through a real resolver (node:dns against a test DNS
// server on loopback UDP) and real backends on two loopback addresses.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sealSnapshot } from '../api/version.ts';
import { silentLogger } from '../lib/log.ts';
import { DataPlane } from './apply.ts';
import { content, freePort, get, route, testEngine, vhost } from './testkit.ts';
import { startDnsServer, type TestDnsServer } from './testdata/dns-server.ts';
import { DnsTargets } from './upstream/dns.ts';
import type { DnsAnswer } from './upstream/dns.ts';
import { UpstreamPools } from './upstream/pools.ts';

let dnsServer: TestDnsServer;
let dp: DataPlane;
let port: number;
let backendPort: number;
const servers: http.Server[] = [];

/** A backend on `address`:`backendPort` answering its own address. */
async function backendOn(address: string, p: number): Promise<number> {
  const s = http.createServer((req, res) => { req.resume(); res.end(address); });
  await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen(p, address, () => resolve()); });
  servers.push(s);
  return (s.address() as AddressInfo).port;
}

before(async () => {
  dnsServer = await startDnsServer();
  backendPort = await backendOn('127.0.0.2', 0);
  await backendOn('127.0.0.3', backendPort);
  port = await freePort();
  dp = new DataPlane({ http1Engine: testEngine(), dns: { servers: [dnsServer.address], minTtlMs: 100, maxTtlMs: 300 } });
});

after(async () => {
  await dp.close();
  for (const s of servers) { s.close(); s.closeAllConnections(); }
  await dnsServer.close();
});

function snapshot(name = 'backend.test') {
  return sealSnapshot(content({
    listeners: { http: { protocol: 'http', address: '127.0.0.1', port } },
    virtualHosts: { '*': vhost([route('Prefix', '/', 'ns/ext:80')]) },
    clusters: { 'ns/ext:80': { endpoints: {}, dns: { name, port: backendPort } } },
  }));
}

const until = async (what: string, f: () => Promise<boolean>, ms = 5_000) => {
  const deadline = Date.now() + ms;
  while (!(await f())) {
    assert.ok(Date.now() < deadline, `timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

test('a DNS-named cluster is resolved before it serves, and follows new addresses without a snapshot or an error', async () => {
  dnsServer.records['backend.test'] = { addresses: ['127.0.0.2'], ttl: 0 };
  assert.ok((await dp.apply(snapshot())).ok);
  assert.equal((await get(port, '/')).body, '127.0.0.2', 'the first request after the apply is served');
  // Load on keep-alive and new connections while the record changes.
  let failed = 0;
  const seen = new Set<string>();
  let stop = false;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  const loop = async (useAgent: boolean) => {
    for (let i = 0; i < 5_000 && !stop; i++) {
      const r = await new Promise<string>((resolve) => {
        http.get({ host: '127.0.0.1', port, path: '/', agent: useAgent ? agent : false }, (res) => {
          let b = '';
          res.on('data', (c) => (b += c));
          res.on('end', () => resolve(res.statusCode === 200 ? b : `status ${res.statusCode}`));
        }).on('error', (e) => resolve(`error ${e.message}`));
      });
      if (r.startsWith('127.0.0.')) seen.add(r);
      else failed++;
    }
  };
  const loops = [loop(true), loop(true), loop(false)];
  const version = dp.current?.version;
  // On a loaded machine the loops may not have finished a request yet: the change must land during the load.
  await until('the load is served by the first address', async () => seen.has('127.0.0.2'));
  dnsServer.records['backend.test'] = { addresses: ['127.0.0.3'], ttl: 0 };
  await until('traffic moved to the new address', async () => (await get(port, '/')).body === '127.0.0.3');
  await until('the load is served by the new address', async () => seen.has('127.0.0.3'));
  stop = true;
  await Promise.all(loops);
  agent.destroy();
  assert.equal(dp.current?.version, version, 'no snapshot was needed');
  assert.equal(failed, 0);
  assert.ok(seen.has('127.0.0.2') && seen.has('127.0.0.3'));
});

test('a failed lookup keeps the last good addresses', async () => {
  dnsServer.records['backend.test'] = { addresses: ['127.0.0.2'], ttl: 0 };
  await until('back on .2', async () => (await get(port, '/')).body === '127.0.0.2');
  dnsServer.records['backend.test'] = 'servfail';
  const before = dnsServer.queries.get('backend.test') ?? 0;
  await until('retried a few times', async () => (dnsServer.queries.get('backend.test') ?? 0) >= before + 3);
  for (let i = 0; i < 10; i++) assert.equal((await get(port, '/')).body, '127.0.0.2');
});

test('a name that never resolved answers 503 (not a hang), and the apply is not held forever', async () => {
  const t0 = Date.now();
  assert.ok((await dp.apply(snapshot('nothing.test'))).ok);
  assert.ok(Date.now() - t0 < 5_000);
  assert.equal((await get(port, '/')).status, 503);
});

test('TTLs are clamped to the bounds; the last table to let go stops the lookups and releases the pools', async () => {
  const lookups: number[] = [];
  let answer: DnsAnswer[] = [{ address: '10.0.0.1', ttlSeconds: 3600 }];
  const pools = new UpstreamPools();
  const targets = new DnsTargets(pools, silentLogger, { minTtlMs: 30, maxTtlMs: 60, resolve: async () => { lookups.push(Date.now()); return answer; } });
  const t = targets.acquire('x.test', 80);
  const again = targets.acquire('x.test', 80);
  assert.equal(t, again, 'one target per name and port');
  await t.first;
  assert.deepEqual(t.endpoints.map((e) => e.key), ['10.0.0.1:80']);
  await until('re-resolved at maxTtl, not after an hour', async () => lookups.length >= 3, 2_000);
  answer = [{ address: '10.0.0.2', ttlSeconds: 0 }, { address: '10.0.0.1', ttlSeconds: 0 }];
  await until('both addresses', async () => t.endpoints.length === 2, 2_000);
  assert.equal(pools.size, 2);
  t.release();
  t.release();
  const n = lookups.length;
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(lookups.length <= n + 1, 'no more lookups once released');
  assert.equal(pools.size, 0);
  assert.equal(targets.size, 0);
});
