// End-to-end: `turnout controller` and `turnout proxy` as separate processes,
// joined by the authenticated snapshot stream over TLS (wss). The proxy keeps serving its last
// snapshot while the controller is down, and catches up when it returns.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { echoBackend, eventually, freePort, get, selfSignedPair, turnout, type Proc } from './harness.ts';
import { routesYaml, servicesYaml } from './manifests.ts';

describe('turnout controller + turnout proxy', () => {
  let dir: string;
  let secrets: string;
  let tokenFile: string;
  let badTokenFile: string;
  let certFile: string;
  let keyFile: string;
  let controller: Proc | undefined;
  let proxy: Proc | undefined;
  const backends: Record<string, { server: Server; port: number }> = {};
  const ports = { http: 0, https: 0, stream: 0, cadmin: 0, padmin: 0 };

  const startController = () =>
    turnout(['controller', '--manifests', dir, '--token-file', tokenFile,
      '--stream-port', String(ports.stream), '--admin-port', String(ports.cadmin), '--stream-cert', certFile, '--stream-key', keyFile,
      '--http-port', String(ports.http), '--https-port', String(ports.https), '--listen-address', '127.0.0.1']);

  before(async () => {
    for (const name of ['a', 'b', 'c']) backends[name] = await echoBackend(name);
    dir = await mkdtemp(join(tmpdir(), 'turnout-split-'));
    // Tokens live outside the manifest folder, as they would in a cluster.
    secrets = await mkdtemp(join(tmpdir(), 'turnout-split-tokens-'));
    tokenFile = join(secrets, 'token');
    badTokenFile = join(secrets, 'bad-token');
    certFile = join(secrets, 'stream.crt');
    keyFile = join(secrets, 'stream.key');
    const tls = await selfSignedPair('turnout-controller', '127.0.0.1');
    await writeFile(certFile, tls.cert);
    await writeFile(keyFile, tls.key);
    await writeFile(tokenFile, 'correct-horse-battery-staple-0123\n');
    await writeFile(badTokenFile, 'wrong-token-wrong-token-wrong\n');
    await writeFile(join(dir, 'services.yaml'), servicesYaml({ a: backends.a!.port, b: backends.b!.port, c: backends.c!.port }));
    await writeFile(join(dir, 'routes.yaml'), routesYaml({ main: 'b' }));
    for (const k of Object.keys(ports) as Array<keyof typeof ports>) ports[k] = await freePort();
    controller = startController();
    await eventually('controller ready', async () => (await get(ports.cadmin, '/readyz')).status === 200, 30_000);
  });

  after(async () => {
    await proxy?.stop();
    await controller?.stop();
    for (const b of Object.values(backends)) b.server.close();
    await rm(secrets, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  });

  test('a proxy with the wrong token gets nothing', async () => {
    const bad = turnout(['proxy', '--controller', `wss://127.0.0.1:${ports.stream}`, '--controller-ca', certFile, '--token-file', badTokenFile, '--admin-port', String(ports.padmin)]);
    try {
      // The proxy's own log line says it was refused (the controller's may come first, before the proxy's admin port is up).
      await eventually('refusal logged by the proxy', async () => /401|unauthori[sz]ed/i.test(bad.output()));
      await eventually('the proxy admin answers', async () => (await get(ports.padmin, '/readyz')).status !== 0);
      assert.equal((await get(ports.padmin, '/readyz')).status, 503, 'never ready: it got no snapshot');
      assert.ok(!(bad.output() + controller!.output()).includes('correct-horse'), 'tokens are never logged');
    } finally {
      await bad.stop();
    }
  });

  test('the proxy serves, survives a controller outage, and catches up', async () => {
    proxy = turnout(['proxy', '--controller', `wss://127.0.0.1:${ports.stream}`, '--controller-ca', certFile, '--token-file', tokenFile, '--admin-port', String(ports.padmin), '--proxy-id', 'e2e-proxy']);
    await eventually('proxy ready', async () => (await get(ports.padmin, '/readyz')).status === 200, 30_000);
    assert.equal((await get(ports.http, '/', { host: 'b.test' })).body, 'b /');
    const sessions = JSON.parse((await get(ports.cadmin, '/proxies')).body) as Array<{ proxyId: string }>;
    assert.ok(sessions.some((s) => s.proxyId === 'e2e-proxy'), JSON.stringify(sessions));

    assert.equal(await controller!.stop(), 0, 'the controller stops cleanly on SIGTERM');
    for (let i = 0; i < 20; i++) assert.equal((await get(ports.http, '/', { host: 'b.test' })).body, 'b /', 'served while the controller is down');
    await writeFile(join(dir, 'routes.yaml'), routesYaml({ main: 'c' }));

    controller = startController();
    await eventually('proxy catches up after the controller returns', async () => (await get(ports.http, '/', { host: 'b.test' })).body === 'c /', 30_000);
  });
});

describe('the stream refuses cleartext beyond loopback', () => {
  test('turnout controller: a non-loopback --stream-bind needs --stream-cert', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'turnout-split-'));
    try {
      await writeFile(join(dir, 'token'), 'correct-horse-battery-staple-0123\n');
      const p = turnout(['controller', '--manifests', dir, '--token-file', join(dir, 'token'), '--stream-bind', '0.0.0.0', '--stream-port', String(await freePort())]);
      assert.equal(await p.exited, 2, p.output());
      assert.match(p.output(), /--stream-bind 0\.0\.0\.0 without --stream-cert/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('turnout proxy: ws:// to a non-loopback controller is refused before connecting', async () => {
    const p = turnout(['proxy', '--controller', 'ws://10.0.0.1:18000', '--token-file', '/nonexistent']);
    assert.equal(await p.exited, 2, p.output());
    assert.match(p.output(), /not loopback: use wss:\/\//);
  });
});
