import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest } from './manifest-parse.ts';

test('multi-document YAML with empty documents and a List', () => {
  const text = [
    '# leading comment',
    'kind: Service',
    'metadata: {name: web}',
    '---',
    '---',
    '# only a comment',
    '---',
    'apiVersion: v1',
    'kind: List',
    'items:',
    '- kind: Ingress',
    '  metadata: {name: a, namespace: shop}',
    '- kind: IngressClass',
    '  metadata: {name: turnout, namespace: ignored-for-cluster-scoped}',
    '',
  ].join('\n');
  const r = parseManifest('/m/a.yaml', text);
  assert.equal(r.error, undefined);
  assert.deepEqual(r.objects.map((o) => [o.key, o.line]), [
    ['Service/default/web', 2], ['Ingress/shop/a', 11], ['IngressClass/turnout', 13],
  ]);
  assert.equal(r.objects[0]!.obj.metadata.namespace, 'default');
});

test('JSON is read as YAML', () => {
  const r = parseManifest('/m/a.json', '{"kind": "Secret", "metadata": {"name": "s", "namespace": "x"}, "data": {}}');
  assert.deepEqual(r.objects.map((o) => o.key), ['Secret/x/s']);
});

test('a YAML error refuses the file with its line and no source text', () => {
  const r = parseManifest('/m/a.yaml', 'kind: Secret\nmetadata: {name: s}\ndata:\n  tls.key: c2VjcmV0\n  tls.key: b3RoZXI=\n');
  assert.equal(r.error?.code, 'MANIFEST_PARSE_ERROR');
  assert.equal(r.error?.file, '/m/a.yaml');
  assert.equal(r.error?.line, 5);
  assert.equal(r.objects.length, 0);
  assert.ok(!r.error!.message.includes('c2VjcmV0') && !r.error!.message.includes('b3RoZXI'), r.error!.message);
});

test('a document without kind or metadata.name refuses the file', () => {
  const r = parseManifest('/m/a.yaml', 'kind: Service\nmetadata: {name: ok}\n---\nkind: Service\nmetadata: {}\n');
  assert.equal(r.error?.code, 'MANIFEST_INVALID_OBJECT');
  assert.equal(r.error?.line, 4);
  assert.equal(parseManifest('/m/b.yaml', '- 1\n- 2\n').error?.code, 'MANIFEST_INVALID_OBJECT');
  assert.equal(parseManifest('/m/c.yaml', 'metadata: {name: x}\n').error?.code, 'MANIFEST_INVALID_OBJECT');
});

test('stringData is folded into base64 data and wins over data', () => {
  const r = parseManifest('/m/s.yaml', 'kind: Secret\nmetadata: {name: s}\ndata: {a: eA==, b: eQ==}\nstringData: {b: hello, c: "ünï"}\n');
  const secret = r.objects[0]!.obj as unknown as { data: Record<string, string>; stringData?: unknown };
  assert.equal(secret.stringData, undefined);
  assert.deepEqual(secret.data, { a: 'eA==', b: Buffer.from('hello').toString('base64'), c: Buffer.from('ünï').toString('base64') });
});

test('kinds the compiler does not read are a warning, not an error', () => {
  const r = parseManifest('/m/a.yaml', 'kind: Deployment\nmetadata: {name: d}\n---\nkind: Service\nmetadata: {name: s}\n');
  assert.equal(r.error, undefined);
  assert.deepEqual(r.objects.map((o) => o.key), ['Service/default/s']);
  assert.equal(r.warnings.length, 1);
  assert.equal(r.warnings[0]!.code, 'MANIFEST_KIND_IGNORED');
  assert.equal(r.warnings[0]!.severity, 'warning');
  assert.match(r.warnings[0]!.message, /Deployment\/default\/d/);
});

test('alias bombs are refused', () => {
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
    'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]', 'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]', 'kind: Service', 'metadata: {name: x}'].join('\n');
  assert.equal(parseManifest('/m/bomb.yaml', bomb).error?.code, 'MANIFEST_PARSE_ERROR');
});

test('an object of the wrong shape refuses the file, naming the field and line', () => {
  const text = 'kind: Service\nmetadata: {name: web}\n---\nkind: Ingress\nmetadata:\n  name: a\n  annotations: {turnout.dev/response-timeout: 5}\n';
  const r = parseManifest('/m/a.yaml', text);
  assert.equal(r.error?.code, 'MANIFEST_INVALID_OBJECT');
  assert.equal(r.error?.line, 4);
  assert.match(r.error?.message ?? '', /Ingress\/default\/a: metadata\.annotations\.turnout\.dev\/response-timeout: must be a string/);
  assert.deepEqual(r.objects, []);
});

test('Routes: turnout.dev/v1alpha1 is read and shape-checked; another group\'s Route is ignored; an unknown version refused', () => {
  const route = 'apiVersion: turnout.dev/v1alpha1\nkind: Route\nmetadata: {name: r, namespace: shop}\nspec:\n  rules:\n  - backends: [{name: web, port: 80, weight: 90}]\n';
  assert.deepEqual(parseManifest('/m/r.yaml', route).objects.map((o) => o.key), ['Route/shop/r']);

  const openshift = parseManifest('/m/o.yaml', 'apiVersion: route.openshift.io/v1\nkind: Route\nmetadata: {name: r}\nspec: {host: x}\n');
  assert.equal(openshift.error, undefined);
  assert.deepEqual(openshift.objects, []);
  assert.match(openshift.warnings[0]?.message ?? '', /route\.openshift\.io\/v1 Route\/default\/r/);

  const future = parseManifest('/m/f.yaml', 'apiVersion: turnout.dev/v2\nkind: Route\nmetadata: {name: r}\n');
  assert.equal(future.error?.code, 'MANIFEST_INVALID_OBJECT');
  assert.match(future.error?.message ?? '', /turnout\.dev\/v2 is not a version Turnout reads \(turnout\.dev\/v1alpha1\)/);

  const text = 'kind: Service\nmetadata: {name: web}\n---\n' + route.replace('weight: 90', 'weight: "90"');
  const wrong = parseManifest('/m/w.yaml', text);
  assert.equal(wrong.error?.code, 'MANIFEST_INVALID_OBJECT');
  assert.equal(wrong.error?.line, 4);
  assert.match(wrong.error?.message ?? '', /^Route\/shop\/r: spec\.rules\[0\]\.backends\[0\]\.weight: must be an integer$/);
});
