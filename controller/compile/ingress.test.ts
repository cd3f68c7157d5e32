import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { VirtualHost } from '../../api/snapshot.ts';
import type { KubeObject } from '../k8s/types.ts';
import { compile } from './builder.ts';
import { TIMEOUT_ANNOTATION } from './ingress.ts';
import {
  backend, condition, condSummary, exactPath, ingress, inputOf, OPTIONS, prefixPath, route, rule, service,
} from './fixtures.ts';

const OK = ['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs'];
const T1 = { creationTimestamp: '2026-01-01T00:00:00Z' };
const T2 = { creationTimestamp: '2026-02-01T00:00:00Z' };
const A = 'Ingress/default/a';
const B = 'Ingress/default/b';
const svcRoute = (type: 'Exact' | 'Prefix', path: string, origin = A, timeoutMs?: number) =>
  route(type, path, 'default/svc:80', origin, timeoutMs);
const vh = (...routes: ReturnType<typeof route>[]): VirtualHost => {
  const r: Record<string, ReturnType<typeof route>> = {};
  for (const x of routes) r[`${x.match.type}:${x.match.path}`] = x;
  return { routes: r };
};

test('rules compile into virtual hosts and routes', async (t) => {
  const cases: Array<{ name: string; objs: KubeObject[]; want: { vhosts: Record<string, VirtualHost>; defaultCluster?: string; conds: Record<string, string[] | undefined> } }> = [
    {
      name: 'one host, one path',
      objs: [ingress('a', { rules: [rule('foo.com', prefixPath('/foo'))] })],
      want: { vhosts: { 'foo.com': vh(svcRoute('Prefix', '/foo')) }, conds: { [A]: OK } },
    },
    {
      name: 'host is lower-cased',
      objs: [ingress('a', { rules: [rule('FOO.Com', prefixPath('/'))] })],
      want: { vhosts: { 'foo.com': vh(svcRoute('Prefix', '/')) }, conds: { [A]: OK } },
    },
    {
      name: 'no host means any host',
      objs: [ingress('a', { rules: [rule(undefined, prefixPath('/'))] })],
      want: { vhosts: { '*': vh(svcRoute('Prefix', '/')) }, conds: { [A]: OK } },
    },
    {
      name: 'wildcard host is its own virtual host',
      objs: [ingress('a', { rules: [rule('*.foo.com', prefixPath('/')), rule('foo.com', prefixPath('/'))] })],
      want: { vhosts: { '*.foo.com': vh(svcRoute('Prefix', '/')), 'foo.com': vh(svcRoute('Prefix', '/')) }, conds: { [A]: OK } },
    },
    {
      name: 'rules for one host merge; Exact and Prefix of one path coexist',
      objs: [ingress('a', { rules: [rule('foo.com', exactPath('/foo')), rule('foo.com', prefixPath('/foo'), prefixPath('/bar'))] })],
      want: { vhosts: { 'foo.com': vh(svcRoute('Exact', '/foo'), svcRoute('Prefix', '/bar'), svcRoute('Prefix', '/foo')) }, conds: { [A]: OK } },
    },
    {
      name: 'invalid host: that rule is skipped, others compile',
      objs: [ingress('a', { rules: [rule('foo_bar.com', prefixPath('/')), rule('foo.com', prefixPath('/'))] })],
      want: { vhosts: { 'foo.com': vh(svcRoute('Prefix', '/')) }, conds: { [A]: [...OK, 'PartiallyInvalid=True/InvalidHost'] } },
    },
    {
      name: 'nothing valid: Accepted=False',
      objs: [ingress('a', { rules: [rule('10.0.0.1', prefixPath('/'))] })],
      want: { vhosts: {}, conds: { [A]: ['Accepted=False/InvalidHost', 'ResolvedRefs=True/ResolvedRefs'] } },
    },
    {
      name: 'invalid path is skipped, others compile',
      objs: [ingress('a', { rules: [rule('foo.com', prefixPath('/a/../b'), prefixPath('/ok'))] })],
      want: { vhosts: { 'foo.com': vh(svcRoute('Prefix', '/ok')) }, conds: { [A]: [...OK, 'PartiallyInvalid=True/InvalidPath'] } },
    },
    {
      name: 'missing path defaults to / for Prefix',
      objs: [ingress('a', { rules: [rule('foo.com', prefixPath(undefined))] })],
      want: { vhosts: { 'foo.com': vh(svcRoute('Prefix', '/')) }, conds: { [A]: OK } },
    },
    {
      name: 'empty spec',
      objs: [ingress('a', {})],
      want: { vhosts: {}, conds: { [A]: ['Accepted=False/NothingToServe', 'ResolvedRefs=True/ResolvedRefs'] } },
    },
    {
      name: 'rule without http',
      objs: [ingress('a', { rules: [{ host: 'foo.com' }] })],
      want: { vhosts: {}, conds: { [A]: ['Accepted=False/NothingToServe', 'ResolvedRefs=True/ResolvedRefs'] } },
    },
    {
      name: 'Ingresses of different namespaces merge on one host',
      objs: [ingress('a', { rules: [rule('foo.com', prefixPath('/a'))] }), ingress('a', { rules: [rule('foo.com', prefixPath('/b'))] }, { namespace: 'team' }), service('svc', undefined, { namespace: 'team' })],
      want: {
        vhosts: { 'foo.com': vh(svcRoute('Prefix', '/a'), route('Prefix', '/b', 'team/svc:80', 'Ingress/team/a')) },
        conds: { [A]: OK, 'Ingress/team/a': OK },
      },
    },
    {
      name: 'Ingress without namespace is in "default"',
      objs: [{ ...ingress('a', { rules: [rule('foo.com', prefixPath('/'))] }), metadata: { name: 'a' } } as KubeObject],
      want: { vhosts: { 'foo.com': vh(svcRoute('Prefix', '/')) }, conds: { [A]: OK } },
    },
    {
      name: 'conflict: the older Ingress wins, whatever its name',
      objs: [ingress('a', { rules: [rule('foo.com', prefixPath('/foo'))] }, T2), ingress('b', { rules: [rule('foo.com', prefixPath('/foo'), prefixPath('/bar'))] }, T1)],
      want: {
        vhosts: { 'foo.com': vh(svcRoute('Prefix', '/bar', B), svcRoute('Prefix', '/foo', B)) },
        conds: { [A]: ['Accepted=False/RouteConflict', 'ResolvedRefs=True/ResolvedRefs', 'Conflicted=True/RouteConflict'], [B]: OK },
      },
    },
    {
      name: 'conflict: /foo/ and /foo are the same Prefix route',
      objs: [ingress('a', { rules: [rule('foo.com', prefixPath('/foo/'))] }, T1), ingress('b', { rules: [rule('foo.com', prefixPath('/foo')), prefixRule('foo.com', '/x')] }, T2)],
      want: {
        vhosts: { 'foo.com': vh(svcRoute('Prefix', '/foo'), svcRoute('Prefix', '/x', B)) },
        conds: { [A]: OK, [B]: [...OK, 'Conflicted=True/RouteConflict'] },
      },
    },
    {
      name: 'conflict: equal timestamps, namespace/name decides',
      objs: [ingress('b', { rules: [rule('foo.com', prefixPath('/'))] }, T1), ingress('a', { rules: [rule('foo.com', prefixPath('/'))] }, T1)],
      want: { vhosts: { 'foo.com': vh(svcRoute('Prefix', '/')) }, conds: { [A]: OK, [B]: ['Accepted=False/RouteConflict', 'ResolvedRefs=True/ResolvedRefs', 'Conflicted=True/RouteConflict'] } },
    },
    {
      name: 'conflict: an Ingress without a timestamp loses to one with',
      objs: [ingress('a', { rules: [rule('foo.com', prefixPath('/'))] }), ingress('b', { rules: [rule('foo.com', prefixPath('/'))] }, T2)],
      want: { vhosts: { 'foo.com': vh(svcRoute('Prefix', '/', B)) }, conds: { [A]: ['Accepted=False/RouteConflict', 'ResolvedRefs=True/ResolvedRefs', 'Conflicted=True/RouteConflict'], [B]: OK } },
    },
    {
      name: 'conflict within one Ingress: the first rule wins',
      objs: [ingress('a', { rules: [rule('foo.com', prefixPath('/', 'svc')), rule('foo.com', prefixPath('/', 'other'))] })],
      want: { vhosts: { 'foo.com': vh(svcRoute('Prefix', '/')) }, conds: { [A]: [...OK, 'Conflicted=True/RouteConflict'] } },
    },
    {
      name: 'an ignored Ingress claims nothing',
      objs: [ingress('a', { ingressClassName: 'nginx', rules: [rule('foo.com', prefixPath('/', 'other'))] }, T1), ingress('b', { rules: [rule('foo.com', prefixPath('/'))] }, T2)],
      want: { vhosts: { 'foo.com': vh(svcRoute('Prefix', '/', B)) }, conds: { [A]: undefined, [B]: OK } },
    },
    {
      name: 'defaultBackend',
      objs: [ingress('a', { defaultBackend: backend('svc') })],
      want: { vhosts: {}, defaultCluster: 'default/svc:80', conds: { [A]: OK } },
    },
    {
      name: 'defaultBackend: the oldest wins',
      objs: [ingress('a', { defaultBackend: backend('svc'), rules: [rule('a.com', prefixPath('/'))] }, T2), ingress('b', { defaultBackend: backend('svc', 'http') }, T1)],
      want: {
        vhosts: { 'a.com': vh(svcRoute('Prefix', '/')) }, defaultCluster: 'default/svc:http',
        conds: { [A]: [...OK, 'Conflicted=True/DefaultBackendConflict'], [B]: OK },
      },
    },
    {
      name: 'defaultBackend that does not resolve still holds its claim',
      objs: [ingress('a', { defaultBackend: backend('missing') }, T1), ingress('b', { defaultBackend: backend('svc') }, T2)],
      want: {
        vhosts: {},
        conds: { [A]: ['Accepted=True/Accepted', 'ResolvedRefs=False/ServiceNotFound'], [B]: ['Accepted=False/DefaultBackendConflict', 'ResolvedRefs=True/ResolvedRefs', 'Conflicted=True/DefaultBackendConflict'] },
      },
    },
    {
      name: 'timeout annotation',
      objs: [ingress('a', { rules: [rule('foo.com', prefixPath('/'))] }, { annotations: { [TIMEOUT_ANNOTATION]: '1m30s' } })],
      want: { vhosts: { 'foo.com': vh(svcRoute('Prefix', '/', A, 90_000)) }, conds: { [A]: OK } },
    },
    {
      name: 'invalid timeout annotation: default timeout and a condition',
      objs: [ingress('a', { rules: [rule('foo.com', prefixPath('/'))] }, { annotations: { [TIMEOUT_ANNOTATION]: '30' } })],
      want: { vhosts: { 'foo.com': vh(svcRoute('Prefix', '/')) }, conds: { [A]: [...OK, 'PartiallyInvalid=True/InvalidTimeout'] } },
    },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      const res = compile(inputOf([...c.objs, service('svc')]), OPTIONS);
      assert.deepEqual(res.snapshot.virtualHosts, c.want.vhosts);
      assert.equal(res.snapshot.defaultRoute?.cluster, c.want.defaultCluster);
      for (const [id, want] of Object.entries(c.want.conds)) assert.deepEqual(condSummary(res, id), want, id);
    });
  }
});

