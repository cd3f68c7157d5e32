import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../k8s/types.ts';
import { compile } from './builder.ts';
import { deepFreeze } from '../../api/version.ts';
import { recompileEndpoints, scopedEndpointBuilds } from './endpoints.ts';
import { incrementalBuildCount } from './incremental.ts';
import { ingress, inputOf, OPTIONS, prefixPath, rule, service, slice } from './fixtures.ts';

// Two Services, reached by port number and by port name, plus one Ingress
// whose Service is missing (its route has no cluster).
function base(): KubeObject[] {
  return [
    ingress('web', { rules: [rule('a.com', prefixPath('/', 'web'), prefixPath('/named', 'web', 'http')), rule('b.com', prefixPath('/', 'api'))] }),
    ingress('lost', { rules: [rule('c.com', prefixPath('/', 'missing'))] }),
    service('web'), service('api'),
  ];
}

const cases: Array<{ name: string; before: KubeObject[]; after: KubeObject[] }> = [
  { name: 'an endpoint added', before: [slice('web', ['10.0.0.1'])], after: [slice('web', ['10.0.0.1', '10.0.0.2'])] },
  { name: 'an endpoint becomes unready', before: [slice('web', ['10.0.0.1'])], after: [slice('web', ['10.0.0.1'], { ready: false })] },
  { name: 'a slice removed', before: [slice('web', ['10.0.0.1']), slice('api', ['10.0.1.1'])], after: [slice('web', ['10.0.0.1'])] },
  { name: 'a second slice for a Service', before: [slice('api', ['10.0.1.1'])], after: [slice('api', ['10.0.1.1']), slice('api', ['10.0.1.2'], { name: 'api-2' })] },
  { name: 'a slice of an unrelated Service', before: [], after: [slice('unrelated', ['10.0.9.9'])] },
];

for (const c of cases) {
  test(`endpoint fast path equals a full compile: ${c.name}`, () => {
    const previous = compile(inputOf([...base(), ...c.before]), OPTIONS);
    const input = inputOf([...base(), ...c.after]);
    const fast = recompileEndpoints(input, previous);
    const full = compile(input, OPTIONS, previous.snapshot);
    assert.ok(fast, 'the fast path applies');
    assert.equal(fast.snapshot.version, full.snapshot.version);
    assert.deepEqual(fast.snapshot, full.snapshot);
    assert.deepEqual([...fast.conditions], [...full.conditions]);
    assert.equal(fast.snapshot.virtualHosts, previous.snapshot.virtualHosts, 'hosts are reused, not rebuilt');
  });
}

test('endpoint fast path declines when a slice would raise a condition (FQDN)', () => {
  const previous = compile(inputOf([...base(), slice('web', ['10.0.0.1'])]), OPTIONS);
  const input = inputOf([...base(), slice('web', ['10.0.0.1']), slice('web', ['db.example.com'], { name: 'web-fqdn', addressType: 'FQDN' })]);
  assert.equal(recompileEndpoints(input, previous), undefined);
});

// The same changes with frozen objects, as the controller's cache hands them:
// only the Services whose slices changed are resolved again.
for (const c of cases) {
  test(`Service-scoped endpoint path equals a full compile: ${c.name}`, () => {
    // The same Service and Ingress objects on both sides, as the cache keeps unchanged objects.
    const kept = frozen(base());
    const previous = compile(inputOf([...kept, ...frozen(c.before)]), OPTIONS);
    const input = inputOf([...kept, ...frozen(c.after)]);
    const scoped = scopedEndpointBuilds();
    const fast = recompileEndpoints(input, previous);
    assert.ok(fast, 'the fast path applies');
    assert.equal(scopedEndpointBuilds(), scoped + 1, 'scoped to the Services touched');
    const full = compile(input, OPTIONS);
    assert.equal(fast.snapshot.version, full.snapshot.version);
    assert.deepEqual(fast.snapshot, full.snapshot);
    assert.deepEqual([...fast.conditions], [...full.conditions]);
    assert.equal(fast.snapshot.virtualHosts, previous.snapshot.virtualHosts, 'hosts are reused, not rebuilt');
  });
}

