import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster } from '../../api/snapshot.ts';
import type { HTTPIngressPath, KubeObject } from '../k8s/types.ts';
import { compile } from './builder.ts';
import { clusterKey, freshResolutions, upstreamProtocol } from './services.ts';
import { recompileEndpoints } from './endpoints.ts';
import { incrementalBuildCount } from './incremental.ts';
import { deepFreeze } from '../../api/version.ts';
import { cluster, condition, condSummary, ingress, inputOf, OPTIONS, prefixPath, rule, service, slice, tlsSecret } from './fixtures.ts';

const OK = ['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs'];
const refs = (reason: string) => ['Accepted=True/Accepted', `ResolvedRefs=False/${reason}`];

/** An Ingress "a" routing foo.com/ through `path`. */
const ing = (path: HTTPIngressPath = prefixPath('/')) => ingress('a', { rules: [rule('foo.com', path)] });

test('backends resolve to clusters and endpoints', async (t) => {
  const cases: Array<{ name: string; objs: KubeObject[]; want: { route?: string; clusters: Record<string, Cluster>; conds: string[] } }> = [
    {
      name: 'port number → named Service port → slice port of that name',
      objs: [ing(), service('svc'), slice('svc', ['10.0.0.1', '10.0.0.2'])],
      want: { route: 'default/svc:80', clusters: { 'default/svc:80': cluster('10.0.0.1:8080', '10.0.0.2:8080') }, conds: OK },
    },
    {
      name: 'port name',
      objs: [ing(prefixPath('/', 'svc', 'http')), service('svc'), slice('svc', ['10.0.0.1'])],
      want: { route: 'default/svc:http', clusters: { 'default/svc:http': cluster('10.0.0.1:8080') }, conds: OK },
    },
    {
      name: 'unnamed Service port ↔ slice port without a name',
      objs: [ing(), service('svc', [{ port: 80, targetPort: 9000 }]), slice('svc', ['10.0.0.1'], { ports: [{ port: 9001 }] })],
      want: { route: 'default/svc:80', clusters: { 'default/svc:80': cluster('10.0.0.1:9001') }, conds: OK },
    },
    {
      name: 'unnamed Service port ↔ slice port with an empty name',
      objs: [ing(), service('svc', [{ port: 80 }]), slice('svc', ['10.0.0.1'], { ports: [{ name: '', port: 9001 }] })],
      want: { route: 'default/svc:80', clusters: { 'default/svc:80': cluster('10.0.0.1:9001') }, conds: OK },
    },
    {
      name: 'multi-port Service picks the slice port with the same name',
      objs: [
        ing(prefixPath('/', 'svc', 9090)),
        service('svc', [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'metrics', port: 9090, targetPort: 'metrics' }]),
        slice('svc', ['10.0.0.1'], { ports: [{ name: 'http', port: 8080 }, { name: 'metrics', port: 9100 }] }),
      ],
      want: { route: 'default/svc:9090', clusters: { 'default/svc:9090': cluster('10.0.0.1:9100') }, conds: OK },
    },
    {
      name: 'appProtocol kubernetes.io/h2c: an h2c cluster',
      objs: [ing(), service('svc', [{ name: 'http', port: 80, targetPort: 8080, appProtocol: 'kubernetes.io/h2c' }]), slice('svc', ['10.0.0.1'])],
      want: { route: 'default/svc:80', clusters: { 'default/svc:80': { ...cluster('10.0.0.1:8080'), protocol: 'h2c' } }, conds: OK },
    },
    {
      name: 'appProtocol https: a tls cluster',
      objs: [ing(), service('svc', [{ name: 'http', port: 80, targetPort: 8080, appProtocol: 'https' }]), slice('svc', ['10.0.0.1'])],
      want: { route: 'default/svc:80', clusters: { 'default/svc:80': { ...cluster('10.0.0.1:8080'), protocol: 'tls' } }, conds: OK },
    },
    {
      name: 'appProtocol kubernetes.io/ws: HTTP/1.1 (no protocol field)',
      objs: [ing(), service('svc', [{ name: 'http', port: 80, targetPort: 8080, appProtocol: 'kubernetes.io/ws' }]), slice('svc', ['10.0.0.1'])],
      want: { route: 'default/svc:80', clusters: { 'default/svc:80': cluster('10.0.0.1:8080') }, conds: OK },
    },
    {
      name: 'appProtocol of another port of the Service does not leak',
      objs: [
        ing(prefixPath('/', 'svc', 'http')),
        service('svc', [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'grpc', port: 9090, targetPort: 9090, appProtocol: 'kubernetes.io/h2c' }]),
        slice('svc', ['10.0.0.1'], { ports: [{ name: 'http', port: 8080 }, { name: 'grpc', port: 9090 }] }),
      ],
      want: { route: 'default/svc:http', clusters: { 'default/svc:http': cluster('10.0.0.1:8080') }, conds: OK },
    },
    {
      name: 'slice without ports falls back to a numeric targetPort',
      objs: [ing(), service('svc'), slice('svc', ['10.0.0.1'], { ports: null })],
      want: { route: 'default/svc:80', clusters: { 'default/svc:80': cluster('10.0.0.1:8080') }, conds: OK },
    },
    {
      name: 'slice without ports, no targetPort: the port itself',
      objs: [ing(), service('svc', [{ name: 'http', port: 80 }]), slice('svc', ['10.0.0.1'], { ports: null })],
      want: { route: 'default/svc:80', clusters: { 'default/svc:80': cluster('10.0.0.1:80') }, conds: OK },
    },
    {
      name: 'slice without the port and a named targetPort: slice skipped',
      objs: [ing(), service('svc', [{ name: 'http', port: 80, targetPort: 'web' }]), slice('svc', ['10.0.0.1'], { ports: [{ name: 'other', port: 1 }] })],
      want: { route: 'default/svc:80', clusters: { 'default/svc:80': cluster() }, conds: OK },
    },
    {
      name: 'ready absent or true is in, ready false is out',
      objs: [ing(), service('svc'), slice('svc', ['10.0.0.1'], { name: 's1' }), slice('svc', ['10.0.0.2'], { name: 's2', ready: true }), slice('svc', ['10.0.0.3'], { name: 's3', ready: false })],
      want: { route: 'default/svc:80', clusters: { 'default/svc:80': cluster('10.0.0.1:8080', '10.0.0.2:8080') }, conds: OK },
    },
    {
      name: 'addresses are deduplicated across slices',
      objs: [ing(), service('svc'), slice('svc', ['10.0.0.1', '10.0.0.2'], { name: 's1' }), slice('svc', ['10.0.0.2'], { name: 's2' })],
      want: { route: 'default/svc:80', clusters: { 'default/svc:80': cluster('10.0.0.1:8080', '10.0.0.2:8080') }, conds: OK },
    },
    {
      name: 'IPv6 endpoints get bracketed keys',
      objs: [ing(), service('svc'), slice('svc', ['fd00::1'], { addressType: 'IPv6' })],
      want: { route: 'default/svc:80', clusters: { 'default/svc:80': cluster('[fd00::1]:8080') }, conds: OK },
    },
    {
      name: 'addresses that are not IPs of the slice family are skipped',
      objs: [ing(), service('svc'), slice('svc', ['10.0.0.1', 'fd00::1', 'not-an-ip'])],
      want: { route: 'default/svc:80', clusters: { 'default/svc:80': cluster('10.0.0.1:8080') }, conds: OK },
    },
    {
      name: 'FQDN slices are skipped with a condition, others still used',
      objs: [ing(), service('svc'), slice('svc', ['10.0.0.1'], { name: 's1' }), slice('svc', ['db.example.com'], { name: 's2', addressType: 'FQDN' })],
      want: { route: 'default/svc:80', clusters: { 'default/svc:80': cluster('10.0.0.1:8080') }, conds: refs('UnsupportedAddressType') },
    },
    {
      name: 'slices of other Services and namespaces are ignored',
      objs: [ing(), service('svc'), slice('svc', ['10.0.0.1'], { namespace: 'other' }), slice('svc2', ['10.0.0.2'])],
      want: { route: 'default/svc:80', clusters: { 'default/svc:80': cluster() }, conds: OK },
    },
    {
      name: 'no ready endpoints: cluster exists, empty (503), no condition',
      objs: [ing(), service('svc'), slice('svc', ['10.0.0.1'], { ready: false })],
      want: { route: 'default/svc:80', clusters: { 'default/svc:80': cluster() }, conds: OK },
    },
    {
      name: 'missing Service: route without cluster',
      objs: [ing()],
      want: { clusters: {}, conds: refs('ServiceNotFound') },
    },
    {
      name: 'Service in another namespace does not count',
      objs: [ing(), service('svc', undefined, { namespace: 'other' })],
      want: { clusters: {}, conds: refs('ServiceNotFound') },
    },
    {
      name: 'port number not on the Service',
      objs: [ing(prefixPath('/', 'svc', 81)), service('svc')],
      want: { clusters: {}, conds: refs('PortNotFound') },
    },
    {
      name: 'port name not on the Service',
      objs: [ing(prefixPath('/', 'svc', 'grpc')), service('svc')],
      want: { clusters: {}, conds: refs('PortNotFound') },
    },
    {
      name: 'ExternalName Service without --enable-external-name',
      objs: [ing(), { ...service('svc'), spec: { type: 'ExternalName', externalName: 'db.example.com', ports: [{ port: 80 }] } } as KubeObject],
      want: { clusters: {}, conds: refs('UnsupportedServiceType') },
    },
    {
      name: 'resource backend is unsupported',
      objs: [ing({ path: '/', pathType: 'Prefix', backend: { resource: { apiGroup: 'k8s.example.com', kind: 'StorageBucket', name: 'assets' } } })],
      want: { clusters: {}, conds: refs('UnsupportedBackend') },
    },
    {
      name: 'backend without a port',
      objs: [ing({ path: '/', pathType: 'Prefix', backend: { service: { name: 'svc' } } }), service('svc')],
      want: { clusters: {}, conds: refs('InvalidBackend') },
    },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      const res = compile(inputOf(c.objs), OPTIONS);
      const r = res.snapshot.virtualHosts['foo.com']?.routes['Prefix:/'];
      assert.ok(r, 'the route exists whether or not its backend resolved');
      assert.equal(r.cluster, c.want.route);
      assert.deepEqual(res.snapshot.clusters, c.want.clusters);
      assert.deepEqual(condSummary(res, 'Ingress/default/a'), c.want.conds);
    });
  }
});

