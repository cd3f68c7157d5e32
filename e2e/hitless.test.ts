// The hitless suite: real clients and backends on loopback, real listeners,
// and snapshots applied under load, in one process (--workers 0) and with two
// worker processes (--workers 2). Every load loop is bounded in count and
// time and counts every failure (connect errors, resets, unexpected status or
// body, a websocket or tcp echo that does not come back); each must be 0.
//
//   1. 100 swaps at ~100/s (routes added, removed, changed; the route under
//      load stays) under keep-alive and new-connection clients;
//   2. 200 websockets and 200 tcp streams echoing through 100 swaps;
//   3. endpoint churn: the endpoints of the route under load replaced one by
//      one, each removed backend shut down after its removal;
//   4. a certificate rotation every swap under HTTPS load;
//   5. 20 listeners added and removed under load on another one;
//   6. an ExternalName backend whose name starts resolving to another address.
// Process upgrades are e2e/upgrade.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import type { Listener, VirtualHost } from '../api/snapshot.ts';
import { sealSnapshot } from '../api/version.ts';
import { silentLogger } from '../lib/log.ts';
import { DataPlane } from '../proxy/apply.ts';
import type { SnapshotApplier } from '../proxy/applier.ts';
import { WorkerSet } from '../proxy/workers.ts';
import { cluster, content, route, testEngine, vhost } from '../proxy/testkit.ts';
import { DEFAULT, FOO, FOO2 } from '../proxy/testdata/tls.ts';
import { clientLoad, freePort, get, type LoadStats } from './harness.ts';
import { startDnsServer, type TestDnsServer } from '../proxy/testdata/dns-server.ts';

const HOST = 'load.test';
const BODY = 'steady /steady';

/** A backend answering BODY to every request: endpoints of one cluster are interchangeable. */
async function steadyBackend(address = '127.0.0.1', port = 0): Promise<{ port: number; served: () => number; close(): Promise<void> }> {
  let served = 0;
  const server = http.createServer((req, res) => {
    served++;
    req.resume();
    res.end(BODY);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(port, address, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    served: () => served,
    // A graceful shutdown, as a terminating pod does: in-flight requests finish.
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    }),
  };
}

interface EchoStats { opened: number; rounds: number; failed: number; errors: Map<string, number> }

/**
 * `n` long-lived connections made by `open`, each sending a numbered line
 * every ~50 ms and expecting it back within 5 s, until stop() or `maxMs`.
 */
function echoers(n: number, maxMs: number, open: () => { send(s: string): void; onData(f: (s: string) => void): void; onEnd(f: (why: string) => void): void; close(): void }): { ready: Promise<void>; stop(): Promise<EchoStats> } {
  const stats: EchoStats = { opened: 0, rounds: 0, failed: 0, errors: new Map() };
  const deadline = Date.now() + maxMs;
  let stopped = false;
  const fail = (why: string) => {
    stats.failed++;
    stats.errors.set(why.slice(0, 60), (stats.errors.get(why.slice(0, 60)) ?? 0) + 1);
  };
  const opened: Array<Promise<void>> = [];
  const done = Array.from({ length: n }, () => new Promise<void>((resolve) => {
    const c = open();
    let i = 0;
    let waiting: NodeJS.Timeout | undefined;
    let finished = false;
    // A slot that ends (a timeout, a mismatch, a close) counts as opened too, so `ready` never waits on it.
    const finish = () => { finished = true; clearTimeout(waiting); c.close(); ready(); resolve(); };
    const next = () => {
      if (stopped || Date.now() > deadline) return finish();
      waiting = setTimeout(() => { fail('echo timeout'); finish(); }, 5_000);
      c.send(`${++i}\n`);
    };
    let ready!: () => void;
    opened.push(new Promise((r) => (ready = r)));
    let buf = '';
    c.onData((s) => {
      if (stats.opened < n && i === 1 && buf === '') { stats.opened++; ready(); }
      buf += s;
      if (!buf.endsWith('\n')) return;
      clearTimeout(waiting);
      if (buf !== `${i}\n`) { fail(`echo mismatch ${JSON.stringify(buf)}`); return finish(); }
      buf = '';
      stats.rounds++;
      setTimeout(next, 50);
    });
    c.onEnd((why) => { if (!finished) { fail(why); finish(); } });
    next();
  }));
  return {
    ready: Promise.all(opened).then(() => undefined),
    async stop() { stopped = true; await Promise.all(done); return stats; },
  };
}

