import { test } from 'node:test';
import assert from 'node:assert/strict';
import jsonpatch from 'fast-json-patch';
import { DEFAULT_SECRET } from '../../api/snapshot.ts';
import { canonicalJson, deepFreeze } from '../../api/version.ts';
import { validateSnapshot } from '../../api/validate.ts';
import type { KubeObject } from '../k8s/types.ts';
import { byAge, compile } from './builder.ts';
import {
  backend, condSummary, exactPath, FOO_TLS, ingress, inputOf, OPTIONS, prefixPath, rule, service, shuffled, slice, tls, tlsSecret,
} from './fixtures.ts';

/** A mixed little cluster touching every processor. */
function cluster(): KubeObject[] {
  return [
    ingress('web', { rules: [rule('foo.com', prefixPath('/'), exactPath('/status')), rule('*.foo.com', prefixPath('/', 'api'))], tls: [tls('foo-tls', 'foo.com')] }, { creationTimestamp: '2026-01-01T00:00:00Z' }),
    ingress('api', { rules: [rule('foo.com', prefixPath('/api', 'api', 'http'))], defaultBackend: backend('svc') }, { namespace: 'team', creationTimestamp: '2026-01-02T00:00:00Z' }),
    ingress('broken', { rules: [rule('bar.com', prefixPath('/', 'missing'))], tls: [tls('nope', 'bar.com')] }),
    service('svc'), service('api'), service('api', undefined, { namespace: 'team' }), service('svc', undefined, { namespace: 'team' }),
    slice('svc', ['10.0.0.2', '10.0.0.1']), slice('api', ['10.0.1.1'], { namespace: 'team' }), tlsSecret('foo-tls'), tlsSecret('unused'),
  ];
}

test('output is deterministic whatever the input order', () => {
  const first = compile(inputOf(cluster()), OPTIONS);
  for (let seed = 1; seed < 6; seed++) {
    const again = compile(inputOf(shuffled(cluster(), seed)), OPTIONS);
    assert.equal(again.snapshot.version, first.snapshot.version);
    assert.equal(JSON.stringify(again.snapshot), JSON.stringify(first.snapshot), 'same bytes, not only same canonical JSON');
    assert.deepEqual([...again.conditions.entries()], [...first.conditions.entries()]);
  }
});

test('the result is sealed, valid, and built from options', () => {
  const res = compile(inputOf(cluster()), OPTIONS);
  assert.deepEqual(validateSnapshot(res.snapshot), []);
  assert.ok(Object.isFrozen(res.snapshot) && Object.isFrozen(res.snapshot.virtualHosts['foo.com']));
  assert.deepEqual(res.snapshot.listeners, OPTIONS.listeners);
  assert.deepEqual(res.snapshot.secrets[DEFAULT_SECRET], OPTIONS.defaultCertificate);
  assert.ok(!Object.isFrozen(OPTIONS.defaultCertificate) && !Object.isFrozen(OPTIONS.listeners.http), 'options are not frozen by sealing');
  assert.deepEqual(Object.keys(res.snapshot.secrets), [DEFAULT_SECRET, 'default/foo-tls']);
  assert.equal(res.snapshot.defaultRoute?.cluster, 'team/svc:80');
  assert.deepEqual(res.snapshot.defaultRoute?.match, { type: 'Prefix', path: '/' });
  assert.deepEqual([...res.conditions.keys()], ['Ingress/default/web', 'Ingress/team/api', 'Ingress/default/broken']);
});

test('an https listener without a defaultSecret gets the default certificate', () => {
  const res = compile(inputOf([]), { ...OPTIONS, listeners: { tls: { protocol: 'https', address: '::', port: 443 } } });
  assert.deepEqual(res.snapshot.listeners, { tls: { protocol: 'https', address: '::', port: 443, defaultSecret: DEFAULT_SECRET } });
});

test('empty input compiles', () => {
  const res = compile(inputOf([]), OPTIONS);
  assert.deepEqual(res.snapshot.virtualHosts, {});
  assert.deepEqual(res.snapshot.clusters, {});
  assert.equal(res.conditions.size, 0);
});