test('ExternalName Services with --enable-external-name become DNS-named clusters', async (t) => {
  const ext = (externalName: string, ports?: Array<{ port: number; name?: string }>) =>
    ({ ...service('svc'), spec: { type: 'ExternalName', externalName, ...(ports ? { ports } : {}) } }) as KubeObject;
  const cases: Array<{ name: string; objs: KubeObject[]; want: { clusters: Record<string, Cluster>; conds: string[] } }> = [
    { name: 'a port the Service lists', objs: [ing(), ext('DB.Example.com.', [{ port: 80 }])], want: { clusters: { 'default/svc:80': { endpoints: {}, dns: { name: 'db.example.com', port: 80 } } }, conds: OK } },
    { name: 'no ports on the Service: the backend port number', objs: [ing(prefixPath('/', 'svc', 8443)), ext('api.example.com')], want: { clusters: { 'default/svc:8443': { endpoints: {}, dns: { name: 'api.example.com', port: 8443 } } }, conds: OK } },
    { name: 'a port name the Service lists', objs: [ing(prefixPath('/', 'svc', 'web')), ext('api.example.com', [{ name: 'web', port: 8080 }])], want: { clusters: { 'default/svc:web': { endpoints: {}, dns: { name: 'api.example.com', port: 8080 } } }, conds: OK } },
    { name: 'a port name the Service does not list', objs: [ing(prefixPath('/', 'svc', 'web')), ext('api.example.com')], want: { clusters: {}, conds: refs('PortNotFound') } },
    { name: 'not a DNS name', objs: [ing(), ext('http://x/')], want: { clusters: {}, conds: refs('InvalidExternalName') } },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      const res = compile(inputOf(c.objs), { ...OPTIONS, externalNames: true });
      assert.deepEqual(res.snapshot.clusters, c.want.clusters);
      assert.deepEqual(condSummary(res, 'Ingress/default/a'), c.want.conds);
    });
  }
});

