// The controller on the Kubernetes source (scripted list/watch, no cluster):
// nothing is published until every kind has listed, so a restarting
// controller never hands proxies a snapshot with routes missing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Controller } from './main.ts';
import { generateDefaultCertificate } from './default-cert.ts';
import { silentLogger } from '../lib/log.ts';
import { KubeSource, collectionPath, WATCHED_KINDS } from './sources/kube.ts';
import { FakeTransport, httpError, until } from './sources/kube-testing.ts';

const path = (kind: string) => collectionPath(WATCHED_KINDS.find((k) => k.kind === kind)!);
const backend = { service: { name: 'web', port: { number: 80 } } };

test('no snapshot until every informer listed; then Ingress and Route hosts are both in the first one', async () => {
  const t = new FakeTransport();
  t.set(path('Ingress'), [{ metadata: { name: 'shop', namespace: 'app', uid: 'u1', generation: 1 }, spec: { ingressClassName: 'turnout', rules: [{ host: 'shop.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend }] } }] } }]);
  t.set(path('Route'), [{ metadata: { name: 'api', namespace: 'app', uid: 'u2', generation: 1 }, spec: { ingressClassName: 'turnout', hostnames: ['api.test'], rules: [{ backends: [{ name: 'web', port: 80 }] }] } }]);
  t.set(path('Service'), [{ metadata: { name: 'web', namespace: 'app' }, spec: { clusterIP: '10.0.0.5', ports: [{ port: 80, targetPort: 8080 }] } }]);
  t.set(path('EndpointSlice'), [{ metadata: { name: 'web-1', namespace: 'app', labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4', endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }], ports: [{ port: 8080 }] }]);
  // The Route CRD answers late (installed after the controller, or the API server is slow).
  t.listFailures.set(path('Route'), [httpError(404, 'NotFound'), httpError(503)]);
  const source = new KubeSource({ client: t.client, informer: { initialBackoffMs: 100 }, log: silentLogger });
  let started: Controller | undefined;
  const starting = Controller.start({
    source,
    ingressClass: 'turnout',
    listeners: { http: { protocol: 'http', address: '127.0.0.1', port: 18080 } },
    defaultCertificate: await generateDefaultCertificate(),
    defaultTimeoutMs: 15_000,
    stream: { host: '127.0.0.1', port: 0, token: 'a-token-long-enough-0123' },
    log: silentLogger,
  }).then((c) => (started = c));
  await until(() => t.lists.filter((p) => p === path('Route')).length >= 2, 'two failed Route lists');
  assert.equal(started, undefined, 'not started while Routes have not listed');
  assert.equal(source.synced, false);
  await starting;
  const c = started!;
  try {
    const hosts = Object.keys(c.snapshot!.virtualHosts).sort();
    assert.ok(hosts.includes('shop.test') && hosts.includes('api.test'), `first snapshot has both: ${hosts}`);
    assert.equal(c.conditions.get('Route/app/api')?.find((x) => x.type === 'Accepted')?.status, 'True');
  } finally {
    await c.close();
  }
});
