import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertValidSnapshot, validateSnapshot, SnapshotValidationError } from './validate.ts';
import { sealSnapshot, versionOf, canonicalJson } from './version.ts';
import type { SnapshotContent } from './version.ts';
import { noteMapCopy } from './snapshot.ts';

const PEM = '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n';

function content(): SnapshotContent {
  return {
    listeners: {
      http: { protocol: 'http', address: '127.0.0.1', port: 8080 },
      https: { protocol: 'https', address: '127.0.0.1', port: 8443, defaultSecret: '@default' },
    },
    virtualHosts: {
      'foo.com': {
        tls: { secret: 'default/foo' },
        routes: { 'Prefix:/': { match: { type: 'Prefix', path: '/' }, cluster: 'default/web:80', timeoutMs: 15000, origin: 'Ingress/default/a' } },
      },
    },
    clusters: { 'default/web:80': { endpoints: { '10.0.0.1:8080': { address: '10.0.0.1', port: 8080 } } } },
    secrets: { '@default': { cert: PEM, key: KEY }, 'default/foo': { cert: PEM, key: KEY } },
  };
}

test('a well-formed snapshot validates', () => {
  assertValidSnapshot(sealSnapshot(content()));
});

test('a DNS-named cluster validates', () => {
  const c = content() as any;
  c.clusters['ns/ext:80'] = { endpoints: {}, dns: { name: 'db.example.com', port: 5432 } };
  assertValidSnapshot(sealSnapshot(c));
});

test('a passthrough host whose backends resolve validates', () => {
  const c = content() as any;
  c.virtualHosts['*.pg.com'] = { routes: {}, passthrough: { backends: [{ cluster: 'default/web:80', weight: 1 }, { weight: 0 }] } };
  assertValidSnapshot(sealSnapshot(c));
});

test('a tcp listener whose backends resolve validates', () => {
  const c = structuredClone(content()) as any;
  c.listeners['tcp-a-b'] = { protocol: 'tcp', address: '127.0.0.1', port: 9000, backends: [{ cluster: 'default/web:80', weight: 1 }, { weight: 0 }] };
  c.version = versionOf(c);
  assert.deepEqual(validateSnapshot(c), []);
});

test('a cluster protocol of h2c or tls validates; absent is HTTP/1.1', () => {
  for (const protocol of ['h2c', 'tls', undefined]) {
    const c = structuredClone(content()) as any;
    if (protocol !== undefined) c.clusters['default/web:80'].protocol = protocol;
    c.version = versionOf(c);
    assert.deepEqual(validateSnapshot(c), [], String(protocol));
  }
});

test('version is a content hash independent of key order', () => {
  const a = content();
  const b = { secrets: a.secrets, clusters: a.clusters, virtualHosts: a.virtualHosts, listeners: a.listeners };
  assert.equal(versionOf(a), versionOf(b));
  const c = { ...a, defaultRoute: { match: { type: 'Prefix' as const, path: '/' }, cluster: 'default/web:80', timeoutMs: 1000, origin: 'Ingress/default/a' } };
  assert.notEqual(versionOf(a), versionOf(c));
  assert.equal(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }] }), '{"a":[{"c":2,"d":1}],"b":1}');
});

test('sealed snapshots are frozen', () => {
  const s = sealSnapshot(content());
  assert.ok(Object.isFrozen(s.virtualHosts['foo.com']?.routes));
});