test('a condition message names the missing Service', () => {
  const res = compile(inputOf([ing()]), OPTIONS);
  assert.equal(condition(res, 'Ingress/default/a', 'ResolvedRefs')?.message, 'Service default/svc not found');
});

test('one cluster per (Service, port as written), shared by all routes', () => {
  const res = compile(inputOf([
    ingress('a', { rules: [rule('a.com', prefixPath('/x'), prefixPath('/y'), prefixPath('/z', 'svc', 'http'))] }),
    ingress('b', { rules: [rule('b.com', prefixPath('/'))] }),
    service('svc'), slice('svc', ['10.0.0.1']),
  ]), OPTIONS);
  assert.deepEqual(Object.keys(res.snapshot.clusters), ['default/svc:80', 'default/svc:http']);
});

test('appProtocol → upstream protocol', () => {
  const cases: Array<[string | undefined, string | undefined]> = [
    ['kubernetes.io/h2c', 'h2c'], ['https', 'tls'], ['kubernetes.io/wss', 'tls'],
    ['kubernetes.io/ws', undefined], [undefined, undefined], ['http', undefined], ['HTTPS', undefined],
    ['h2c', undefined], ['grpc', undefined], ['', undefined],
  ];
  for (const [app, want] of cases) assert.equal(upstreamProtocol(app), want, String(app));
});

test('clusterKey', () => {
  assert.equal(clusterKey('ns', 'svc', 80), 'ns/svc:80');
  assert.equal(clusterKey('ns', 'svc', 'http'), 'ns/svc:http');
});