test('input is not mutated (frozen input compiles)', () => {
  const objs = deepFreeze(cluster());
  const before = canonicalJson(objs);
  compile(inputOf(objs), OPTIONS);
  assert.equal(canonicalJson(objs), before);
});

test('a compiler bug throws instead of returning an invalid snapshot', () => {
  // A listener on port 0 cannot come from a Kubernetes object; it stands in for a bug.
  assert.throws(() => compile(inputOf([]), { ...OPTIONS, listeners: { http: { protocol: 'http', address: '127.0.0.1', port: 0 } } }), { code: 'SNAPSHOT_INVALID' });
});

test('a listener named __proto__ is rejected, not turned into a prototype', () => {
  const listeners = JSON.parse('{"__proto__": {"protocol": "http", "address": "127.0.0.1", "port": 80}}');
  assert.throws(() => compile(inputOf([]), { ...OPTIONS, listeners }), { code: 'SNAPSHOT_INVALID' });
  const prev = JSON.parse(JSON.stringify(compile(inputOf([]), OPTIONS).snapshot).replace('"http":', '"__proto__":'));
  assert.throws(() => compile(inputOf([]), { ...OPTIONS, listeners }, prev), { code: 'SNAPSHOT_INVALID' });
});

test('byAge: timestamp, then namespace/name, then no timestamp', () => {
  const ings = [
    ingress('z', {}), ingress('b', {}, { creationTimestamp: '2026-01-01T00:00:00+01:00' }),
    ingress('a', {}, { creationTimestamp: '2026-01-01T00:00:00Z' }), ingress('a', {}, { namespace: 'x', creationTimestamp: 'garbage' }),
  ];
  assert.deepEqual(byAge(ings).map((i) => `${i.metadata.namespace}/${i.metadata.name}`), ['default/b', 'default/a', 'default/z', 'x/a']);
});

test('byAge: equal timestamps order by the "namespace/name" string, not namespace then name', () => {
  const at = { creationTimestamp: '2026-01-01T00:00:00Z' };
  // "a-/n" < "a/n" as strings ('-' sorts before '/'), though namespace "a" < "a-".
  const ings = [ingress('n', {}, { ...at, namespace: 'a' }), ingress('n', {}, { ...at, namespace: 'a-' }), ingress('m', {}, { ...at, namespace: 'a' })];
  assert.deepEqual(byAge(ings).map((i) => `${i.metadata.namespace}/${i.metadata.name}`), ['a-/n', 'a/m', 'a/n']);
});

/** N Ingresses, one host each, two paths, own Service and slice, every 10th with TLS. */
function fleet(n: number): KubeObject[] {
  const objs: KubeObject[] = [tlsSecret('shared')];
  for (let i = 0; i < n; i++) {
    const host = `h${i}.example.com`;
    objs.push(
      ingress(`i${i}`, { rules: [rule(host, prefixPath('/', `s${i}`), exactPath('/healthz', `s${i}`))], ...(i % 10 === 0 ? { tls: [tls('shared', host)] } : {}) }),
      service(`s${i}`), slice(`s${i}`, [`10.${(i >> 8) & 255}.${i & 255}.1`, `10.${(i >> 8) & 255}.${i & 255}.2`]),
    );
  }
  return objs;
}

test('reuse: an unchanged recompile shares everything with previous', () => {
  const first = compile(inputOf(fleet(50)), OPTIONS);
  const again = compile(inputOf(fleet(50)), OPTIONS, first.snapshot);
  assert.equal(again.snapshot.version, first.snapshot.version);
  for (const k of ['listeners', 'virtualHosts', 'clusters', 'secrets'] as const) assert.equal(again.snapshot[k], first.snapshot[k], k);
  assert.deepEqual(jsonpatch.compare(first.snapshot, again.snapshot), []);
});

