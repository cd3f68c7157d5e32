import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ObjectCache } from '../cache.ts';
import { createLogger } from '../../lib/log.ts';
import { collectionPath, KubeSource, normalise, WATCHED_KINDS } from './kube.ts';
import { FakeTransport, httpError, until } from './kube-testing.ts';

const quiet = createLogger({ level: 'error', write: () => {} });
const path = (kind: string, ns?: string) => collectionPath(WATCHED_KINDS.find((k) => k.kind === kind)!, ns);

const ingress = {
  metadata: {
    name: 'web', namespace: 'shop', uid: 'u1', resourceVersion: '17', generation: 3,
    managedFields: [{ manager: 'kubectl' }],
    annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"big":true}', keep: 'me' },
  },
  spec: { ingressClassName: 'turnout', rules: [{ host: 'a.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 's', port: { number: 80 } } } }] } }] },
  status: { loadBalancer: { ingress: [{ ip: '10.0.0.1' }] } },
};

test('normalise sets kind and apiVersion and strips status, resourceVersion, managedFields and last-applied', () => {
  const n = normalise(ingress, 'Ingress', 'networking.k8s.io/v1') as any;
  assert.equal(n.kind, 'Ingress');
  assert.equal(n.apiVersion, 'networking.k8s.io/v1');
  assert.equal(n.status, undefined);
  assert.deepEqual(n.metadata, { name: 'web', namespace: 'shop', uid: 'u1', generation: 3, annotations: { keep: 'me' } });
  assert.equal((ingress.metadata as any).managedFields.length, 1, 'the input is not mutated');
});

test('watches every kind (TLS Secrets only, namespace-scoped with --watch-namespace); synced only when ALL listed', async () => {
  const t = new FakeTransport();
  t.set(path('Ingress', 'shop'), [ingress]);
  t.listFailures.set(path('Route', 'shop'), [httpError(404, 'NotFound')]); // CRD not installed yet
  const cache = new ObjectCache();
  const src = new KubeSource({ client: t.client, namespace: 'shop', informer: { initialBackoffMs: 20 }, log: quiet });
  const started = src.start(cache);
  await until(() => src.problems().length === 1, 'the Route problem');
  assert.equal(src.synced, false);
  assert.match(src.problems()[0]!.message, /Route.*404/);
  await started;
  assert.equal(src.synced, true);
  assert.deepEqual(src.problems(), []);
  assert.deepEqual(new Set(t.lists), new Set([
    '/apis/networking.k8s.io/v1/namespaces/shop/ingresses', '/apis/networking.k8s.io/v1/ingressclasses',
    '/api/v1/namespaces/shop/services', '/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices',
    '/api/v1/namespaces/shop/secrets', '/apis/turnout.dev/v1alpha1/namespaces/shop/routes',
  ]));
  const secretWatch = t.watches.find((w) => w.path.endsWith('/secrets'))!;
  assert.equal(secretWatch.query.fieldSelector, 'type=kubernetes.io/tls');
  assert.deepEqual(cache.keys(), ['Ingress/shop/web']);
  assert.equal((cache.get('Ingress', 'shop', 'web') as any).status, undefined);
  assert.deepEqual(src.observed('Ingress/shop/web'), { uid: 'u1', resourceVersion: '17', generation: 3, status: ingress.status });
  await src.close();
});

test('a status-only change updates the observed status without a cache change; a deletion drops both', async () => {
  const t = new FakeTransport();
  t.set(path('Ingress'), [ingress]);
  const cache = new ObjectCache();
  const src = new KubeSource({ client: t.client, log: quiet });
  await src.start(cache);
  await until(() => t.open(path('Ingress')).length === 1, 'the Ingress watch');
  const gen = cache.generation;
  const seen: string[] = [];
  src.onObservedChange((k) => seen.push(k));
  const w = t.open(path('Ingress'))[0]!;
  w.send('MODIFIED', { ...ingress, status: { loadBalancer: { ingress: [{ ip: '10.0.0.2' }] } } });
  assert.equal(cache.generation, gen, 'no rebuild for a status write');
  assert.equal(src.observed('Ingress/shop/web')!.status.loadBalancer.ingress[0].ip, '10.0.0.2');
  assert.deepEqual(seen, ['Ingress/shop/web']);
  w.send('DELETED', ingress);
  assert.deepEqual(cache.keys(), []);
  assert.equal(src.observed('Ingress/shop/web'), undefined);
  await src.close();
});

test('an object of the wrong shape is reported and kept out of the cache', async () => {
  const t = new FakeTransport();
  t.set(path('Route'), [{ metadata: { name: 'r', namespace: 'ns' }, spec: { hostnames: 'not-a-list' } }]);
  const cache = new ObjectCache();
  const src = new KubeSource({ client: t.client, log: quiet });
  await src.start(cache);
  assert.deepEqual(cache.keys(), []);
  assert.equal(src.problems()[0]!.code, 'KUBE_INVALID_OBJECT');
  assert.match(src.problems()[0]!.message, /spec\.hostnames: must be a list/);
  await src.close();
});