const cases: Array<{ name: string; mutate: (c: any) => void; path: string }> = [
  { name: 'dangling cluster', mutate: (c) => { c.virtualHosts['foo.com'].routes['Prefix:/'].cluster = 'x/y:1'; }, path: '/virtualHosts/foo.com/routes/Prefix:~1/cluster' },
  { name: 'a reference to an inherited name', mutate: (c) => { c.virtualHosts['foo.com'].routes['Prefix:/'].cluster = 'toString'; }, path: '/virtualHosts/foo.com/routes/Prefix:~1/cluster' },
  { name: 'dangling tls secret', mutate: (c) => { c.virtualHosts['foo.com'].tls.secret = 'default/nope'; }, path: '/virtualHosts/foo.com/tls/secret' },
  { name: 'https listener without default secret', mutate: (c) => { delete c.listeners.https.defaultSecret; }, path: '/listeners/https/defaultSecret' },
  { name: 'port clash', mutate: (c) => { c.listeners.https.port = 8080; }, path: '/listeners/https/port' },
  { name: 'bad endpoint address', mutate: (c) => { c.clusters['default/web:80'].endpoints['10.0.0.1:8080'].address = 'example.com'; }, path: '/clusters/default~1web:80/endpoints/10.0.0.1:8080/address' },
  { name: 'endpoint address with a zone', mutate: (c) => { c.clusters['default/web:80'].endpoints['10.0.0.1:8080'].address = 'fe80::1%eth0'; }, path: '/clusters/default~1web:80/endpoints/10.0.0.1:8080/address' },
  { name: 'route key mismatch', mutate: (c) => { c.virtualHosts['foo.com'].routes['Prefix:/'].match.type = 'Exact'; }, path: '/virtualHosts/foo.com/routes/Prefix:~1' },
  { name: 'upper-case host', mutate: (c) => { c.virtualHosts['Foo.com'] = c.virtualHosts['foo.com']; }, path: '/virtualHosts/Foo.com' },
  { name: 'array instead of map', mutate: (c) => { c.clusters = []; }, path: '/clusters' },
  { name: 'proto key', mutate: (c) => { Object.defineProperty(c.secrets, '__proto__', { value: {}, enumerable: true }); }, path: '/secrets/__proto__' },
  { name: 'dangling default route cluster', mutate: (c) => { c.defaultRoute = { match: { type: 'Prefix', path: '/' }, cluster: 'a/b:1', timeoutMs: 1, origin: '' }; }, path: '/defaultRoute/cluster' },
  { name: 'default route not matching everything', mutate: (c) => { c.defaultRoute = { match: { type: 'Exact', path: '/' }, timeoutMs: 1, origin: '' }; }, path: '/defaultRoute/match' },
  { name: 'tcp listener with a dangling cluster', mutate: (c) => { c.listeners['tcp-a-b'] = { protocol: 'tcp', address: '127.0.0.1', port: 9000, backends: [{ cluster: 'x/y:1', weight: 1 }] }; }, path: '/listeners/tcp-a-b/backends/0/cluster' },
  { name: 'tcp listener without backends', mutate: (c) => { c.listeners['tcp-a-b'] = { protocol: 'tcp', address: '127.0.0.1', port: 9000 }; }, path: '/listeners/tcp-a-b/backends' },
  { name: 'tcp listener on a port of another listener', mutate: (c) => { c.listeners['tcp-a-b'] = { protocol: 'tcp', address: '127.0.0.1', port: 8080, backends: [{ cluster: 'default/web:80', weight: 1 }] }; }, path: '/listeners/tcp-a-b/port' },
  { name: 'tcp listener with a negative weight', mutate: (c) => { c.listeners['tcp-a-b'] = { protocol: 'tcp', address: '127.0.0.1', port: 9000, backends: [{ cluster: 'default/web:80', weight: -1 }] }; }, path: '/listeners/tcp-a-b/backends/0/weight' },
  { name: 'http listener with backends', mutate: (c) => { c.listeners.http.backends = [{ cluster: 'default/web:80', weight: 1 }]; }, path: '/listeners/http/backends' },
  { name: 'unknown cluster protocol', mutate: (c) => { c.clusters['default/web:80'].protocol = 'h2'; }, path: '/clusters/default~1web:80/protocol' },
  { name: 'appProtocol spelling as cluster protocol', mutate: (c) => { c.clusters['default/web:80'].protocol = 'kubernetes.io/h2c'; }, path: '/clusters/default~1web:80/protocol' },
  { name: 'non-string cluster protocol', mutate: (c) => { c.clusters['default/web:80'].protocol = 2; }, path: '/clusters/default~1web:80/protocol' },
  { name: 'passthrough host that also terminates', mutate: (c) => { c.virtualHosts['foo.com'].passthrough = { backends: [{ cluster: 'default/web:80', weight: 1 }] }; }, path: '/virtualHosts/foo.com/passthrough' },
  { name: 'passthrough on the catch-all host', mutate: (c) => { c.virtualHosts['*'] = { routes: {}, passthrough: { backends: [{ cluster: 'default/web:80', weight: 1 }] } }; }, path: '/virtualHosts/*/passthrough' },
  { name: 'passthrough with a dangling cluster', mutate: (c) => { c.virtualHosts['pg.com'] = { routes: {}, passthrough: { backends: [{ cluster: 'x/y:1', weight: 1 }] } }; }, path: '/virtualHosts/pg.com/passthrough/backends/0/cluster' },
  { name: 'passthrough without backends', mutate: (c) => { c.virtualHosts['pg.com'] = { routes: {}, passthrough: {} }; }, path: '/virtualHosts/pg.com/passthrough/backends' },
  { name: 'DNS cluster with a bad name', mutate: (c) => { c.clusters['ns/ext:80'] = { endpoints: {}, dns: { name: 'no spaces.com', port: 80 } }; }, path: '/clusters/ns~1ext:80/dns/name' },
  { name: 'DNS cluster with a bad port', mutate: (c) => { c.clusters['ns/ext:80'] = { endpoints: {}, dns: { name: 'db.example.com', port: 0 } }; }, path: '/clusters/ns~1ext:80/dns/port' },
  { name: 'DNS cluster with endpoints too', mutate: (c) => { c.clusters['ns/ext:80'] = { endpoints: { '10.0.0.1:80': { address: '10.0.0.1', port: 80 } }, dns: { name: 'db.example.com', port: 80 } }; }, path: '/clusters/ns~1ext:80/endpoints' },
  { name: 'proxyProtocol on a tcp listener', mutate: (c) => { c.listeners['tcp-a-b'] = { protocol: 'tcp', address: '127.0.0.1', port: 9000, backends: [], proxyProtocol: true }; }, path: '/listeners/tcp-a-b/proxyProtocol' },
  { name: 'proxyProtocol not a boolean', mutate: (c) => { c.listeners.http.proxyProtocol = 'yes'; }, path: '/listeners/http/proxyProtocol' },
  { name: 'a trusted proxy that is not a CIDR', mutate: (c) => { c.listeners.http.trustedProxies = ['10.0.0.0/8', 'lb.example.com']; }, path: '/listeners/http/trustedProxies/1' },
  { name: 'bad timeout', mutate: (c) => { c.virtualHosts['foo.com'].routes['Prefix:/'].timeoutMs = 0; }, path: '/virtualHosts/foo.com/routes/Prefix:~1/timeoutMs' },
];