test('reuse at scale: a one-route change is a one-operation patch', async (t) => {
  const N = 2000;
  const objs = fleet(N);
  const prev = compile(inputOf(objs), OPTIONS).snapshot;
  const edit = (f: (o: KubeObject[]) => void) => {
    const copy = structuredClone(objs);
    f(copy);
    const next = compile(inputOf(copy), OPTIONS, prev).snapshot;
    assert.deepEqual(validateSnapshot(next), []);
    const all = jsonpatch.compare(prev, next);
    // The version always changes with the content; what matters is everything else.
    assert.deepEqual(all.filter((op) => op.path === '/version').map((op) => op.op), ['replace']);
    return { next, ops: all.filter((op) => op.path !== '/version') };
  };
  const ingressAt = (o: KubeObject[], i: number) => o.find((x) => x.kind === 'Ingress' && x.metadata.name === `i${i}`) as ReturnType<typeof ingress>;

  await t.test('add one path', () => {
    const { next, ops } = edit((o) => ingressAt(o, 7).spec!.rules![0]!.http!.paths.push(prefixPath('/new', 's7')));
    assert.deepEqual(ops.map((op) => `${op.op} ${op.path}`), ['add /virtualHosts/h7.example.com/routes/Prefix:~1new']);
    let shared = 0;
    for (const [h, vh] of Object.entries(next.virtualHosts)) if (vh === prev.virtualHosts[h]) shared++;
    assert.equal(shared, N - 1, 'every untouched vhost is === previous');
    assert.equal(next.virtualHosts['h7.example.com']!.routes['Exact:/healthz'], prev.virtualHosts['h7.example.com']!.routes['Exact:/healthz'], 'untouched route of the touched vhost is shared');
    assert.equal(next.clusters, prev.clusters);
    assert.equal(next.secrets, prev.secrets);
  });
  await t.test('change one path: remove + add', () => {
    const { ops } = edit((o) => { ingressAt(o, 7).spec!.rules![0]!.http!.paths[0]!.path = '/v2'; });
    assert.deepEqual(ops.map((op) => `${op.op} ${op.path}`).sort(), ['add /virtualHosts/h7.example.com/routes/Prefix:~1v2', 'remove /virtualHosts/h7.example.com/routes/Prefix:~1']);
  });
  await t.test('one endpoint becomes unready', () => {
    const { next, ops } = edit((o) => {
      const s = o.find((x) => x.kind === 'EndpointSlice' && x.metadata.name === 's9-abc') as ReturnType<typeof slice>;
      s.endpoints![1]!.conditions = { ready: false };
    });
    assert.deepEqual(ops.map((op) => `${op.op} ${op.path}`), ['remove /clusters/default~1s9:80/endpoints/10.0.9.2:8080']);
    assert.equal(next.virtualHosts, prev.virtualHosts);
  });
});

test('reuse works against a previous snapshot that went through JSON', () => {
  const first = compile(inputOf(cluster()), OPTIONS);
  const revived = JSON.parse(JSON.stringify(first.snapshot));
  const again = compile(inputOf(cluster()), OPTIONS, revived);
  assert.equal(again.snapshot.virtualHosts, revived.virtualHosts);
  assert.equal(again.snapshot.version, first.snapshot.version);
  assert.deepEqual(again.snapshot.secrets['default/foo-tls'], FOO_TLS);
});

test('an Ingress the compiler chokes on gets CompileFailed; the others are still served', () => {
  // Sources refuse such shapes (k8s/shape.ts); this guards against compiler bugs.
  const broken = ingress('broken', { rules: [rule('a.com', prefixPath('/'))] }, { annotations: { 'turnout.dev/response-timeout': 5 as unknown as string } });
  const res = compile(inputOf([broken, ingress('good', { rules: [rule('b.com', prefixPath('/'))] }), service('svc')]), OPTIONS);
  assert.ok(res.snapshot.virtualHosts['b.com']);
  assert.ok(condSummary(res, 'Ingress/default/broken')?.some((c) => c.endsWith('/CompileFailed')), JSON.stringify(condSummary(res, 'Ingress/default/broken')));
});
