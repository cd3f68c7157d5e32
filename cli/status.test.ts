// `kubectl turnout status` on plain objects: verdicts, formatting, exit rules.
// The same command against a real API server is in e2e/kube/plugin.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeClient } from '../controller/k8s/client.ts';
import { KubeApiError } from '../controller/k8s/client.ts';
import type { Ingress, Route } from '../controller/k8s/types.ts';
import { collectCluster, formatStatus, ingressVerdict, judge, kubeconfigPath, proxyVerdict, routeVerdict, runStatus, type KubeEvent, type StatusResult } from './status.ts';

const cond = (type: string, status: string, reason = type, message = '', observedGeneration = 1) => ({ type, status, reason, message, observedGeneration, lastTimestamp: '' });
const route = (name: string, conditions: unknown[], generation = 1, className = 'turnout'): Route => ({
  apiVersion: 'turnout.dev/v1alpha1', kind: 'Route',
  metadata: { name, namespace: 'app', generation },
  spec: { ingressClassName: className },
  status: { conditions: conditions as never },
});
const ingress = (name: string, addresses: string[], extra: Partial<Ingress['metadata']> = {}, className = 'turnout'): Ingress => ({
  metadata: { name, namespace: 'app', uid: `uid-${name}`, creationTimestamp: '2026-11-25T10:00:00Z', ...extra },
  spec: { ingressClassName: className },
  status: { loadBalancer: { ingress: addresses.map((ip) => ({ ip })) } },
});
const warning = (name: string, at: string, reason = 'ServiceNotFound'): KubeEvent => ({
  involvedObject: { kind: 'Ingress', namespace: 'app', name, uid: `uid-${name}` },
  type: 'Warning', reason, message: `${reason} message`, lastTimestamp: at, reportingComponent: 'turnout.dev/ingress-controller',
});

test('a Route is well only with Accepted, ResolvedRefs and Programmed True at its generation', () => {
  assert.deepEqual(routeVerdict(route('good', [cond('Accepted', 'True'), cond('ResolvedRefs', 'True'), cond('Programmed', 'True')])).ok, true);
  const bad = routeVerdict(route('bad', [cond('Accepted', 'True'), cond('ResolvedRefs', 'False', 'BackendNotFound', 'Service app/missing not found'), cond('Programmed', 'True')]));
  assert.deepEqual(bad, { object: 'app/bad', ok: false, problems: ['ResolvedRefs=False BackendNotFound: Service app/missing not found'] });
  const fresh = routeVerdict(route('fresh', []));
  assert.equal(fresh.problems.length, 3);
  assert.match(fresh.problems[0]!, /^Accepted: no condition yet/);
  const stale = routeVerdict(route('stale', [cond('Accepted', 'True', 'A', '', 1), cond('ResolvedRefs', 'True', 'R', '', 2), cond('Programmed', 'True', 'P', '', 2)], 2));
  assert.deepEqual(stale.problems, ['Accepted: observed generation 1, the Route is at 2 (not processed yet)']);
});

test('an Ingress is reported without an address, or with a Warning Event newer than its last spec change', () => {
  assert.deepEqual(ingressVerdict(ingress('ok', ['10.0.0.1']), []), { object: 'app/ok', ok: true, addresses: ['10.0.0.1'] });
  const none = ingressVerdict(ingress('none', []), [warning('none', '2026-11-25T10:00:01Z'), warning('none', '2026-11-25T10:00:05Z', 'Latest')]);
  assert.equal(none.ok, false);
  assert.equal(none.warning?.reason, 'Latest');
  const warned = ingressVerdict(ingress('w', ['10.0.0.1']), [warning('w', '2026-11-25T10:00:01Z')]);
  assert.equal(warned.ok, false, 'an address but a current Warning');
  // The spec changed after the Event (managedFields, not the status subresource): the Event is stale.
  const fixed = ingress('f', ['10.0.0.1'], { managedFields: [{ time: '2026-11-25T11:00:00Z' }, { time: '2026-11-25T12:00:00Z', subresource: 'status' }] } as never);
  assert.equal(ingressVerdict(fixed, [warning('f', '2026-11-25T10:30:00Z')]).ok, true);
  // Events of another object, another uid (a deleted namesake) or another component do not count.
  const others = [warning('x', '2026-11-25T10:00:01Z'), { ...warning('o', '2026-11-25T10:00:01Z'), involvedObject: { kind: 'Ingress', namespace: 'app', name: 'o', uid: 'old' } }, { ...warning('o', '2026-11-25T10:00:01Z'), reportingComponent: 'nginx', source: {} }];
  assert.equal(ingressVerdict(ingress('o', ['10.0.0.1']), others).ok, true);
});