function summary(s: LoadStats | EchoStats): string {
  return JSON.stringify([...s.errors]);
}

for (const workers of [0, 2]) {
  describe(`hitless (--workers ${workers})`, () => {
    let applier: SnapshotApplier & { close(graceMs?: number): Promise<void> };
    const ports = { http: 0, https: 0, tcp: 0 };
    const steady: Array<{ port: number; close(): Promise<void> }> = [];
    let wsPort = 0;
    let tcpEchoPort = 0;
    let wss: WebSocketServer;
    let tcpEcho: net.Server;
    let endpoints: number[] = [];
    let gen = 0;
    let dns: TestDnsServer;
    const ext: Array<Awaited<ReturnType<typeof steadyBackend>>> = [];

    /** A snapshot of generation `gen`: the route under load stays; the others come and go. */
    function snapshot(o: { cert?: 'FOO' | 'FOO2'; extra?: Record<string, Listener> } = {}) {
      gen++;
      const routes = [route('Prefix', '/steady', 'c/steady:80'), route('Prefix', '/ws', 'c/ws:80'), route('Prefix', '/ext', 'c/ext:80')];
      // Added, removed and changed routes: a window of 3 of 5 paths, alternating clusters.
      for (let k = gen % 5; k < (gen % 5) + 3; k++) routes.push(route('Exact', `/gen${k % 5}`, k % 2 === 0 ? 'c/steady:80' : 'c/ws:80'));
      const vhosts: Record<string, VirtualHost> = { [HOST]: vhost(routes, 'ns/load') };
      if (gen % 2 === 0) vhosts[`g${gen % 7}.test`] = vhost([route('Prefix', '/', 'c/steady:80')]);
      const cert = o.cert === 'FOO2' ? FOO2 : FOO;
      return sealSnapshot(content({
        listeners: {
          http: { protocol: 'http', address: '127.0.0.1', port: ports.http },
          https: { protocol: 'https', address: '127.0.0.1', port: ports.https, defaultSecret: '@default' },
          tcp: { protocol: 'tcp', address: '127.0.0.1', port: ports.tcp, backends: [{ cluster: 'c/tcp:1', weight: 1 }] },
          ...o.extra,
        },
        virtualHosts: vhosts,
        clusters: {
          'c/steady:80': cluster(...endpoints), 'c/ws:80': cluster(wsPort), 'c/tcp:1': cluster(tcpEchoPort),
          'c/ext:80': { endpoints: {}, dns: { name: 'ext.test', port: ext[0]!.port } },
        },
        secrets: { '@default': { cert: DEFAULT.cert, key: DEFAULT.key }, 'ns/load': { cert: cert.cert, key: cert.key } },
      }));
    }

    async function apply(o?: Parameters<typeof snapshot>[0]): Promise<void> {
      const r = await applier.apply(snapshot(o));
      assert.ok(r.ok, JSON.stringify(r));
    }

    before(async () => {
      for (let i = 0; i < 3; i++) steady.push(await steadyBackend());
      endpoints = steady.map((s) => s.port);
      wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
      wss.on('connection', (ws) => ws.on('message', (m, binary) => ws.send(m, { binary })));
      await new Promise<void>((resolve) => wss.once('listening', resolve));
      wsPort = (wss.address() as AddressInfo).port;
      tcpEcho = net.createServer((s) => { s.on('error', () => {}); s.pipe(s); });
      await new Promise<void>((resolve) => tcpEcho.listen(0, '127.0.0.1', resolve));
      tcpEchoPort = (tcpEcho.address() as AddressInfo).port;
      for (const k of Object.keys(ports) as Array<keyof typeof ports>) ports[k] = await freePort();
      // An ExternalName backend on two loopback addresses, same port.
      dns = await startDnsServer();
      ext.push(await steadyBackend('127.0.0.2'));
      ext.push(await steadyBackend('127.0.0.3', ext[0]!.port));
      dns.records['ext.test'] = { addresses: ['127.0.0.2'], ttl: 0 };
      const dnsOptions = { servers: [dns.address], minTtlMs: 100, maxTtlMs: 200 };
      applier = workers === 0
        ? new DataPlane({ drainTimeoutMs: 2_000, dns: dnsOptions, http1Engine: testEngine() })
        : await WorkerSet.start({ count: workers, config: { drainTimeoutMs: 2_000, reusePort: true, dns: dnsOptions, http1Engine: testEngine(), logLevel: 'error' }, log: silentLogger });
      await apply();
    });

    after(async () => {
      await applier.close(5_000);
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => { tcpEcho.close(() => resolve()); });
      await Promise.all([...steady, ...ext].map((s) => s.close()));
      await dns.close();
    });

    test('1. 100 swaps at ~100/s under keep-alive and new-connection clients', async () => {
      const load = clientLoad({ port: ports.http, host: HOST, path: '/steady', expect: BODY, keepAlive: 3, fresh: 2, maxRequests: 100_000, maxMs: 60_000 });
      try {
        for (let i = 0; i < 100; i++) {
          const t0 = Date.now();
          await apply();
          await new Promise((r) => setTimeout(r, Math.max(0, 10 - (Date.now() - t0))));
        }
      } finally {
        const s = await load.stop();
        console.log(`# --workers ${workers}, 100 swaps: ${s.ok} ok, ${s.failed} failed ${summary(s)}`);
        assert.ok(s.ok > 20, `too few requests: ${s.ok}`);
        assert.equal(s.failed, 0, summary(s));
      }
    });

    test('2. 200 websockets and 200 tcp streams echo through 100 swaps', async () => {
      const ws = echoers(200, 120_000, () => {
        const sock = new WebSocket(`ws://127.0.0.1:${ports.http}/ws`, { headers: { host: HOST } });
        const queue: string[] = [];
        sock.on('open', () => { for (const m of queue.splice(0)) sock.send(m); });
        return {
          send: (s) => (sock.readyState === WebSocket.OPEN ? sock.send(s) : queue.push(s)),
          onData: (f) => sock.on('message', (m) => f(m.toString())),
          onEnd: (f) => { sock.on('close', (code) => f(`ws close ${code}`)); sock.on('error', (e) => f(`ws ${e.message}`)); },
          close: () => sock.terminate(),
        };
      });
      const tcp = echoers(200, 120_000, () => {
        const sock = net.connect(ports.tcp, '127.0.0.1');
        sock.setEncoding('utf8');
        return {
          send: (s) => sock.write(s),
          onData: (f) => sock.on('data', f),
          onEnd: (f) => { sock.on('close', () => f('tcp close')); sock.on('error', (e) => f(`tcp ${e.message}`)); },
          close: () => sock.destroy(),
        };
      });
      await Promise.all([ws.ready, tcp.ready]);
      for (let i = 0; i < 100; i++) {
        await apply();
        await new Promise((r) => setTimeout(r, 10));
      }
      const [w, t] = await Promise.all([ws.stop(), tcp.stop()]);
      console.log(`# --workers ${workers}, 100 swaps: websockets ${w.opened} opened, ${w.rounds} echoes, ${w.failed} failed ${summary(w)}; tcp ${t.opened} opened, ${t.rounds} echoes, ${t.failed} failed ${summary(t)}`);
      assert.equal(w.opened, 200);
      assert.equal(t.opened, 200);
      assert.equal(w.failed, 0, summary(w));
      assert.equal(t.failed, 0, summary(t));
      assert.ok(w.rounds > 200 && t.rounds > 200);
    });

    test('3. endpoints replaced one by one under load, each removed backend then shut down', async () => {
      const load = clientLoad({ port: ports.http, host: HOST, path: '/steady', expect: BODY, keepAlive: 3, fresh: 2, maxRequests: 100_000, maxMs: 60_000 });
      try {
        for (let i = 0; i < 6; i++) {
          const fresh = await steadyBackend();
          steady.push(fresh);
          const [gone, ...rest] = endpoints;
          endpoints = [...rest, fresh.port];
          await apply();
          // Not one proxy (worker) routes to it any more: the pod may go.
          await new Promise((r) => setTimeout(r, 200));
          const idx = steady.findIndex((s) => s.port === gone);
          await steady.splice(idx, 1)[0]!.close();
        }
      } finally {
        const s = await load.stop();
        console.log(`# --workers ${workers}, endpoint churn: ${s.ok} ok, ${s.failed} failed ${summary(s)}`);
        assert.ok(s.ok > 20, `too few requests: ${s.ok}`);
        assert.equal(s.failed, 0, summary(s));
      }
    });

    test('4. a certificate rotated on every swap under HTTPS load', async () => {
      const load = clientLoad({ port: ports.https, host: HOST, path: '/steady', expect: BODY, keepAlive: 3, fresh: 2, maxRequests: 100_000, maxMs: 60_000, tls: true });
      try {
        for (let i = 0; i < 50; i++) {
          await apply({ cert: i % 2 === 0 ? 'FOO2' : 'FOO' });
          await new Promise((r) => setTimeout(r, 20));
        }
      } finally {
        const s = await load.stop();
        console.log(`# --workers ${workers}, 50 rotations: ${s.ok} ok, ${s.failed} failed ${summary(s)}`);
        assert.ok(s.ok > 20, `too few requests: ${s.ok}`);
        assert.equal(s.failed, 0, summary(s));
      }
    });

    test('5. listeners added and removed under load on another', async () => {
      const load = clientLoad({ port: ports.http, host: HOST, path: '/steady', expect: BODY, keepAlive: 3, fresh: 2, maxRequests: 100_000, maxMs: 60_000 });
      try {
        for (let i = 0; i < 20; i++) {
          const port = await freePort();
          await apply({ extra: { [`extra${i}`]: { protocol: 'http', address: '127.0.0.1', port } } });
          assert.equal((await get(port, '/steady', { host: HOST })).body, BODY, 'the added listener serves');
          await apply();
        }
      } finally {
        const s = await load.stop();
        console.log(`# --workers ${workers}, 20 listeners added and removed: ${s.ok} ok, ${s.failed} failed ${summary(s)}`);
        assert.ok(s.ok > 20, `too few requests: ${s.ok}`);
        assert.equal(s.failed, 0, summary(s));
      }
    });

    test('6. an ExternalName backend whose name starts resolving to another address', async () => {
      const load = clientLoad({ port: ports.http, host: HOST, path: '/ext', expect: BODY, keepAlive: 3, fresh: 2, maxRequests: 100_000, maxMs: 60_000 });
      const before = ext[1]!.served();
      try {
        await new Promise((r) => setTimeout(r, 300));
        dns.records['ext.test'] = { addresses: ['127.0.0.3'], ttl: 0 };
        const deadline = Date.now() + 10_000;
        // Moved once the new address gets traffic and the old one none.
        let last = ext[0]!.served();
        for (;;) {
          await new Promise((r) => setTimeout(r, 300));
          const now = ext[0]!.served();
          if (ext[1]!.served() > before && now === last) break;
          last = now;
          assert.ok(Date.now() < deadline, 'traffic moved to the new address within 10 s');
        }
      } finally {
        const s = await load.stop();
        console.log(`# --workers ${workers}, ExternalName re-resolved: ${s.ok} ok, ${s.failed} failed ${summary(s)}`);
        assert.ok(s.ok > 20, `too few requests: ${s.ok}`);
        assert.equal(s.failed, 0, summary(s));
      }
    });
  });
}
