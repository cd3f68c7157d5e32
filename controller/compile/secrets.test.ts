import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { VirtualHost } from '../../api/snapshot.ts';
import { DEFAULT_SECRET } from '../../api/snapshot.ts';
import type { KubeObject } from '../k8s/types.ts';
import { compile } from './builder.ts';
import { cachedSecretChecks, checkTlsSecret, MAX_CACHED } from './secrets.ts';
import { FOO_CERT_PEM, FOO_KEY_PEM, OTHER_KEY_PEM, WEAK_CERT_PEM, WEAK_KEY_PEM } from './testdata.ts';
import {
  b64, condSummary, FOO_TLS, ingress, inputOf, OPTIONS, prefixPath, route, rule, service, tls, tlsSecret, vhost,
} from './fixtures.ts';

const OK = ['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs'];
const refs = (reason: string) => ['Accepted=True/Accepted', `ResolvedRefs=False/${reason}`];
const fooRoute = route('Prefix', '/', 'default/svc:80');

/** Ingress "a" with a foo.com rule and the given TLS entries. */
const withTls = (...entries: ReturnType<typeof tls>[]) => ingress('a', { rules: [rule('foo.com', prefixPath('/'))], tls: entries });

/** A Secret with raw (already base64) data. */
const rawSecret = (name: string, data: Record<string, string>, type = 'kubernetes.io/tls'): KubeObject =>
  ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'default' }, type, data }) as KubeObject;

