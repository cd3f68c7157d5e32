// Compiling against the previous snapshot: unchanged routes and virtual hosts
// are taken from it as the very same objects, and the result is exactly what
// a compile from scratch gives, whatever changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Snapshot } from '../../api/snapshot.ts';
import type { KubeObject } from '../k8s/types.ts';
import { deepFreeze } from '../../api/version.ts';
import { compile } from './builder.ts';
import { incrementalBuildCount } from './incremental.ts';
import { TIMEOUT_ANNOTATION } from './ingress.ts';
import { exactPath, ingress, inputOf, OPTIONS, prefixPath, rule, service, slice, tls, tlsSecret } from './fixtures.ts';
import { FOO_CERT_PEM, FOO_KEY_PEM } from './testdata.ts';

type Edit = Partial<{ path: string; svc: string; timeout: string; tls: boolean; host: string; secret: string; gone: boolean; cls: string; extraHost: string }>;

// The same objects for the same (index, edit), frozen as the cache hands them
// out: an unchanged Ingress is the very same object in the next input.
const made = new Map<string, KubeObject>();
function once(key: string, make: () => KubeObject): KubeObject {
  let o = made.get(key);
  if (o === undefined) made.set(key, o = deepFreeze(make()));
  return o;
}

function objects(edit: (i: number) => Edit = () => ({}), count = 6): KubeObject[] {
  const objs: KubeObject[] = [
    once('secret', () => tlsSecret('cert', FOO_CERT_PEM, FOO_KEY_PEM)), once('bad-secret', () => tlsSecret('bad', 'not a pem', 'nope')),
    once('s0', () => service('s0')), once('s1', () => service('s1')), once('s2', () => service('s2')),
    once('l0', () => slice('s0', ['10.0.0.1'])), once('l1', () => slice('s1', ['10.0.0.2'])), once('l2', () => slice('s2', ['10.0.0.3'])),
  ];
  for (let i = 0; i < count; i++) {
    const e = edit(i);
    if (e.gone) continue;
    objs.push(once(`ing-${i}:${JSON.stringify(e)}`, () => ingressOf(i, e)));
  }
  return objs;
}

function ingressOf(i: number, e: Edit): KubeObject {
  {
    const host = e.host ?? `h${i}.example.com`;
    return ingress(`ing-${i}`, {
      ...(e.cls !== undefined ? { ingressClassName: e.cls } : {}),
      rules: [
        rule(host, prefixPath(e.path ?? '/', e.svc ?? `s${i % 2}`), exactPath('/healthz', `s${i % 2}`)),
        ...(e.extraHost !== undefined ? [rule(e.extraHost, prefixPath('/', 's2'))] : []),
      ],
      ...((e.tls ?? i % 3 === 0) ? { tls: [tls(e.secret ?? 'cert', host)] } : {}),
    }, {
      creationTimestamp: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
      ...(e.timeout !== undefined ? { annotations: { [TIMEOUT_ANNOTATION]: e.timeout } } : {}),
    });
  }
}

const base = (): Snapshot => compile(inputOf(objects()), OPTIONS).snapshot;

const CASES: Array<{ name: string; edit: (i: number) => Edit; changed: string[] }> = [
  { name: 'nothing', edit: () => ({}), changed: [] },
  { name: 'a path', edit: (i) => (i === 2 ? { path: '/v2' } : {}), changed: ['h2.example.com'] },
  { name: 'a backend Service', edit: (i) => (i === 1 ? { svc: 's0' } : {}), changed: ['h1.example.com'] },
  { name: 'a new cluster', edit: (i) => (i === 1 ? { svc: 's2' } : {}), changed: ['h1.example.com'] },
  { name: 'a timeout annotation (same paths, same cluster)', edit: (i) => (i === 4 ? { timeout: '2s' } : {}), changed: ['h4.example.com'] },
  { name: 'TLS added', edit: (i) => (i === 1 ? { tls: true } : {}), changed: ['h1.example.com'] },
  { name: 'TLS removed', edit: (i) => (i === 3 ? { tls: false } : {}), changed: ['h3.example.com'] },
  { name: 'TLS with a Secret that fails its check', edit: (i) => (i === 3 ? { secret: 'bad' } : {}), changed: ['h3.example.com'] },
  { name: 'a host renamed', edit: (i) => (i === 5 ? { host: 'new.example.com' } : {}), changed: ['new.example.com'] },
  { name: 'a host renamed to one sorting first', edit: (i) => (i === 3 ? { host: 'a.example.com' } : {}), changed: ['a.example.com'] },
  // Both of ing-5's paths lose to the older ing-0: h0 is unchanged, h5 gone.
  { name: 'two Ingresses on one host (the older keeps both paths)', edit: (i) => (i === 5 ? { host: 'h0.example.com' } : {}), changed: [] },
  { name: 'a second host shared with another Ingress', edit: (i) => (i === 2 ? { extraHost: 'h4.example.com' } : {}), changed: ['h4.example.com'] },
  { name: 'an Ingress removed', edit: (i) => (i === 2 ? { gone: true } : {}), changed: [] },
  { name: 'the last user of a cluster removed', edit: (i) => (i === 1 || i === 3 || i === 5 ? { svc: 's0' } : {}), changed: ['h1.example.com', 'h3.example.com', 'h5.example.com'] },
  { name: 'an Ingress of another class', edit: (i) => (i === 4 ? { cls: 'other' } : {}), changed: [] },
  { name: 'an invalid host', edit: (i) => (i === 4 ? { host: 'Not A Host!' } : {}), changed: [] },
  { name: 'an Ingress added', edit: () => ({}), changed: ['h6.example.com'] },
];