test('Service-scoped endpoint path: a slice moved to another Service changes both clusters; one of an unrelated Service changes nothing', () => {
  const kept = frozen([...base(), slice('web', ['10.0.0.1'])]);
  const previous = compile(inputOf([...kept, ...frozen([slice('api', ['10.0.1.1'], { name: 'api-1' })])]), OPTIONS);
  const moved = slice('api', ['10.0.1.1'], { name: 'api-1' });
  moved.metadata = { ...moved.metadata, labels: { 'kubernetes.io/service-name': 'web' } };
  const input = inputOf([...kept, ...frozen([moved])]);
  const scoped = scopedEndpointBuilds();
  const fast = recompileEndpoints(input, previous)!;
  assert.equal(scopedEndpointBuilds(), scoped + 1);
  assert.equal(fast.snapshot.version, compile(input, OPTIONS).snapshot.version);
  assert.deepEqual(Object.keys(fast.snapshot.clusters['default/web:80']!.endpoints), ['10.0.0.1:8080', '10.0.1.1:8080']);
  assert.deepEqual(fast.snapshot.clusters['default/api:80']!.endpoints, {});

  const before = compile(input, OPTIONS);
  const same = recompileEndpoints(inputOf([...input.ingresses, ...input.services, ...input.endpointSlices, ...frozen([slice('unrelated', ['10.9.9.9'])])]), before)!;
  assert.equal(scopedEndpointBuilds(), scoped + 2);
  assert.equal(same.snapshot, before.snapshot, 'the very snapshot: no cluster changed');
});

test('endpoint paths decline when a condition would go away (the FQDN slice removed)', () => {
  const fqdn = slice('web', ['db.example.com'], { name: 'web-fqdn', addressType: 'FQDN' });
  for (const freeze of [frozen, (objs: KubeObject[]) => objs]) {
    const kept = freeze([...base(), slice('web', ['10.0.0.1'])]);
    const previous = compile(inputOf([...kept, ...freeze([fqdn])]), OPTIONS);
    assert.ok([...previous.conditions.values()].some((cs) => cs.some((x) => x.message.includes('FQDN'))), 'the FQDN slice is a condition');
    assert.equal(recompileEndpoints(inputOf(kept), previous), undefined);
  }
});

test('a chain of endpoint and Ingress changes: each result equals a full compile, and Ingress changes stay host-scoped', () => {
  const n = 40;
  const objs = (eps: (i: number) => string[], host: (i: number) => string) => frozen(Array.from({ length: n }, (_, i) => [
    ingress(`ing-${i}`, { rules: [rule(host(i), prefixPath('/', `svc-${i}`), prefixPath('/named', `svc-${i}`, 'http'))] }),
    service(`svc-${i}`), slice(`svc-${i}`, eps(i), { name: `svc-${i}-a` }),
  ]).flat());
  // Reused across steps, as the cache keeps unchanged objects.
  let current = objs((i) => [`10.1.${i}.1`], (i) => `h${i}.com`);
  let previous = compile(inputOf(current), OPTIONS);
  // Built one after the other as the build loop does; compared with full compiles at the end
  // (a compile in between would be the latest build, which the endpoint path builds on).
  const built: Array<[ReturnType<typeof inputOf>, typeof previous]> = [];
  const step = (replace: KubeObject, kind: 'endpoints' | 'ingress') => {
    current = current.map((o) => (o.kind === replace.kind && o.metadata.name === replace.metadata.name ? replace : o));
    const input = inputOf(current);
    const [scoped, hostScoped] = [scopedEndpointBuilds(), incrementalBuildCount()];
    previous = kind === 'endpoints' ? recompileEndpoints(input, previous)! : compile(input, OPTIONS, previous.snapshot);
    if (kind === 'endpoints') assert.equal(scopedEndpointBuilds(), scoped + 1);
    else assert.equal(incrementalBuildCount(), hostScoped + 1, 'the Ingress change after endpoint changes is host-scoped');
    built.push([input, previous]);
  };
  step(frozen([slice('svc-3', ['10.1.3.1', '10.1.3.2'], { name: 'svc-3-a' })])[0]!, 'endpoints');
  step(frozen([slice('svc-7', [], { name: 'svc-7-a' })])[0]!, 'endpoints');
  step(frozen([ingress('ing-5', { rules: [rule('renamed.com', prefixPath('/', 'svc-5'))] })])[0]!, 'ingress');
  step(frozen([slice('svc-5', ['10.1.5.9'], { name: 'svc-5-a' })])[0]!, 'endpoints');
  step(frozen([ingress('ing-3', { rules: [rule('h3.com', prefixPath('/v2', 'svc-3'))] })])[0]!, 'ingress');
  for (const [input, result] of built) {
    const full = compile(input, OPTIONS);
    assert.equal(result.snapshot.version, full.snapshot.version);
    assert.deepEqual(result.snapshot, full.snapshot);
    // As Maps: the host-scoped recompile sets a changed Ingress's conditions last.
    assert.deepEqual(result.conditions, full.conditions);
  }
});

function frozen(objs: KubeObject[]): KubeObject[] {
  return objs.map((o) => deepFreeze(structuredClone(o)));
}

