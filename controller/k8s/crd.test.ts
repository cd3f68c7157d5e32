// The Route CRD (crds/turnout.dev_routes.yaml) against the code that reads
// Routes. There is no API server in these tests: crds/verify runs the API
// server's own validation code on the CRD and on crds/verify/cases.yaml (Go,
// run by `npm test` as test:crd); here we check the CRD's structure, that it agrees
// with shape.ts and the proxy's reserved headers, and that the compiler
// accepts every object admission accepts and flags what admission refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse, parseAllDocuments } from 'yaml';
import { RESERVED_HEADERS } from '../../api/validate-route.ts';
import { compile } from '../compile/builder.ts';
import { inputOf, OPTIONS, service, tlsSecret } from '../compile/fixtures.ts';
import type { KubeObject, Route } from './types.ts';
import type { Shape } from './shape.ts';
import { shapeOf, shapeProblem } from './shape.ts';

const CRD_FILE = new URL('../../crds/turnout.dev_routes.yaml', import.meta.url);
const CASES_FILE = new URL('../../crds/verify/cases.yaml', import.meta.url);

interface Schema {
  type?: string;
  description?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  required?: string[];
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-validations'?: Array<{ rule: string; message?: string }>;
  [k: string]: unknown;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const crd = parse(readFileSync(CRD_FILE, 'utf8')) as any;
const version = crd.spec.versions[0];
const root = version.schema.openAPIV3Schema as Schema;
const spec = root.properties!.spec!;

/** Every schema node with its path, depth first. */
function* walk(s: Schema, path: string): Generator<[string, Schema]> {
  yield [path, s];
  for (const [k, v] of Object.entries(s.properties ?? {})) yield* walk(v, `${path}.${k}`);
  if (s.items) yield* walk(s.items, `${path}[]`);
}

test('CRD: kind, names, scope, version, status subresource, printer columns', () => {
  assert.equal(crd.apiVersion, 'apiextensions.k8s.io/v1');
  assert.equal(crd.kind, 'CustomResourceDefinition');
  assert.equal(crd.metadata.name, 'routes.turnout.dev');
  assert.equal(crd.spec.group, 'turnout.dev');
  assert.equal(crd.spec.scope, 'Namespaced');
  assert.deepEqual(crd.spec.names, { kind: 'Route', listKind: 'RouteList', plural: 'routes', singular: 'route', shortNames: ['rt'], categories: ['turnout'] });
  assert.equal(crd.spec.versions.length, 1);
  assert.equal(version.name, 'v1alpha1');
  assert.equal(version.served, true);
  assert.equal(version.storage, true);
  assert.deepEqual(version.subresources, { status: {} });
  assert.deepEqual(version.additionalPrinterColumns.map((c: { name: string; type: string; jsonPath: string }) => [c.name, c.type, c.jsonPath]), [
    ['Hostnames', 'string', '.spec.hostnames'],
    ['Accepted', 'string', '.status.conditions[?(@.type=="Accepted")].status'],
    ['Programmed', 'string', '.status.conditions[?(@.type=="Programmed")].status'],
    ['Age', 'date', '.metadata.creationTimestamp'],
  ]);
  assert.equal(root.type, 'object');
  assert.deepEqual(root.required, ['spec']);
  assert.deepEqual(Object.keys(root.properties!).sort(), ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  assert.deepEqual(Object.keys(spec.properties!).sort(), ['hostnames', 'ingressClassName', 'rules', 'tcp', 'tls']);
  const condition = root.properties!.status!.properties!.conditions!;
  assert.equal(condition['x-kubernetes-list-type'], 'map');
  assert.deepEqual(condition.items!.required, ['type', 'status', 'reason', 'message', 'lastTransitionTime']);
});

test('CRD: every field has a description and a type (structural), no $ref, every rule a message', () => {
  for (const [path, s] of walk(root, 'Route')) {
    if (path === 'Route.metadata') continue; // the API server's own
    assert.ok(typeof s.description === 'string' && s.description.length > 10, `${path} has no description`);
    assert.ok(s.type !== undefined || s['x-kubernetes-int-or-string'] === true, `${path} has no type`);
    assert.ok(!('$ref' in s), `${path} uses $ref, which CRDs forbid`);
    if (s.type === 'array') assert.ok(typeof s.maxItems === 'number', `${path}: a list without maxItems makes CEL cost estimates fail`);
    for (const v of s['x-kubernetes-validations'] ?? []) assert.ok(v.message, `${path}: rule without a message: ${v.rule}`);
  }
});

test('CRD: every string is bounded (CEL cost estimates need maxLength, and etcd objects should stay small)', () => {
  for (const [path, s] of walk(spec, 'spec')) {
    if ((s.type === 'string' || s['x-kubernetes-int-or-string'] === true) && s.enum === undefined) {
      assert.ok(typeof s.maxLength === 'number', `${path} has no maxLength`);
    }
  }
});

test('CRD: the schema has exactly the fields shape.ts checks, with the same types', () => {
  const toShape = (s: Schema): Shape => {
    if (s['x-kubernetes-int-or-string']) return 'int-or-string';
    if (s.type === 'string') return 'string';
    if (s.type === 'integer') return 'int';
    if (s.type === 'boolean') return 'bool';
    if (s.type === 'array') return { arr: toShape(s.items!) };
    return { obj: Object.fromEntries(Object.entries(s.properties ?? {}).map(([k, v]) => [k, toShape(v)])) };
  };
  const shape = shapeOf('Route') as { obj: { spec: Shape } };
  assert.deepEqual(toShape(spec), shape.obj.spec);
});

test('CRD: the headers it refuses to edit are the proxy\'s RESERVED_HEADERS', () => {
  const lists: string[][] = [];
  for (const [, s] of walk(spec, 'spec')) {
    for (const v of s['x-kubernetes-validations'] ?? []) {
      const m = /lowerAscii\(\) in \[([^\]]*)\]/.exec(v.rule);
      if (m) lists.push(m[1]!.split(',').map((x) => x.trim().replace(/^'|'$/g, '')).sort());
    }
  }
  assert.equal(lists.length, 6, 'set, add and remove of request and response headers');
  for (const l of lists) assert.deepEqual(l, [...RESERVED_HEADERS].sort());
});

/**
 * The admission cases of crds/verify/cases.yaml, read as YAML 1.1 like
 * kubectl and the Go checker (sigs.k8s.io/yaml) do: an unquoted `on:` key is
 * then `true`, which is what the API server and the compiler receive.
 */
const cases = parseAllDocuments(readFileSync(CASES_FILE, 'utf8'), { version: '1.1' }).map((d) => d.toJS() as { name: string; want: string; object: Route });

/**
 * Objects admission refuses that the compiler deliberately serves, because
 * it can do what was meant (names are lower-cased, duplicates dropped), or
 * because admission's bound is a cost bound the compiler does not need.
 */
const LENIENT = new Set([
  'an upper-case hostname', 'a hostname listed twice', 'a lower-case method', 'too many backends', 'an unknown field (strict field validation)',
]);

/** What a compile of the object alone (with the Services and Secret it names) says about it. */
function conditionsOf(obj: Route): string[] {
  const names = new Set<string>();
  for (const r of obj.spec?.rules ?? []) for (const b of r.backends ?? []) names.add(b.name);
  const ours = { ...obj, spec: { ingressClassName: 'turnout', ...obj.spec } };
  const res = compile(inputOf([ours as KubeObject, ...[...names].map((n) => service(n)), tlsSecret('shop-tls')]), OPTIONS);
  return (res.conditions.get(`Route/${obj.metadata.namespace}/${obj.metadata.name}`) ?? []).map((c) => `${c.type}=${c.status}/${c.reason}`);
}

test('admission cases: the compiler serves what admission accepts, and flags what it refuses', async (t) => {
  assert.ok(cases.length > 30);
  for (const c of cases) {
    await t.test(`${c.want === 'ok' ? 'accepted' : 'refused'}: ${c.name}`, () => {
      const shape = shapeProblem('Route', c.object);
      if (c.want === 'ok') {
        assert.equal(shape, undefined);
        const conds = conditionsOf(c.object).filter((x) => !x.startsWith('ResolvedRefs='));
        assert.ok(conds.every((x) => x === 'Accepted=True/Accepted'), conds.join(', '));
      } else if (!LENIENT.has(c.name)) {
        const conds = shape === undefined ? conditionsOf(c.object) : [];
        const flagged = shape !== undefined || conds.some((x) => x !== 'Accepted=True/Accepted' && !x.startsWith('ResolvedRefs='));
        assert.ok(flagged, `admission refuses it (${c.want}), the compiler serves it silently: ${conds.join(', ')}`);
      }
    });
  }
});
