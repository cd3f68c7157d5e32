import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectCache, isCachedKind, objectKey } from './cache.ts';
import type { CacheChange } from './cache.ts';
import { TurnoutError } from './errors.ts';
import type { KubeObject } from './k8s/types.ts';

const svc = (name: string, namespace?: string, port = 80): KubeObject & { spec: unknown } => ({
  apiVersion: 'v1', kind: 'Service', metadata: { name, ...(namespace ? { namespace } : {}) }, spec: { ports: [{ port }] },
});

test('upsert dedupes identical content and reports real changes', () => {
  const cache = new ObjectCache();
  const changes: CacheChange[] = [];
  cache.onChange((c) => changes.push(c));
  assert.equal(cache.upsert(svc('web', 'shop')), true);
  assert.equal(cache.upsert(svc('web', 'shop')), false, 'same content, new object');
  // Key order does not matter: content is compared canonically.
  assert.equal(cache.upsert({ spec: { ports: [{ port: 80 }] }, metadata: { namespace: 'shop', name: 'web' }, kind: 'Service', apiVersion: 'v1' } as KubeObject), false);
  assert.equal(cache.upsert(svc('web', 'shop', 81)), true);
  assert.deepEqual(changes.map((c) => c.keys), [['Service/shop/web'], ['Service/shop/web']]);
  assert.deepEqual(changes.map((c) => c.generation), [1, 2]);
});

test('objects without a namespace are in default; IngressClass is cluster-scoped', () => {
  const cache = new ObjectCache();
  cache.upsert(svc('web'));
  assert.equal(cache.upsert(svc('web', 'default')), false, 'same object as the one without namespace');
  assert.equal(cache.get('Service', 'default', 'web')?.metadata.namespace, 'default');
  assert.equal(cache.get('Service', undefined, 'web')?.metadata.name, 'web');
  cache.upsert({ kind: 'IngressClass', metadata: { name: 'turnout' } });
  assert.equal(cache.get('IngressClass', undefined, 'turnout')?.metadata.namespace, undefined);
  assert.deepEqual(cache.keys(), ['IngressClass/turnout', 'Service/default/web']);
  assert.equal(objectKey('Ingress', undefined, 'a'), 'Ingress/default/a');
});

test('remove reports whether the object was there', () => {
  const cache = new ObjectCache();
  let notified = 0;
  cache.onChange(() => notified++);
  cache.upsert(svc('web', 'shop'));
  assert.equal(cache.remove('Service', 'shop', 'web'), true);
  assert.equal(cache.remove('Service', 'shop', 'web'), false);
  assert.equal(cache.remove('Deployment', 'shop', 'web'), false);
  assert.equal(notified, 2);
  assert.equal(cache.size, 0);
});

test('unknown kinds are refused with a stable code', () => {
  const cache = new ObjectCache();
  assert.equal(isCachedKind('Deployment'), false);
  assert.equal(isCachedKind('EndpointSlice'), true);
  assert.throws(() => cache.upsert({ kind: 'Deployment', metadata: { name: 'x' } }),
    (err: unknown) => err instanceof TurnoutError && err.code === 'CACHE_UNSUPPORTED_KIND');
});

test('inputs are sorted, frozen, reused until the next change, and private copies', () => {
  const cache = new ObjectCache();
  const mine = svc('b', 'ns');
  cache.upsert(mine);
  cache.upsert(svc('a', 'ns'));
  cache.upsert({ kind: 'Ingress', metadata: { name: 'i' } });
  const first = cache.inputs();
  assert.deepEqual(first.services.map((s) => s.metadata.name), ['a', 'b']);
  assert.equal(first.ingresses.length, 1);
  assert.equal(cache.inputs(), first, 'cached until the next change');
  assert.ok(Object.isFrozen(first.services) && Object.isFrozen(first.services[0]));
  (mine.spec as { ports: unknown[] }).ports.push({ port: 1 });
  assert.equal((first.services[1] as { spec?: { ports?: unknown[] } }).spec?.ports?.length, 1, 'the caller mutating its object does not reach the cache');
  cache.remove('Service', 'ns', 'a');
  assert.notEqual(cache.inputs(), first);
  assert.deepEqual(cache.inputs().services.map((s) => s.metadata.name), ['b']);
});

test('batch notifies once for many changes and says whether anything changed', () => {
  const cache = new ObjectCache();
  const changes: CacheChange[] = [];
  cache.onChange((c) => changes.push(c));
  const changed = cache.batch(() => {
    cache.upsert(svc('a'));
    cache.batch(() => cache.upsert(svc('b')));
    cache.upsert(svc('c'));
    cache.remove('Service', 'default', 'c');
  });
  assert.equal(changed, true);
  assert.equal(changes.length, 1);
  assert.deepEqual(changes[0]!.keys, ['Service/default/a', 'Service/default/b', 'Service/default/c', 'Service/default/c']);
  assert.equal(cache.batch(() => cache.upsert(svc('a'))), false);
  assert.equal(changes.length, 1);
});

test('Routes are cached like every other namespaced kind and handed to the compiler', () => {
  const cache = new ObjectCache();
  assert.equal(isCachedKind('Route'), true);
  const route = (name: string, weight: number): KubeObject & { spec: unknown } => ({
    apiVersion: 'turnout.dev/v1alpha1', kind: 'Route', metadata: { name }, spec: { rules: [{ backends: [{ name: 'web', port: 80, weight }] }] },
  });
  assert.equal(cache.upsert(route('b', 1)), true);
  assert.equal(cache.upsert(route('a', 1)), true);
  assert.equal(cache.upsert(route('a', 1)), false, 'same content');
  assert.deepEqual(cache.keys(), ['Route/default/a', 'Route/default/b']);
  assert.deepEqual(cache.inputs().routes?.map((r) => r.metadata.name), ['a', 'b']);
  assert.equal(cache.upsert(route('a', 2)), true, 'a weight change is a change');
  assert.equal(cache.remove('Route', 'default', 'b'), true);
  assert.deepEqual(cache.inputs().routes?.map((r) => r.metadata.name), ['a']);
});

test('inputs stay sorted through inserts and removes; the lists of kinds that did not change are reused', () => {
  const cache = new ObjectCache();
  const names = ['m', 'b', 'z', 'a', 'q', 'c', 'y', 'd'];
  const ing = (name: string, ns: string) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name, namespace: ns }, spec: {} });
  for (const [i, n] of names.entries()) {
    cache.upsert(svc(n, i % 2 ? 'ns-b' : 'ns-a'));
    cache.upsert(ing(n, 'x'));
  }
  const ids = (list: readonly KubeObject[]) => list.map((o) => `${o.metadata.namespace}/${o.metadata.name}`);
  const sorted = (xs: string[]) => [...xs].sort();
  const first = cache.inputs();
  assert.deepEqual(ids(first.services), sorted(ids(first.services)));
  cache.remove('Service', 'ns-a', 'q');
  cache.upsert(svc('e', 'ns-a'));
  cache.upsert(svc('b', 'ns-b', 81));
  const second = cache.inputs();
  assert.deepEqual(ids(second.services), sorted(names.map((n, i) => `${i % 2 ? 'ns-b' : 'ns-a'}/${n}`).filter((k) => k !== 'ns-a/q').concat('ns-a/e')));
  assert.equal(second.ingresses, first.ingresses, 'no Ingress changed: the same frozen list');
  assert.notEqual(second.services, first.services);
  assert.ok(Object.isFrozen(second.services));
});