test('Service-scoped endpoint path over many changes in one namespace (past the flattening of replaced Services) equals a full compile', () => {
  const n = 300;
  let current = frozen(Array.from({ length: n }, (_, i) => [
    ingress(`ing-${i}`, { rules: [rule(`h${i}.com`, prefixPath('/', `svc-${i}`))] }),
    service(`svc-${i}`), slice(`svc-${i}`, [`10.1.${i >> 8}.${i & 255}`], { name: `svc-${i}-a` }),
  ]).flat());
  let result = compile(inputOf(current), OPTIONS);
  const scoped = scopedEndpointBuilds();
  // Every Service's slice once, then the first few again (their second replacement).
  for (const i of [...Array.from({ length: n }, (_, i) => i), 0, 1, 2]) {
    const next = frozen([slice(`svc-${i}`, [`10.2.${i >> 8}.${i & 255}`, `10.3.0.${i % 200}`], { name: `svc-${i}-a` })])[0]!;
    current = current.map((o) => (o.kind === 'EndpointSlice' && o.metadata.name === next.metadata.name ? next : o));
    result = recompileEndpoints(inputOf(current), result)!;
  }
  assert.equal(scopedEndpointBuilds(), scoped + n + 3);
  const full = compile(inputOf(current), OPTIONS);
  assert.equal(result.snapshot.version, full.snapshot.version);
  assert.deepEqual(result.snapshot, full.snapshot);
});

test('random slice changes over three namespaces, one after the other: every endpoint-path result equals a full compile', () => {
  // A seeded generator: the same sequence on every run.
  let seed = 42;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const namespaces = ['default', 'team-a', 'team-b'];
  const services = 12;
  const svcObjs: KubeObject[] = [];
  const ingresses: KubeObject[] = [];
  for (const namespace of namespaces) {
    for (let i = 0; i < services; i++) {
      svcObjs.push(service(`svc-${i}`, [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'admin', port: 9090 }], { namespace }));
      // By number, by name, and the second port; every third Service is not referenced at all.
      if (i % 3 !== 2) ingresses.push(ingress(`ing-${i}`, { rules: [rule(`h${i}.${namespace}.com`, prefixPath('/', `svc-${i}`), prefixPath('/n', `svc-${i}`, 'http'), prefixPath('/admin', `svc-${i}`, 9090))] }, { namespace }));
    }
  }
  const kept = frozen([...svcObjs, ...ingresses]);
  // Slices by "namespace/name".
  const slices = new Map<string, KubeObject>();
  const randomSlice = (namespace: string, name: string): KubeObject => {
    const svc = `svc-${rand(services)}`;
    const addresses = Array.from({ length: rand(4) }, () => `10.${namespaces.indexOf(namespace)}.${rand(8)}.${rand(250) + 1}`);
    // Now and then an FQDN slice: a condition on the Ingresses of its Service while it is there.
    const fqdn = rand(25) === 0;
    const s = slice(svc, fqdn ? ['db.example.com'] : addresses, {
      name, namespace, ready: rand(5) === 0 ? false : undefined, ports: [{ name: 'http', port: 8080 + rand(2) }, { name: 'admin', port: 9090 }], ...(fqdn ? { addressType: 'FQDN' as const } : {}),
    });
    return frozen([s])[0]!;
  };
  for (const ns of namespaces) for (let k = 0; k < 10; k++) slices.set(`${ns}/s-${k}`, randomSlice(ns, `s-${k}`));
  const inputNow = () => inputOf([...kept, ...[...slices.keys()].sort().map((k) => slices.get(k)!)]);
  let result = compile(inputNow(), OPTIONS);
  const built: Array<[ReturnType<typeof inputOf>, typeof result]> = [];
  let scopedSteps = 0;
  for (let step = 0; step < 120; step++) {
    // One to three slices changed, removed or added in one build.
    for (let c = rand(3) + 1; c > 0; c--) {
      const ns = namespaces[rand(3)]!;
      const name = `s-${rand(14)}`;
      const op = rand(4);
      if (op === 0) slices.delete(`${ns}/${name}`);
      else slices.set(`${ns}/${name}`, randomSlice(ns, name));
    }
    const input = inputNow();
    const before = scopedEndpointBuilds();
    result = recompileEndpoints(input, result) ?? compile(input, OPTIONS, result.snapshot);
    if (scopedEndpointBuilds() > before) scopedSteps++;
    built.push([input, result]);
  }
  assert.ok(scopedSteps > 80, `most steps are scoped to their Services (${scopedSteps} of 120)`);
  for (const [input, r] of built) {
    const full = compile(input, OPTIONS);
    assert.equal(r.snapshot.version, full.snapshot.version);
    assert.deepEqual(r.conditions, full.conditions);
  }
});