test('a proxy is well when it acked the controller version; none connected is not well', () => {
  assert.equal(proxyVerdict({ proxyId: 'p', identity: 'sa', ackedVersion: 'v2', lagMs: 0 }, 'v2').ok, true);
  const behind = proxyVerdict({ proxyId: 'p', ackedVersion: 'v1', lagMs: 1500, lastNack: { version: 'v2', code: 'INVALID', reason: 'bad', at: 't' } }, 'v2');
  assert.equal(behind.ok, false);
  const base = { ingressClass: 'turnout', ingresses: { total: 0, failing: [] }, routes: { total: 0, failing: [] }, problems: [] };
  assert.equal(judge(base), true);
  const current = proxyVerdict({ proxyId: 'q', ackedVersion: 'v2' }, 'v2');
  assert.equal(judge({ ...base, controllers: [{ admin: 'a', controllerVersion: 'v2', proxies: [] }] }), false, 'no proxy anywhere');
  assert.equal(judge({ ...base, controllers: [{ admin: 'a', controllerVersion: 'v2', proxies: [] }, { admin: 'b', controllerVersion: 'v2', proxies: [current] }] }), true, 'a replica without proxies is fine');
  assert.equal(judge({ ...base, controllers: [{ admin: 'a', controllerVersion: 'v2', proxies: [current, behind] }] }), false);
  assert.equal(judge({ ...base, problems: ['listing Routes: HTTP 403'] }), false);
});

test('formatStatus prints failing objects with reasons, and every proxy', () => {
  const r: StatusResult = {
    ok: false, ingressClass: 'turnout',
    ingresses: { total: 2, failing: [{ object: 'app/broken', ok: false, addresses: [], warning: { reason: 'ServiceNotFound', message: 'Service app/missing not found', at: 't1' } }] },
    routes: { total: 2, failing: [{ object: 'app/bad', ok: false, problems: ['ResolvedRefs=False BackendNotFound: Service app/missing not found'] }] },
    controllers: [{ admin: 'http://127.0.0.1:9902', controllerVersion: 'v2', proxies: [proxyVerdict({ proxyId: 'p1', identity: 'sa', ackedVersion: 'v1', lagMs: 1500, lastNack: { version: 'v2', code: 'INVALID', reason: 'bad', at: 't2' } }, 'v2')] }],
    problems: [],
  };
  assert.equal(formatStatus(r), `Ingresses (class turnout): 2, 1 not served as written
FAIL  ingress app/broken (no load-balancer address)
        Warning ServiceNotFound: Service app/missing not found (t1)
Routes: 2, 1 not served as written
FAIL  route app/bad
        ResolvedRefs=False BackendNotFound: Service app/missing not found
Proxies of http://127.0.0.1:9902: 1 connected, controller version v2
FAIL  proxy p1 (sa) acked v1 lag 1.5s
        last NACK INVALID of v2 at t2: bad
problems found
`);
});

test('collectCluster filters by class (default class included) and turns API errors into problems', async () => {
  const seen: string[] = [];
  const client: KubeClient = {
    watch: undefined as never,
    async request(_m: string, path: string) {
      seen.push(path);
      if (path.endsWith('/ingresses')) return { items: [ingress('mine', []), ingress('foreign', [], {}, 'nginx'), { ...ingress('classless', []), spec: {} }] } as never;
      if (path.endsWith('/ingressclasses')) return { items: [{ metadata: { name: 'turnout', annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } }, spec: { controller: 'turnout.dev/ingress-controller' } }] } as never;
      if (path.endsWith('/events')) return { items: [] } as never;
      throw new KubeApiError(403, 'Forbidden', 'HTTP 403: routes is forbidden');
    },
  };
  const r = await collectCluster(client, { namespace: 'app', ingressClass: 'turnout' });
  assert.deepEqual(r.ingresses.failing.map((i) => i.object), ['app/classless', 'app/mine']);
  assert.equal(r.ingresses.total, 2);
  assert.deepEqual(r.problems, ['listing Routes: HTTP 403: routes is forbidden']);
  assert.ok(seen.includes('/apis/turnout.dev/v1alpha1/namespaces/app/routes'));
});

test('usage errors exit 2; the kubeconfig is the flag, else $KUBECONFIG, else ~/.kube/config', async () => {
  const err: string[] = [];
  assert.equal(await runStatus(['--bogus'], () => {}, (s) => err.push(s)), 2);
  assert.equal(await runStatus(['-o', 'yaml'], () => {}, (s) => err.push(s)), 2);
  assert.equal(await runStatus(['--controller-admin', 'localhost:9902'], () => {}, (s) => err.push(s)), 2);
  assert.match(err.join(''), /Unknown option '--bogus'/);
  assert.equal(kubeconfigPath('/x'), '/x');
  assert.equal(kubeconfigPath(undefined, { KUBECONFIG: '/nonexistent/a:/nonexistent/b' }), '/nonexistent/a');
  assert.match(kubeconfigPath(undefined, {}), /\.kube\/config$/);
  assert.equal(await runStatus(['--kubeconfig', '/nonexistent/kubeconfig'], () => {}, (s) => err.push(s)), 1);
});
