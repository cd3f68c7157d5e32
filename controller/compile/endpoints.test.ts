import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../k8s/types.ts';
import { compile } from './builder.ts';
import { recompileEndpoints } from './endpoints.ts';
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
