// End-to-end: the real `turnout local` CLI on free loopback ports, serving a
// temporary manifest folder that routes to real echo backends. Covers routing,
// live edits, a bad file, TLS by SNI, and zero failed requests while the
// manifests change 50 times under a bounded client load.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type { Server } from 'node:http';
import { clientLoad, echoBackend, eventually, freePort, get, turnout, type Proc } from './harness.ts';
import { routesYaml, servicesYaml, tlsYaml } from './manifests.ts';
import { testEngine } from '../proxy/testkit.ts';

describe('turnout local', () => {
  let dir: string;
  let proc: Proc;
  const ports = { http: 0, https: 0, admin: 0 };
  const backends: Record<string, { server: Server; port: number }> = {};

  before(async () => {
    for (const name of ['a', 'b', 'c']) backends[name] = await echoBackend(name);
    dir = await mkdtemp(join(tmpdir(), 'turnout-e2e-'));
    await writeFile(join(dir, 'services.yaml'), servicesYaml({ a: backends.a!.port, b: backends.b!.port, c: backends.c!.port }));
    await writeFile(join(dir, 'routes.yaml'), routesYaml({ main: 'b' }));
    await writeFile(join(dir, 'tls.yaml'), tlsYaml());
    ports.http = await freePort();
    ports.https = await freePort();
    ports.admin = await freePort();
    // package.json's test:node-engine runs this file again on node:http, through the flag.
    proc = turnout(['local', '--manifests', dir, '--http-port', String(ports.http), '--https-port', String(ports.https), '--admin-port', String(ports.admin),
      '--http1-engine', testEngine()]);
    await eventually('readyz', async () => (await get(ports.admin, '/readyz')).status === 200, 30_000).catch((err) => {
      throw new Error(`${(err as Error).message}\n--- turnout output ---\n${proc.output()}`);
    });
  });

  after(async () => {
    await proc?.stop();
    for (const b of Object.values(backends)) b.server.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('routes by host and path, per the Ingress spec', async () => {
    const cases: Array<[host: string, path: string, status: number, body?: string]> = [
      ['b.test', '/', 200, 'b /'],
      ['B.Test:8080', '/x', 200, 'b /x'],
      ['b.test', '/exact', 200, 'a /exact'],
      ['b.test', '/exact/', 200, 'b /exact/'],
      ['b.test', '/api/v1', 200, 'c /api/v1'],
      ['b.test', '/apix', 200, 'b /apix'],
      ['x.wild.test', '/', 200, 'c /'],
      ['y.x.wild.test', '/', 404],
      ['wild.test', '/', 404],
      ['nobody.test', '/', 404],
      ['empty.test', '/', 503],
      ['missing.test', '/', 503],
    ];
    for (const [host, path, status, body] of cases) {
      const r = await get(ports.http, path, { host });
      assert.equal(r.status, status, `${host}${path}: ${r.status} ${r.body} ${r.error ?? ''}`);
      if (body) assert.equal(r.body, body, `${host}${path}`);
    }
  });

  test('sets X-Forwarded-* headers', async () => {
    const r = await get(ports.http, '/', { host: 'b.test' });
    assert.equal(r.headers['x-echo-xff'], '127.0.0.1');
    assert.equal(r.headers['x-echo-proto'], 'http');
    assert.equal(r.headers['x-echo-host'], 'b.test');
  });

  test('serves TLS hosts with their Secret by SNI and others with the default certificate', async () => {
    const subject = (servername: string) =>
      new Promise<string>((resolve, reject) => {
        const sock = tlsConnect({ host: '127.0.0.1', port: ports.https, servername, rejectUnauthorized: false }, () => {
          const cn = sock.getPeerCertificate().subject?.CN;
          sock.end();
          resolve(String(cn));
        });
        sock.on('error', reject);
      });
    assert.equal(await subject('secure.test'), 'secure.test');
    assert.equal(await subject('other.test'), 'Turnout Default Certificate');
    const r = await get(ports.https, '/', { tls: true, servername: 'secure.test', host: 'secure.test' });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'a /');
    assert.equal(r.headers['x-echo-proto'], 'https');
  });

  test('admin /snapshot reports the version and counts, never keys', async () => {
    const r = await get(ports.admin, '/snapshot');
    assert.equal(r.status, 200);
    const s = JSON.parse(r.body);
    assert.match(s.version, /^[0-9a-f]+$/);
    assert.ok(s.appliedAt);
    assert.ok(!r.body.includes('PRIVATE KEY'));
    assert.ok(!r.body.includes('BEGIN CERTIFICATE'));
  });

  test('admin /status lists objects with their conditions, Programmed once the proxy serves them', async () => {
    const programmed = async () => {
      const doc = JSON.parse((await get(ports.admin, '/status')).body) as { objects: Record<string, Array<{ type: string; status: string }>> };
      return doc.objects['Ingress/default/main']?.find((c) => c.type === 'Programmed')?.status === 'True' && doc;
    };
    const doc = await eventually('Programmed=True', programmed);
    assert.ok(doc.objects['Ingress/default/unready']?.some((c) => c.type === 'ResolvedRefs' && c.status === 'False'), 'the missing Service is a condition');
  });

  test('an edited manifest is served, a broken file keeps its objects', async () => {
    await writeFile(join(dir, 'routes.yaml'), routesYaml({ main: 'c' }));
    await eventually('edit served', async () => (await get(ports.http, '/', { host: 'b.test' })).body === 'c /');
    await writeFile(join(dir, 'routes.yaml'), 'kind: Ingress\nmetadata: {name: broken\n  spec: [\n');
    await eventually('parse error reported', async () => /routes\.yaml:\d+/.test(proc.output()));
    assert.equal((await get(ports.http, '/', { host: 'b.test' })).body, 'c /');
    await writeFile(join(dir, 'routes.yaml'), routesYaml({ main: 'b' }));
    await eventually('fixed file served', async () => (await get(ports.http, '/', { host: 'b.test' })).body === 'b /');
  });

  test('50 manifest changes under load: zero failed requests', async () => {
    const load = clientLoad({ port: ports.http, host: 'b.test', path: '/steady', expect: 'b /steady', keepAlive: 3, fresh: 2, maxRequests: 200_000, maxMs: 120_000 });
    let stats;
    try {
      for (let i = 1; i <= 50; i++) {
        const target = i % 2 === 0 ? 'a' : 'c';
        await writeFile(join(dir, 'routes.yaml'), routesYaml({ main: 'b', extraPath: `/v${i}`, extraTarget: target }));
        await eventually(`change ${i} served`, async () => (await get(ports.http, `/v${i}`, { host: 'b.test' })).body === `${target} /v${i}`);
      }
    } finally {
      stats = await load.stop();
    }
    console.log(`# load during 50 changes: ${stats.ok} ok, ${stats.failed} failed ${JSON.stringify([...stats.errors])}`);
    assert.ok(stats.ok > 100, `too few requests: ${stats.ok}`);
    assert.equal(stats.failed, 0, JSON.stringify([...stats.errors]));
  });
});

describe('turnout CLI errors', () => {
  test('unknown flag: exit 2 naming the flag', async () => {
    const p = turnout(['local', '--manifests', '.', '--bogus']);
    assert.equal(await p.exited, 2);
    assert.match(p.output(), /--bogus/);
  });

  test('missing folder: exit 2 naming the folder', async () => {
    const p = turnout(['local', '--manifests', '/nonexistent/turnout-e2e']);
    assert.equal(await p.exited, 2);
    assert.match(p.output(), /\/nonexistent\/turnout-e2e/);
  });

  test('port in use: exit 2 naming the port', async () => {
    const { server, port } = await echoBackend('squatter');
    const dir = await mkdtemp(join(tmpdir(), 'turnout-e2e-'));
    try {
      const p = turnout(['local', '--manifests', dir, '--http-port', String(port), '--https-port', String(await freePort()), '--admin-port', String(await freePort())]);
      const code = await Promise.race([p.exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 20_000))]);
      if (code === 'timeout') await p.stop();
      assert.equal(code, 2, p.output());
      assert.match(p.output(), new RegExp(`${port}.*(in use|EADDRINUSE)`, 'i'));
    } finally {
      server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('--help for every command exits 0', async () => {
    for (const cmd of ['local', 'controller', 'proxy']) {
      const p = turnout([cmd, '--help']);
      assert.equal(await p.exited, 0);
      assert.match(p.output(), new RegExp(`Usage: turnout ${cmd}`));
    }
  });
});