test('recompiling with previous equals a fresh compile (snapshot and conditions), and shares what did not change', async (t) => {
  for (const frozenInputs of [false, true]) {
    for (const c of CASES) {
      await t.test(`${c.name}${frozenInputs ? ' (frozen objects: host-scoped)' : ''}`, () => {
        const count = c.name === 'an Ingress added' ? 7 : 6;
        const thaw = (objs: KubeObject[]) => (frozenInputs ? objs : structuredClone(objs));
        const first = compile(inputOf(thaw(objects())), OPTIONS);
        const prev = first.snapshot;
        const input = inputOf(thaw(objects(c.edit, count)));
        const builds = incrementalBuildCount();
        const withPrev = compile(input, OPTIONS, prev);
        assert.equal(incrementalBuildCount() - builds, frozenInputs ? 1 : 0, 'which path ran');
        const fresh = compile(inputOf(structuredClone(objects(c.edit, count))), OPTIONS);
        assert.deepEqual(withPrev.snapshot, fresh.snapshot);
        assert.equal(JSON.stringify(withPrev.snapshot), JSON.stringify(fresh.snapshot), 'the same bytes: keys in the same (sorted) order');
        assert.equal(withPrev.snapshot.version, fresh.snapshot.version);
        assert.deepEqual(withPrev.conditions, fresh.conditions);
        for (const [host, vh] of Object.entries(withPrev.snapshot.virtualHosts)) {
          if (c.changed.includes(host)) assert.notEqual(vh, prev.virtualHosts[host], `${host} changed`);
          else assert.equal(vh, prev.virtualHosts[host], `${host} is the previous object`);
        }
      });
    }
  }
});

test('host-scoped builds chain: each result is the base of the next, and equals a fresh compile', () => {
  let prev = compile(inputOf(objects()), OPTIONS).snapshot;
  const builds = incrementalBuildCount();
  for (const c of CASES) {
    const objs = objects(c.edit, c.name === 'an Ingress added' ? 7 : 6);
    const r = compile(inputOf(objs), OPTIONS, prev);
    const fresh = compile(inputOf(structuredClone(objs)), OPTIONS);
    assert.equal(r.snapshot.version, fresh.snapshot.version, c.name);
    assert.equal(JSON.stringify(r.snapshot), JSON.stringify(fresh.snapshot), c.name);
    assert.deepEqual(r.conditions, fresh.conditions, c.name);
    prev = r.snapshot;
  }
  assert.equal(incrementalBuildCount() - builds, CASES.length);
});

test('a change to anything but Ingresses, or a default backend, takes the full compile', () => {
  const prev = compile(inputOf(objects()), OPTIONS).snapshot;
  const builds = incrementalBuildCount();
  const moved = objects().map((o) => (o.metadata.name === 's0-abc' ? deepFreeze(slice('s0', ['10.0.0.9'])) : o));
  const r = compile(inputOf(moved), OPTIONS, prev);
  assert.deepEqual(r.snapshot.clusters['default/s0:80'], compile(inputOf(structuredClone(moved)), OPTIONS).snapshot.clusters['default/s0:80']);
  const withDefault = [...objects(), deepFreeze(ingress('dflt', { defaultBackend: { service: { name: 's2', port: { number: 80 } } } }))];
  const d = compile(inputOf(withDefault), OPTIONS, prev);
  assert.equal(d.snapshot.version, compile(inputOf(structuredClone(withDefault)), OPTIONS).snapshot.version);
  assert.equal(incrementalBuildCount(), builds);
});

test('the Ingress list in another order is no change; one change in a reordered list is found', () => {
  const objs = objects();
  const prev = compile(inputOf(objs), OPTIONS).snapshot;
  const builds = incrementalBuildCount();
  const backwards = (input: ReturnType<typeof inputOf>) => ({ ...input, ingresses: [...input.ingresses].reverse() });
  const reversed = compile(backwards(inputOf(objs)), OPTIONS, prev);
  assert.equal(reversed.snapshot, prev, 'nothing changed: the previous snapshot itself');
  const changed = objects((i) => (i === 2 ? { path: '/v2' } : {}));
  const r = compile(backwards(inputOf(changed)), OPTIONS, reversed.snapshot);
  assert.equal(r.snapshot.version, compile(inputOf(structuredClone(changed)), OPTIONS).snapshot.version);
  assert.equal(incrementalBuildCount() - builds, 2);
});