test('frozen Services and slices resolve once: a later build reuses the cluster object, a changed slice or port does not', () => {
  const freeze = <T>(o: T): T => deepFreeze(structuredClone(o));
  const ingA = freeze(ingress('a', { rules: [rule('a.com', prefixPath('/', 'sa'))] }));
  const ingB = freeze(ingress('b', { rules: [rule('b.com', prefixPath('/', 'sb'))] }));
  const [sa, sb] = [freeze(service('sa')), freeze(service('sb'))];
  const [la, lb] = [freeze(slice('sa', ['10.0.0.1'])), freeze(slice('sb', ['10.0.0.2']))];
  const first = compile(inputOf([ingA, ingB, sa, sb, la, lb]), OPTIONS).snapshot;
  // Only Service sb's slice changes: sa's cluster is the very same object, sb's is new and right.
  const lb2 = freeze(slice('sb', ['10.0.0.3']));
  const second = compile(inputOf([ingA, ingB, sa, sb, la, lb2]), OPTIONS, first).snapshot;
  assert.equal(second.clusters['default/sa:80'], first.clusters['default/sa:80']);
  assert.deepEqual(second.clusters['default/sb:80'], cluster('10.0.0.3:8080'));
  // The same result as a build that never saw the earlier objects.
  const fresh = compile(inputOf(structuredClone([ingA, ingB, sa, sb, la, lb2])), OPTIONS).snapshot;
  assert.equal(second.version, fresh.version);
  // A second port of the same Service resolves on its own, next to the remembered one.
  const ingC = freeze(ingress('c', { rules: [rule('c.com', prefixPath('/', 'sa', 'http'))] }));
  const third = compile(inputOf([ingA, ingB, ingC, sa, sb, la, lb2]), OPTIONS, second).snapshot;
  assert.deepEqual(third.clusters['default/sa:http'], cluster('10.0.0.1:8080'));
  assert.equal(third.clusters['default/sa:80'], first.clusters['default/sa:80']);
  // A removed slice empties the cluster even though the Service object is the same.
  const fourth = compile(inputOf([ingA, ingB, sa, sb, lb2]), OPTIONS, third).snapshot;
  assert.deepEqual(fourth.clusters['default/sa:80'], cluster());
});

test('resolutions carry over from the latest build to one after its snapshot: full builds, the host-scoped path, the endpoint fast path', () => {
  const freeze = <T>(o: T): T => deepFreeze(structuredClone(o));
  const ings = [freeze(ingress('a', { rules: [rule('a.com', prefixPath('/', 'sa'))] })), freeze(ingress('b', { rules: [rule('b.com', prefixPath('/', 'sb'))] }))];
  const [sa, sb] = [freeze(service('sa')), freeze(service('sb'))];
  const [la, lb] = [freeze(slice('sa', ['10.0.0.1'])), freeze(slice('sb', ['10.0.0.2']))];
  const secret = freeze(tlsSecret('unused'));
  const counted = <T>(f: () => T): [T, number] => { const n = freshResolutions(); const v = f(); return [v, freshResolutions() - n]; };
  const [first, n1] = counted(() => compile(inputOf([...ings, sa, sb, la, lb]), OPTIONS));
  assert.equal(n1, 2);
  // A full build (a Secret was added) after `first`: nothing resolved again.
  const [second, n2] = counted(() => compile(inputOf([...ings, sa, sb, la, lb, secret]), OPTIONS, first.snapshot));
  assert.equal(n2, 0);
  // Without `previous`, a build resolves everything (the same objects or not).
  assert.equal(counted(() => compile(inputOf([...ings, sa, sb, la, lb, secret]), OPTIONS))[1], 2);
  // A host-scoped build after `second` (one Ingress replaced): nothing resolved again.
  const ingA2 = freeze(ingress('a', { rules: [rule('a2.com', prefixPath('/', 'sa'))] }));
  const builds = incrementalBuildCount();
  const [third, n3] = counted(() => compile(inputOf([ingA2, ings[1]!, sa, sb, la, lb, secret]), OPTIONS, second.snapshot));
  assert.equal(incrementalBuildCount(), builds + 1);
  assert.equal(n3, 0);
  // The endpoint fast path after it: only sb, whose slice changed.
  const lb2 = freeze(slice('sb', ['10.0.0.3']));
  const [fast, n4] = counted(() => recompileEndpoints(inputOf([ingA2, ings[1]!, sa, sb, la, lb2, secret]), third));
  assert.ok(fast !== undefined);
  assert.equal(n4, 1);
  // A full build after that (the Secret removed): nothing again.
  const [fourth, n5] = counted(() => compile(inputOf([ingA2, ings[1]!, sa, sb, la, lb2]), OPTIONS, fast!.snapshot));
  assert.equal(n5, 0);
  // The same snapshot as a build that never saw any of it.
  assert.equal(fourth.snapshot.version, compile(inputOf(structuredClone([ingA2, ings[1]!, sa, sb, la, lb2])), OPTIONS).snapshot.version);
});
