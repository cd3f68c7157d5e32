import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Condition } from '../compile/types.ts';
import { ingressEvents, ingressStatusPatch, publishedAddresses, routeStatusPatch } from './diff.ts';

const T0 = '2026-11-25T10:00:00Z';
const NOW = '2026-11-25T11:00:00Z';
const accepted: Condition = { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'ok' };
const refsOk: Condition = { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', message: 'ok' };
const refsBad: Condition = { type: 'ResolvedRefs', status: 'False', reason: 'BackendNotFound', message: 'no Service web' };
const stored = (c: Condition, gen: number, at = T0) => ({ ...c, observedGeneration: gen, lastTransitionTime: at });

const routeCases: Array<{ name: string; desired: Condition[]; observed: { generation?: number; status?: any }; want: unknown }> = [
  { name: 'first write', desired: [accepted], observed: { generation: 1 }, want: { status: { conditions: [stored(accepted, 1, NOW)] } } },
  { name: 'unchanged: no write (a resync)', desired: [accepted, refsOk], observed: { generation: 2, status: { conditions: [stored(refsOk, 2), stored(accepted, 2)] } }, want: undefined },
  { name: 'new generation, same status: write, keep lastTransitionTime', desired: [accepted], observed: { generation: 3, status: { conditions: [stored(accepted, 2)] } }, want: { status: { conditions: [stored(accepted, 3, T0)] } } },
  { name: 'status flips: new lastTransitionTime', desired: [accepted, refsBad], observed: { generation: 2, status: { conditions: [stored(accepted, 2), stored(refsOk, 2)] } }, want: { status: { conditions: [stored(accepted, 2, T0), stored(refsBad, 2, NOW)] } } },
  { name: 'same status, new message: write, keep lastTransitionTime', desired: [{ ...refsBad, message: 'no Service api' }], observed: { generation: 2, status: { conditions: [stored(refsBad, 2)] } }, want: { status: { conditions: [stored({ ...refsBad, message: 'no Service api' }, 2, T0)] } } },
  { name: 'a condition went away: write', desired: [accepted], observed: { generation: 2, status: { conditions: [stored(accepted, 2), stored(refsBad, 2)] } }, want: { status: { conditions: [stored(accepted, 2, T0)] } } },
];

for (const tc of routeCases) {
  test(`Route status: ${tc.name}`, () => assert.deepEqual(routeStatusPatch(tc.desired, tc.observed, NOW), tc.want));
}

const lb = [{ ip: '10.0.0.9' }, { hostname: 'lb.test' }];
const ingressCases: Array<{ name: string; accepted: boolean; published: any; current?: any; want: unknown }> = [
  { name: 'nothing published: never touched', accepted: true, published: undefined, current: [{ ip: '1.1.1.1' }], want: undefined },
  { name: 'first write', accepted: true, published: lb, want: { status: { loadBalancer: { ingress: [{ hostname: 'lb.test' }, { ip: '10.0.0.9' }] } } } },
  { name: 'same set in another order: no write', accepted: true, published: lb, current: [{ hostname: 'lb.test' }, { ip: '10.0.0.9' }], want: undefined },
  { name: 'duplicates do not count', accepted: true, published: [...lb, { ip: '10.0.0.9' }], current: lb, want: undefined },
  { name: 'address changed', accepted: true, published: [{ ip: '10.0.0.8' }], current: lb, want: { status: { loadBalancer: { ingress: [{ ip: '10.0.0.8' }] } } } },
  { name: 'not accepted: cleared', accepted: false, published: lb, current: lb, want: { status: { loadBalancer: { ingress: null } } } },
  { name: 'not accepted and empty: no write', accepted: false, published: lb, current: [], want: undefined },
];

for (const tc of ingressCases) {
  test(`Ingress status: ${tc.name}`, () => {
    const observed = { status: tc.current === undefined ? {} : { loadBalancer: { ingress: tc.current } } };
    assert.deepEqual(ingressStatusPatch(tc.accepted, tc.published, observed), tc.want);
  });
}

test('published addresses: load-balancer ingress first, else the ClusterIP, never "None"', () => {
  assert.deepEqual(publishedAddresses({ spec: { clusterIP: '10.96.1.1' }, status: { loadBalancer: { ingress: [{ ip: '203.0.113.1' }, { hostname: 'x.elb' }] } } }), [{ ip: '203.0.113.1' }, { hostname: 'x.elb' }]);
  assert.deepEqual(publishedAddresses({ spec: { clusterIP: '10.96.1.1' }, status: { loadBalancer: {} } }), [{ ip: '10.96.1.1' }]);
  assert.deepEqual(publishedAddresses({ spec: { clusterIP: 'None' } }), []);
  assert.deepEqual(publishedAddresses(undefined), []);
});

test('Ingress events: one per problem, deduplicated by uid and generation', () => {
  const conds: Condition[] = [{ type: 'Accepted', status: 'False', reason: 'NothingToServe', message: 'no rules' }, refsOk, { type: 'Conflicted', status: 'True', reason: 'HostPathConflict', message: 'lost to shop/old' }];
  const ev = ingressEvents('Ingress/shop/web', conds, { uid: 'u', generation: 4 });
  assert.deepEqual(ev.map((e) => `${e.type} ${e.reason}`), ['Warning NothingToServe', 'Warning HostPathConflict']);
  assert.deepEqual(ingressEvents('Ingress/shop/web', conds, { uid: 'u', generation: 4 }).map((e) => e.dedupeKey), ev.map((e) => e.dedupeKey));
  assert.notEqual(ingressEvents('Ingress/shop/web', conds, { uid: 'u', generation: 5 })[0]!.dedupeKey, ev[0]!.dedupeKey);
  assert.deepEqual(ingressEvents('Ingress/shop/web', [accepted, refsOk], { uid: 'u', generation: 4 }), []);
});
