import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import tls from 'node:tls';
import { sealSnapshot } from '../api/version.ts';
import type { Snapshot, TlsSecret } from '../api/snapshot.ts';
import { DataPlane } from './apply.ts';
import type { Echoed, TestServer } from './testkit.ts';
import { cluster, content, echoBackend, freePort, route, testEngine, vhost } from './testkit.ts';
import { BAR, DEFAULT, FOO, FOO2 } from './testdata/tls.ts';
import type { TestCert } from './testdata/tls.ts';

let dp: DataPlane;
let port: number;
let backend: TestServer;

before(async () => {
  dp = new DataPlane({ http1Engine: testEngine() });
  port = await freePort();
  backend = await echoBackend('a');
});

after(async () => {
  await dp.close();
  await backend.close();
});

const pem = (c: TestCert): TlsSecret => ({ cert: c.cert, key: c.key });

function snapshot(foo: TestCert, fallback: TestCert): Snapshot {
  const routes = [route('Prefix', '/', 'c/a:1')];
  return sealSnapshot(content({
    listeners: { https: { protocol: 'https', address: '127.0.0.1', port, defaultSecret: '@default' } },
    virtualHosts: {
      'foo.com': vhost(routes, 'ns/foo'),
      '*.foo.com': vhost(routes, 'ns/foo'),
      'bar.com': vhost(routes, 'ns/bar'),
      'plain.com': vhost(routes),
    },
    clusters: { 'c/a:1': cluster(backend.port) },
    secrets: { '@default': pem(fallback), 'ns/foo': pem(foo), 'ns/bar': pem(BAR) },
  }));
}

/** The O= of the certificate the proxy presents for `servername` (undefined: send no SNI). */
function servedOrg(servername: string | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
      const org = socket.getPeerCertificate().subject?.O;
      socket.end();
      resolve(String(org));
    });
    socket.on('error', reject);
  });
}

test('SNI picks the host certificate: exact, one-label wildcard, else the listener default', async () => {
  assert.ok((await dp.apply(snapshot(FOO, DEFAULT))).ok);
  assert.equal(await servedOrg('foo.com'), FOO.org);
  assert.equal(await servedOrg('FOO.com'), FOO.org);
  assert.equal(await servedOrg('api.foo.com'), FOO.org);
  assert.equal(await servedOrg('bar.com'), BAR.org);
  assert.equal(await servedOrg('a.b.foo.com'), DEFAULT.org);
  assert.equal(await servedOrg('plain.com'), DEFAULT.org, 'a host without tls gets the default');
  assert.equal(await servedOrg('unknown.org'), DEFAULT.org);
  assert.equal(await servedOrg(undefined), DEFAULT.org, 'no SNI at all');
});

test('HTTPS requests are proxied with X-Forwarded-Proto https', async () => {
  assert.ok((await dp.apply(snapshot(FOO, DEFAULT))).ok);
  const body = await new Promise<string>((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/x', servername: 'foo.com', headers: { host: 'foo.com' }, rejectUnauthorized: false, agent: false }, (res) => {
      let data = '';
      res.on('data', (c: Buffer) => (data += c.toString()));
      res.on('end', () => resolve(data));
    });
    req.on('error', reject);
  });
  const echoed = JSON.parse(body) as Echoed;
  assert.equal(echoed.headers['x-forwarded-proto'], 'https');
  assert.equal(echoed.headers['x-forwarded-host'], 'foo.com');
});

test('a certificate change applies to the next handshake without reopening the listener', async () => {
  assert.ok((await dp.apply(snapshot(FOO, DEFAULT))).ok);
  const server = dp.listeners.list().https;
  // An open TLS connection from before the change…
  const before = tls.connect({ host: '127.0.0.1', port, servername: 'foo.com', rejectUnauthorized: false });
  await new Promise((resolve) => before.once('secureConnect', resolve));
  assert.equal(before.getPeerCertificate().subject?.O, FOO.org);

  assert.ok((await dp.apply(snapshot(FOO2, BAR))).ok);
  assert.equal(await servedOrg('foo.com'), FOO2.org, 'host certificate rotated');
  assert.equal(await servedOrg(undefined), BAR.org, 'default certificate rotated');
  assert.deepEqual(dp.listeners.list().https, server);
  // …still serves: the listener was not restarted.
  const chunks: Buffer[] = [];
  before.on('data', (c: Buffer) => chunks.push(c));
  before.write('GET / HTTP/1.1\r\nHost: foo.com\r\nConnection: close\r\n\r\n');
  await new Promise((resolve) => before.once('end', resolve));
  assert.match(Buffer.concat(chunks).toString(), /^HTTP\/1\.1 200 /);
  before.destroy();
});
