// End-to-end: a zero-error process upgrade. A second `turnout` process binds
// the same HTTP port (SO_REUSEPORT) and becomes ready from its own snapshot;
// the first gets SIGTERM, stops accepting, finishes what it serves (keep-alive
// clients get `Connection: close` and move to the new process) and exits.
// Clients with keep-alive and with a new connection per request run
// throughout; not one request may fail.
//
// The kernel's accept queue of the closing socket: without
// net.ipv4.tcp_migrate_req=1, connections that completed the handshake on
// the old socket but were not yet accepted are reset when it closes (measured
// here: 0–2 of ~3,500 requests per upgrade). The promise is made with the
// sysctl set, as docs/upgrades.md asks, and .ci/run sets it: then not one
// request may fail. On a machine where it cannot be set (an unprivileged
// container), the test says so loudly and checks what the proxy itself
// controls: the only failures are resets of connections still in the
// kernel's accept queue (ECONNRESET, at most 0.1 %), never an HTTP error.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { clientLoad, echoBackend, eventually, freePort, get, turnout, type Proc } from './harness.ts';
import { routesYaml, servicesYaml } from './manifests.ts';

let dir: string;
const backends: Record<string, { server: Server; port: number }> = {};
const ports = { http: 0, https: 0, adminOld: 0, adminNew: 0 };
const procs: Proc[] = [];

function start(admin: number, workers: number): Proc {
  const p = turnout(['local', '--manifests', dir, '--http-port', String(ports.http), '--https-port', String(ports.https),
    '--admin-port', String(admin), '--drain-timeout', '20s', '--workers', String(workers)]);
  procs.push(p);
  return p;
}

async function ready(p: Proc, admin: number): Promise<void> {
  await eventually('readyz', async () => (await get(admin, '/readyz')).status === 200, 30_000).catch((err) => {
    throw new Error(`${(err as Error).message}\n--- turnout output ---\n${p.output()}`);
  });
}

before(async () => {
  for (const name of ['a', 'b', 'c']) backends[name] = await echoBackend(name);
  dir = await mkdtemp(join(tmpdir(), 'turnout-upgrade-'));
  await writeFile(join(dir, 'services.yaml'), servicesYaml({ a: backends.a!.port, b: backends.b!.port, c: backends.c!.port }));
  await writeFile(join(dir, 'routes.yaml'), routesYaml({ main: 'b' }));
  for (const k of Object.keys(ports) as Array<keyof typeof ports>) ports[k] = await freePort();
});

after(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  for (const b of Object.values(backends)) b.server.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

for (const workers of [0, 2]) test(`a new process takes over the ports and the old one drains and exits (--workers ${workers}): zero failed requests`, async () => {
  const migrate = (await readFile('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').catch(() => '?')).trim();
  if (migrate !== '1') console.log('# WARNING: net.ipv4.tcp_migrate_req is not 1: zero-loss upgrades need it (sudo sysctl -w net.ipv4.tcp_migrate_req=1, docs/upgrades.md); checking that only accept-queue resets are lost');
  const old = start(ports.adminOld, workers);
  await ready(old, ports.adminOld);
  const load = clientLoad({ port: ports.http, host: 'b.test', path: '/steady', expect: 'b /steady', keepAlive: 3, fresh: 2, maxRequests: 200_000, maxMs: 60_000 });
  let stats;
  let exitCode: number | null = null;
  let next: Proc | undefined;
  let drainMs = 0;
  try {
    await new Promise((r) => setTimeout(r, 500));
    next = start(ports.adminNew, workers);
    await ready(next, ports.adminNew);
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    old.child.kill('SIGTERM');
    exitCode = await Promise.race([old.exited, new Promise<null>((r) => setTimeout(() => r(null), 25_000))]);
    drainMs = Date.now() - t0;
    // The new process alone now, for a while.
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal((await get(ports.http, '/steady', { host: 'b.test' })).body, 'b /steady', 'the new process serves');
  } finally {
    stats = await load.stop();
  }
  // The next case starts over on the same ports.
  await next?.stop();
  console.log(`# upgrade under load (--workers ${workers}, tcp_migrate_req=${migrate}): ${stats.ok} ok, ${stats.failed} failed ${JSON.stringify([...stats.errors])}; old process exited ${exitCode} after ${drainMs} ms`);
  assert.equal(exitCode, 0, `the old process exits cleanly once drained\n--- old ---\n${old.output()}`);
  assert.ok(stats.ok > 100, `too few requests: ${stats.ok}`);
  if (migrate === '1') assert.equal(stats.failed, 0, JSON.stringify([...stats.errors]));
  else {
    const other = [...stats.errors].filter(([kind]) => !/^0 (connect|read) ECONNRESET/.test(kind));
    assert.deepEqual(other, [], 'only accept-queue resets may be lost without tcp_migrate_req');
    assert.ok(stats.failed <= Math.max(1, (stats.ok + stats.failed) / 1000), JSON.stringify([...stats.errors]));
  }
});
