// End-to-end: the snapshot stream through controller faults, with `turnout
// controller` and `turnout proxy` as separate processes over wss.
//  - A proxy restarted while the controller is down serves its last known good
//    snapshot from --state-dir, and picks up changes once the controller returns
//    (without re-applying what it already has).
//  - The controller killed with SIGKILL and restarted under client load: not one
//    request fails.
// The controller gets --default-cert/--default-key so a restarted controller
// compiles the same content, hence the same version, as the one before.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { clientLoad, echoBackend, eventually, freePort, get, selfSignedPair, turnout, type Proc } from './harness.ts';
import { routesYaml, servicesYaml, tlsYaml } from './manifests.ts';

const TOKEN = 'correct-horse-battery-staple-0123';
const PROXY_ID = 'e2e-outage-proxy';

/** A manifest folder, a token, stream and default certificates, free ports, and the two commands. */
class Split {
  dir = '';
  secrets = '';
  stateDir = '';
  controller: Proc | undefined;
  proxy: Proc | undefined;
  readonly backends: Record<string, { server: Server; port: number }> = {};
  readonly ports = { http: 0, https: 0, stream: 0, cadmin: 0, padmin: 0 };

  async setUp(): Promise<void> {
    for (const name of ['a', 'b', 'c']) this.backends[name] = await echoBackend(name);
    this.dir = await mkdtemp(join(tmpdir(), 'turnout-outage-'));
    this.secrets = await mkdtemp(join(tmpdir(), 'turnout-outage-secrets-'));
    // Not created in advance: the proxy creates it 0700.
    this.stateDir = join(this.secrets, 'state');
    const stream = await selfSignedPair('turnout-controller', '127.0.0.1');
    const fallback = await selfSignedPair('turnout-e2e-default');
    await writeFile(this.file('token'), `${TOKEN}\n`);
    await writeFile(this.file('stream.crt'), stream.cert);
    await writeFile(this.file('stream.key'), stream.key);
    await writeFile(this.file('default.crt'), fallback.cert);
    await writeFile(this.file('default.key'), fallback.key);
    const b = this.backends;
    await writeFile(join(this.dir, 'services.yaml'), servicesYaml({ a: b.a!.port, b: b.b!.port, c: b.c!.port }));
    await writeFile(join(this.dir, 'routes.yaml'), routesYaml({ main: 'b' }));
    await writeFile(join(this.dir, 'tls.yaml'), tlsYaml());
    for (const k of Object.keys(this.ports) as Array<keyof typeof this.ports>) this.ports[k] = await freePort();
  }

  file(name: string): string {
    return join(this.secrets, name);
  }

  /** Starts the controller and waits until it has a snapshot to send. */
  async startController(): Promise<Proc> {
    const p = this.ports;
    this.controller = turnout(['controller', '--manifests', this.dir, '--token-file', this.file('token'),
      '--stream-port', String(p.stream), '--admin-port', String(p.cadmin),
      '--stream-cert', this.file('stream.crt'), '--stream-key', this.file('stream.key'),
      '--default-cert', this.file('default.crt'), '--default-key', this.file('default.key'),
      '--http-port', String(p.http), '--https-port', String(p.https), '--listen-address', '127.0.0.1']);
    const c = this.controller;
    await eventually('controller ready', async () => (await get(p.cadmin, '/readyz')).status === 200, 30_000)
      .catch((err: Error) => { throw new Error(`${err.message}\n--- controller ---\n${c.output()}`); });
    return c;
  }

  /** Starts the proxy with --state-dir and waits until /readyz answers 200. */
  async startProxy(): Promise<Proc> {
    const p = this.ports;
    this.proxy = turnout(['proxy', '--controller', `wss://127.0.0.1:${p.stream}`, '--controller-ca', this.file('stream.crt'),
      '--token-file', this.file('token'), '--admin-port', String(p.padmin), '--proxy-id', PROXY_ID, '--state-dir', this.stateDir]);
    const proxy = this.proxy;
    await eventually('proxy ready', async () => (await get(p.padmin, '/readyz')).status === 200, 30_000)
      .catch((err: Error) => { throw new Error(`${err.message}\n--- proxy ---\n${proxy.output()}`); });
    return proxy;
  }

  /** The proxy's /snapshot summary. */
  async served(): Promise<{ version: string; appliedAt: string }> {
    return JSON.parse((await get(this.ports.padmin, '/snapshot')).body) as { version: string; appliedAt: string };
  }

  /** The version the controller's session with our proxy has acknowledged, if connected. */
  async ackedByController(): Promise<string | undefined> {
    const r = await get(this.ports.cadmin, '/proxies');
    if (r.status !== 200) return undefined;
    const sessions = JSON.parse(r.body) as Array<{ proxyId?: string; ackedVersion?: string }>;
    return sessions.find((s) => s.proxyId === PROXY_ID)?.ackedVersion;
  }

  /** The version held by the state file. */
  async stateVersion(): Promise<string | undefined> {
    const text = await readFile(join(this.stateDir, 'snapshot.json'), 'utf8').catch(() => undefined);
    return text === undefined ? undefined : (JSON.parse(text) as { snapshot: { version: string } }).snapshot.version;
  }