function prefixRule(host: string, path: string) {
  return rule(host, prefixPath(path));
}

test('conflict messages name the winner', () => {
  const res = compile(inputOf([
    ingress('a', { rules: [rule('foo.com', prefixPath('/foo'))], defaultBackend: backend('svc') }, T1),
    ingress('b', { rules: [rule('foo.com', prefixPath('/foo/')), rule(undefined, exactPath('/x')), rule(undefined, exactPath('/x'))], defaultBackend: backend('svc') }, T2),
    service('svc'),
  ]), OPTIONS);
  assert.equal(condition(res, B, 'Conflicted')?.message,
    'the defaultBackend is already provided by Ingress default/a; '
    + 'path Prefix /foo on host foo.com is already claimed by Ingress default/a; '
    + 'path Exact /x on any host is already claimed by an earlier rule of this Ingress');
});

test('condition messages are bounded', () => {
  const paths = Array.from({ length: 20 }, (_, i) => prefixPath(`/bad path ${i}`));
  const res = compile(inputOf([ingress('a', { rules: [rule(`${'x'.repeat(300)}`, prefixPath('/')), rule('foo.com', prefixPath('/'), ...paths)] }), service('svc')]), OPTIONS);
  const msg = condition(res, A, 'PartiallyInvalid')!.message;
  assert.match(msg, /\(and 13 more\)$/);
  assert.ok(msg.length < 1200, `message is ${msg.length} chars`);
});