for (const tc of cases) {
  test(`rejects ${tc.name} with its path`, () => {
    const c = structuredClone(content()) as any;
    tc.mutate(c);
    c.version = versionOf(c);
    const problems = validateSnapshot(c);
    assert.ok(problems.some((p) => p.path === tc.path), JSON.stringify(problems));
    assert.throws(() => assertValidSnapshot(c), SnapshotValidationError);
  });
}

test('against a base, a map recorded as its copy is checked at the keys written only, and still refused when they are bad', () => {
  const base = sealSnapshot(content());
  assertValidSnapshot(base);
  /** `base` with its hosts map copied, edited and recorded as a copy of base's (what proxy/stream/delta.ts does). */
  const derive = (edit: (hosts: Record<string, unknown>, clusters: Record<string, unknown>) => string[], clustersWritten: string[] = []) => {
    const hosts: Record<string, unknown> = { ...base.virtualHosts };
    const clusters: Record<string, unknown> = { ...base.clusters };
    const written = edit(hosts, clusters);
    Object.freeze(hosts);
    Object.freeze(clusters);
    noteMapCopy(hosts, base.virtualHosts, new Set(written));
    noteMapCopy(clusters, base.clusters, new Set(clustersWritten));
    return Object.freeze({ ...base, virtualHosts: hosts, clusters }) as unknown;
  };
  const route = (cluster: string) => ({ routes: { 'Prefix:/': { match: { type: 'Prefix', path: '/' }, cluster, timeoutMs: 1, origin: 'o' } } });
  // A good new host passes; a bad one is refused through the keys written.
  assert.deepEqual(validateSnapshot(derive((h) => { h['bar.com'] = Object.freeze(route('default/web:80')); return ['bar.com']; }), base), []);
  const bad = validateSnapshot(derive((h) => { h['bar.com'] = Object.freeze(route('default/missing:80')); return ['bar.com']; }), base);
  assert.deepEqual(bad.map((p) => p.path), ['/virtualHosts/bar.com/routes/Prefix:~1/cluster']);
  const forbidden = validateSnapshot(derive((h) => { Object.defineProperty(h, '__proto__', { value: route('default/web:80'), enumerable: true }); return ['__proto__']; }), base);
  assert.deepEqual(forbidden.map((p) => p.path), ['/virtualHosts/__proto__']);
  // A cluster removed that an unchanged host still names: every host is looked at again.
  const dangling = validateSnapshot(derive((_h, c) => { delete c['default/web:80']; return []; }, ['default/web:80']), base);
  assert.deepEqual(dangling.map((p) => p.path), ['/virtualHosts/foo.com/routes/Prefix:~1/cluster']);
});