  async body(host: string, path = '/'): Promise<string> {
    const r = await get(this.ports.http, path, { host });
    return r.error ?? r.body;
  }

  async tearDown(): Promise<void> {
    await this.proxy?.stop();
    await this.controller?.stop();
    for (const b of Object.values(this.backends)) b.server.close();
    if (this.secrets) await rm(this.secrets, { recursive: true, force: true });
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}

describe('a proxy restarted while the controller is down', () => {
  const env = new Split();
  before(() => env.setUp());
  after(() => env.tearDown());

  test('serves from its state dir, then catches up without re-applying what it has', async () => {
    await env.startController();
    await env.startProxy();
    assert.equal(await env.body('b.test'), 'b /');
    const first = await env.served();
    await eventually('state file written', async () => (await env.stateVersion()) === first.version);
    assert.equal((await stat(env.stateDir)).mode & 0o777, 0o700, 'the state dir is created 0700');
    assert.equal((await stat(join(env.stateDir, 'snapshot.json'))).mode & 0o777, 0o600, 'the state file holds keys: 0600');

    assert.equal(await env.controller!.stop(), 0);
    assert.equal(await env.proxy!.stop(), 0);

    // No controller anywhere: the restarted proxy is ready from its state dir.
    const proxy = await env.startProxy();
    await eventually('restore logged', async () => /serving the last known good snapshot from the state dir/.test(proxy.output()));
    const restored = await env.served();
    assert.equal(restored.version, first.version);
    assert.equal(await env.body('b.test'), 'b /');
    assert.equal(await env.body('b.test', '/api/x'), 'c /api/x');
    const tls = await get(env.ports.https, '/', { tls: true, servername: 'secure.test', host: 'secure.test' });
    assert.equal(tls.body, 'a /', 'TLS hosts are served with their restored Secret');
    for (const p of [env.proxy!, env.controller!]) {
      assert.ok(!p.output().includes('PRIVATE KEY') && !p.output().includes(TOKEN), 'no keys or tokens in logs');
    }

    // The controller returns with the same content, hence the same version:
    // the proxy's hello names it, and the controller sends nothing.
    await env.startController();
    assert.equal(JSON.parse((await get(env.ports.cadmin, '/snapshot')).body).version, first.version,
      'a restarted controller with the same inputs and --default-cert compiles the same version');
    await eventually('proxy reconnected', async () => (await env.ackedByController()) === first.version, 30_000);
    const after = await env.served();
    assert.equal(after.version, first.version);
    assert.equal(after.appliedAt, restored.appliedAt, 'nothing was re-applied on reconnect');

    await writeFile(join(env.dir, 'routes.yaml'), routesYaml({ main: 'c' }));
    await eventually('a manifest change reaches the proxy', async () => (await env.body('b.test')) === 'c /', 30_000);
    const changed = await env.served();
    assert.notEqual(changed.version, first.version);
    await eventually('the change is saved', async () => (await env.stateVersion()) === changed.version);
  });
});

describe('the controller killed with SIGKILL and restarted under load', () => {
  const env = new Split();
  before(async () => {
    await env.setUp();
    await env.startController();
    await env.startProxy();
  });
  after(() => env.tearDown());

  test('zero failed requests through the proxy', async () => {
    assert.equal(await env.body('b.test', '/steady'), 'b /steady');
    // Bounded in count and time; the test stops it well before either bound.
    const load = clientLoad({ port: env.ports.http, host: 'b.test', path: '/steady', expect: 'b /steady', keepAlive: 3, fresh: 2, maxRequests: 200_000, maxMs: 120_000 });
    let outageOk = 0;
    try {
      await eventually('load running', async () => load.stats.ok >= 100);
      const killed = env.controller!;
      killed.child.kill('SIGKILL');
      await killed.exited;
      // The outage lasts until a thousand more requests were answered: a
      // measure in requests, not in time, so a slow machine cannot skip it.
      const atKill = load.stats.ok + load.stats.failed;
      await eventually('requests served while the controller is dead', async () => load.stats.ok + load.stats.failed >= atKill + 1_000, 60_000);
      outageOk = load.stats.ok + load.stats.failed - atKill;

      await env.startController();
      await eventually('proxy reconnected', async () => (await env.ackedByController()) !== undefined, 30_000);
      await writeFile(join(env.dir, 'routes.yaml'), routesYaml({ main: 'b', extraPath: '/after-kill', extraTarget: 'a' }));
      await eventually('a change after the restart is served', async () => (await env.body('b.test', '/after-kill')) === 'a /after-kill', 30_000);
    } finally {
      await load.stop();
    }
    const { ok, failed, errors } = load.stats;
    console.log(`# controller SIGKILL + restart under load: ${ok} ok, ${failed} failed (${outageOk} answered while the controller was dead) ${JSON.stringify([...errors])}`);
    assert.equal(failed, 0, JSON.stringify([...errors]));
    assert.ok(ok > 1_100, `too few requests: ${ok}`);
  });
});