test('TLS hosts and Secrets', async (t) => {
  const cases: Array<{ name: string; objs: KubeObject[]; want: { vhosts: Record<string, VirtualHost>; secrets: string[]; conds: string[] } }> = [
    {
      name: 'valid Secret',
      objs: [withTls(tls('foo-tls', 'foo.com')), tlsSecret('foo-tls')],
      want: { vhosts: { 'foo.com': vhost([fooRoute], 'default/foo-tls') }, secrets: [DEFAULT_SECRET, 'default/foo-tls'], conds: OK },
    },
    {
      name: 'Opaque Secret with tls.crt and tls.key is accepted',
      objs: [withTls(tls('foo-tls', 'foo.com')), tlsSecret('foo-tls', undefined, undefined, {}, 'Opaque')],
      want: { vhosts: { 'foo.com': vhost([fooRoute], 'default/foo-tls') }, secrets: [DEFAULT_SECRET, 'default/foo-tls'], conds: OK },
    },
    {
      name: 'certificate chain of two blocks',
      objs: [withTls(tls('foo-tls', 'foo.com')), tlsSecret('foo-tls', FOO_CERT_PEM + FOO_CERT_PEM)],
      want: { vhosts: { 'foo.com': vhost([fooRoute], 'default/foo-tls') }, secrets: [DEFAULT_SECRET, 'default/foo-tls'], conds: OK },
    },
    {
      name: 'missing Secret: default certificate',
      objs: [withTls(tls('foo-tls', 'foo.com'))],
      want: { vhosts: { 'foo.com': vhost([fooRoute], DEFAULT_SECRET) }, secrets: [DEFAULT_SECRET], conds: refs('SecretNotFound') },
    },
    {
      name: 'Secret in another namespace is not found',
      objs: [withTls(tls('foo-tls', 'foo.com')), tlsSecret('foo-tls', undefined, undefined, { namespace: 'other' })],
      want: { vhosts: { 'foo.com': vhost([fooRoute], DEFAULT_SECRET) }, secrets: [DEFAULT_SECRET], conds: refs('SecretNotFound') },
    },
    {
      name: 'Opaque Secret without TLS keys',
      objs: [withTls(tls('foo-tls', 'foo.com')), rawSecret('foo-tls', { password: b64('x') }, 'Opaque')],
      want: { vhosts: { 'foo.com': vhost([fooRoute], DEFAULT_SECRET) }, secrets: [DEFAULT_SECRET], conds: refs('InvalidSecretType') },
    },
    {
      name: 'empty tls.key',
      objs: [withTls(tls('foo-tls', 'foo.com')), rawSecret('foo-tls', { 'tls.crt': b64(FOO_CERT_PEM), 'tls.key': '' })],
      want: { vhosts: { 'foo.com': vhost([fooRoute], DEFAULT_SECRET) }, secrets: [DEFAULT_SECRET], conds: refs('InvalidSecretData') },
    },
    {
      name: 'tls.crt not base64',
      objs: [withTls(tls('foo-tls', 'foo.com')), rawSecret('foo-tls', { 'tls.crt': FOO_CERT_PEM, 'tls.key': b64(FOO_KEY_PEM) })],
      want: { vhosts: { 'foo.com': vhost([fooRoute], DEFAULT_SECRET) }, secrets: [DEFAULT_SECRET], conds: refs('InvalidSecretData') },
    },
    {
      name: 'tls.crt holds no PEM',
      objs: [withTls(tls('foo-tls', 'foo.com')), tlsSecret('foo-tls', 'hello')],
      want: { vhosts: { 'foo.com': vhost([fooRoute], DEFAULT_SECRET) }, secrets: [DEFAULT_SECRET], conds: refs('InvalidCertificate') },
    },
    {
      name: 'corrupt certificate block in the chain',
      objs: [withTls(tls('foo-tls', 'foo.com')), tlsSecret('foo-tls', `${FOO_CERT_PEM}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`)],
      want: { vhosts: { 'foo.com': vhost([fooRoute], DEFAULT_SECRET) }, secrets: [DEFAULT_SECRET], conds: refs('InvalidCertificate') },
    },
    {
      name: 'tls.key is not a key',
      objs: [withTls(tls('foo-tls', 'foo.com')), tlsSecret('foo-tls', FOO_CERT_PEM, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n')],
      want: { vhosts: { 'foo.com': vhost([fooRoute], DEFAULT_SECRET) }, secrets: [DEFAULT_SECRET], conds: refs('InvalidPrivateKey') },
    },
    {
      name: 'key does not match the certificate',
      objs: [withTls(tls('foo-tls', 'foo.com')), tlsSecret('foo-tls', FOO_CERT_PEM, OTHER_KEY_PEM)],
      want: { vhosts: { 'foo.com': vhost([fooRoute], DEFAULT_SECRET) }, secrets: [DEFAULT_SECRET], conds: refs('KeyMismatch') },
    },
    {
      name: 'a pair the TLS library refuses (512-bit RSA) is not served',
      objs: [withTls(tls('foo-tls', 'foo.com')), tlsSecret('foo-tls', WEAK_CERT_PEM, WEAK_KEY_PEM)],
      want: { vhosts: { 'foo.com': vhost([fooRoute], DEFAULT_SECRET) }, secrets: [DEFAULT_SECRET], conds: refs('UnusableCertificate') },
    },
    {
      name: 'a bad Secret only affects its own hosts',
      objs: [
        ingress('a', { rules: [rule('foo.com', prefixPath('/')), rule('bar.foo.com', prefixPath('/'))], tls: [tls('good', 'foo.com'), tls('bad', 'bar.foo.com')] }),
        tlsSecret('good'), tlsSecret('bad', FOO_CERT_PEM, OTHER_KEY_PEM),
      ],
      want: {
        vhosts: { 'bar.foo.com': vhost([fooRoute], DEFAULT_SECRET), 'foo.com': vhost([fooRoute], 'default/good') },
        secrets: [DEFAULT_SECRET, 'default/good'], conds: refs('KeyMismatch'),
      },
    },
    {
      name: 'TLS host without rules gets a virtual host with no routes',
      objs: [withTls(tls('foo-tls', 'foo.com', 'www.foo.com')), tlsSecret('foo-tls')],
      want: {
        vhosts: { 'foo.com': vhost([fooRoute], 'default/foo-tls'), 'www.foo.com': vhost([], 'default/foo-tls') },
        secrets: [DEFAULT_SECRET, 'default/foo-tls'], conds: OK,
      },
    },
    {
      name: 'TLS hosts are lower-cased, wildcards kept',
      objs: [withTls(tls('foo-tls', 'FOO.com', '*.Foo.com')), tlsSecret('foo-tls')],
      want: {
        vhosts: { '*.foo.com': vhost([], 'default/foo-tls'), 'foo.com': vhost([fooRoute], 'default/foo-tls') },
        secrets: [DEFAULT_SECRET, 'default/foo-tls'], conds: OK,
      },
    },
    {
      name: 'invalid TLS host is skipped',
      objs: [withTls(tls('foo-tls', 'foo.com', 'bad_host', '')), tlsSecret('foo-tls')],
      want: { vhosts: { 'foo.com': vhost([fooRoute], 'default/foo-tls') }, secrets: [DEFAULT_SECRET, 'default/foo-tls'], conds: [...OK, 'PartiallyInvalid=True/InvalidHost'] },
    },
    {
      name: 'TLS entry without hosts is skipped',
      objs: [withTls(tls('foo-tls')), tlsSecret('foo-tls')],
      want: { vhosts: { 'foo.com': vhost([fooRoute]) }, secrets: [DEFAULT_SECRET], conds: [...OK, 'PartiallyInvalid=True/TLSHostsMissing'] },
    },
    {
      name: 'TLS entry without secretName uses the default certificate',
      objs: [withTls(tls(undefined, 'foo.com'))],
      want: { vhosts: { 'foo.com': vhost([fooRoute], DEFAULT_SECRET) }, secrets: [DEFAULT_SECRET], conds: [...OK, 'PartiallyInvalid=True/TLSSecretNameMissing'] },
    },
    {
      name: 'unreferenced Secrets stay out of the snapshot',
      objs: [withTls(), tlsSecret('foo-tls'), tlsSecret('other')],
      want: { vhosts: { 'foo.com': vhost([fooRoute]) }, secrets: [DEFAULT_SECRET], conds: OK },
    },
    {
      name: 'Secrets of ignored Ingresses stay out of the snapshot',
      objs: [{ ...withTls(tls('foo-tls', 'foo.com')), spec: { ...withTls(tls('foo-tls', 'foo.com')).spec, ingressClassName: 'nginx' } } as KubeObject, tlsSecret('foo-tls')],
      want: { vhosts: {}, secrets: [DEFAULT_SECRET], conds: undefined as unknown as string[] },
    },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      const res = compile(inputOf([...c.objs, service('svc')]), OPTIONS);
      assert.deepEqual(res.snapshot.virtualHosts, c.want.vhosts);
      assert.deepEqual(Object.keys(res.snapshot.secrets), c.want.secrets);
      assert.deepEqual(condSummary(res, 'Ingress/default/a'), c.want.conds);
      const served = res.snapshot.secrets['default/foo-tls'];
      if (served !== undefined) assert.ok(served.key === FOO_TLS.key && served.cert.startsWith(FOO_TLS.cert), 'decoded PEMs are served');
    });
  }
});

