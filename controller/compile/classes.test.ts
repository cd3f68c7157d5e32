import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Ingress, KubeObject } from '../k8s/types.ts';
import { compile } from './builder.ts';
import { ingress, ingressClass, inputOf, OPTIONS, prefixPath, rule, service } from './fixtures.ts';

/** An Ingress with only a class annotation / className as given (none by default). */
function classed(o: { className?: string; annotation?: string }): Ingress {
  const ing = ingress('a', { rules: [rule('foo.com', prefixPath('/'))] }, o.annotation === undefined ? {} : { annotations: { 'kubernetes.io/ingress.class': o.annotation } });
  if (o.className === undefined) delete ing.spec!.ingressClassName;
  else ing.spec!.ingressClassName = o.className;
  return ing;
}

test('IngressClass selection', async (t) => {
  const cases: Array<{ name: string; objs: KubeObject[]; ingressClass?: string; want: boolean }> = [
    { name: 'ingressClassName matches, no IngressClass object', objs: [classed({ className: 'turnout' })], want: true },
    { name: 'ingressClassName matches, IngressClass ours', objs: [ingressClass('turnout'), classed({ className: 'turnout' })], want: true },
    { name: 'ingressClassName matches, IngressClass of that name is another controller', objs: [ingressClass('turnout', { controller: 'k8s.io/ingress-nginx' }), classed({ className: 'turnout' })], want: false },
    { name: 'ingressClassName of another class', objs: [ingressClass('turnout', { isDefault: true }), classed({ className: 'nginx' })], want: false },
    { name: 'ingressClassName wins over the annotation', objs: [classed({ className: 'nginx', annotation: 'turnout' })], want: false },
    { name: 'ingressClassName wins over the annotation (ours)', objs: [classed({ className: 'turnout', annotation: 'nginx' })], want: true },
    { name: 'legacy annotation matches', objs: [classed({ annotation: 'turnout' })], want: true },
    { name: 'legacy annotation of another class', objs: [ingressClass('turnout', { isDefault: true }), classed({ annotation: 'nginx' })], want: false },
    { name: 'legacy annotation matches but the class is another controller', objs: [ingressClass('turnout', { controller: 'x.io/other' }), classed({ annotation: 'turnout' })], want: false },
    { name: 'no class, ours is the default', objs: [ingressClass('turnout', { isDefault: true }), classed({})], want: true },
    { name: 'no class, ours exists but is not the default', objs: [ingressClass('turnout'), classed({})], want: false },
    { name: 'no class, no IngressClass at all', objs: [classed({})], want: false },
    { name: 'no class, default class of the same name belongs to another controller', objs: [ingressClass('turnout', { controller: 'x.io/other', isDefault: true }), classed({})], want: false },
    { name: 'no class, another default class', objs: [ingressClass('nginx', { controller: 'k8s.io/ingress-nginx', isDefault: true }), ingressClass('turnout'), classed({})], want: false },
    { name: 'empty ingressClassName counts as unset', objs: [ingressClass('turnout', { isDefault: true }), classed({ className: '' })], want: true },
    { name: 'options.ingressClass is honoured', ingressClass: 'internal', objs: [classed({ className: 'internal' })], want: true },
    { name: 'options.ingressClass excludes the default name', ingressClass: 'internal', objs: [classed({ className: 'turnout' })], want: false },
    { name: 'empty options.ingressClass means "turnout"', ingressClass: '', objs: [classed({ className: 'turnout' })], want: true },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      const options = c.ingressClass === undefined ? OPTIONS : { ...OPTIONS, ingressClass: c.ingressClass };
      const res = compile(inputOf([...c.objs, service('svc')]), options);
      assert.equal(res.conditions.has('Ingress/default/a'), c.want, 'conditions present iff served');
      assert.equal('foo.com' in res.snapshot.virtualHosts, c.want, 'routes present iff served');
    });
  }
});
