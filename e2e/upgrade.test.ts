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
// sysctl set, as docs/upgrades.md asks; .ci/run sets it, and without it this
// test fails saying so rather than hiding the loss.
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
  assert.equal(migrate, '1', 'net.ipv4.tcp_migrate_req must be 1 for zero-loss upgrades: sudo sysctl -w net.ipv4.tcp_migrate_req=1 (see docs/upgrades.md)');
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
  assert.equal(stats.failed, 0, JSON.stringify([...stats.errors]));
});