test('TLS conflicts: the older Ingress keeps the host', async (t) => {
  const older = { creationTimestamp: '2026-01-01T00:00:00Z' };
  const newer = { creationTimestamp: '2026-02-01T00:00:00Z' };
  await t.test('different Secrets', () => {
    const res = compile(inputOf([
      ingress('new', { tls: [tls('s2', 'foo.com')] }, newer),
      ingress('old', { tls: [tls('s1', 'foo.com')] }, older),
      tlsSecret('s1'), tlsSecret('s2'),
    ]), OPTIONS);
    assert.deepEqual(res.snapshot.virtualHosts['foo.com']?.tls, { secret: 'default/s1' });
    assert.deepEqual(Object.keys(res.snapshot.secrets), [DEFAULT_SECRET, 'default/s1']);
    assert.deepEqual(condSummary(res, 'Ingress/default/new'), ['Accepted=False/TLSConflict', 'ResolvedRefs=True/ResolvedRefs', 'Conflicted=True/TLSConflict']);
    assert.match(res.conditions.get('Ingress/default/new')![2]!.message, /TLS host foo\.com is already served by Ingress default\/old with Secret default\/s1/);
  });
  await t.test('same Secret is no conflict', () => {
    const res = compile(inputOf([
      ingress('new', { tls: [tls('s1', 'foo.com')] }, newer),
      ingress('old', { tls: [tls('s1', 'foo.com')] }, older),
      tlsSecret('s1'),
    ]), OPTIONS);
    assert.deepEqual(condSummary(res, 'Ingress/default/new'), OK);
  });
  await t.test('older Ingress with a broken Secret still keeps the host', () => {
    const res = compile(inputOf([
      ingress('new', { tls: [tls('s2', 'foo.com')] }, newer),
      ingress('old', { tls: [tls('missing', 'foo.com')] }, older),
      tlsSecret('s2'),
    ]), OPTIONS);
    assert.deepEqual(res.snapshot.virtualHosts['foo.com']?.tls, { secret: DEFAULT_SECRET });
    assert.deepEqual(condSummary(res, 'Ingress/default/old'), refs('SecretNotFound'));
  });
});

test('condition messages never carry key material', () => {
  const bad = [tlsSecret('s1', FOO_CERT_PEM, OTHER_KEY_PEM), tlsSecret('s2', FOO_CERT_PEM, FOO_KEY_PEM.slice(0, 200)), tlsSecret('s3', FOO_KEY_PEM, FOO_KEY_PEM)];
  const res = compile(inputOf([ingress('a', { tls: [tls('s1', 'a.foo.com'), tls('s2', 'b.foo.com'), tls('s3', 'c.foo.com')] }), ...bad]), OPTIONS);
  const messages = [...res.conditions.values()].flat().map((c) => c.message).join('\n');
  assert.match(messages, /default\/s1/);
  for (const pem of [FOO_KEY_PEM, OTHER_KEY_PEM]) {
    for (const line of pem.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'))) {
      assert.ok(!messages.includes(line.slice(0, 16)), 'key line leaked');
      assert.ok(!messages.includes(b64(pem).slice(40, 56)), 'base64 key leaked');
    }
  }
});

test('PEM checks are cached by content, across names and builds', () => {
  const before = cachedSecretChecks();
  const unique = `${FOO_CERT_PEM}\n# cache-test ${before}\n`; // same cert, new bytes: a fresh cache entry
  const objs = [ingress('a', { tls: [tls('x', 'a.foo.com'), tls('y', 'b.foo.com')] }), tlsSecret('x', unique), tlsSecret('y', unique)];
  compile(inputOf(objs), OPTIONS);
  compile(inputOf(objs), OPTIONS);
  assert.equal(cachedSecretChecks(), before + 1);
  const a = checkTlsSecret(tlsSecret('x', unique) as never, 'default/x');
  const b = checkTlsSecret(tlsSecret('y', unique) as never, 'default/y');
  assert.ok(a.ok && b.ok && a.secret === b.secret, 'one shared TlsSecret object');
});

test('the PEM cache is bounded', () => {
  // Malformed contents are cached too (the result is pure) and are cheap to check.
  for (let i = 0; i < MAX_CACHED + 10; i++) checkTlsSecret(rawSecret('s', { 'tls.crt': `bad${i}`, 'tls.key': 'x' }) as never, 'default/s');
  assert.equal(cachedSecretChecks(), MAX_CACHED);
});
