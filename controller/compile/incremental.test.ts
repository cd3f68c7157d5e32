// Compiling against the previous snapshot: unchanged routes and virtual hosts
// are taken from it as the very same objects, and the result is exactly what
// a compile from scratch gives, whatever changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Snapshot } from '../../api/snapshot.ts';
import type { KubeObject } from '../k8s/types.ts';
import { compile } from './builder.ts';
import { TIMEOUT_ANNOTATION } from './ingress.ts';
import { exactPath, ingress, inputOf, OPTIONS, prefixPath, rule, service, slice, tls, tlsSecret } from './fixtures.ts';
import { FOO_CERT_PEM, FOO_KEY_PEM } from './testdata.ts';

function objects(edit: (i: number) => Partial<{ path: string; svc: string; timeout: string; tls: boolean; host: string }> = () => ({})): KubeObject[] {
  const objs: KubeObject[] = [tlsSecret('cert', FOO_CERT_PEM, FOO_KEY_PEM), service('s0'), service('s1'), slice('s0', ['10.0.0.1']), slice('s1', ['10.0.0.2'])];
  for (let i = 0; i < 6; i++) {
    const e = edit(i);
    const host = e.host ?? `h${i}.example.com`;
    objs.push(ingress(`ing-${i}`, {
      rules: [rule(host, prefixPath(e.path ?? '/', e.svc ?? `s${i % 2}`), exactPath('/healthz', `s${i % 2}`))],
      ...((e.tls ?? i % 3 === 0) ? { tls: [tls('cert', host)] } : {}),
    }, {
      creationTimestamp: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
      ...(e.timeout !== undefined ? { annotations: { [TIMEOUT_ANNOTATION]: e.timeout } } : {}),
    }));
  }
  return objs;
}

const base = (): Snapshot => compile(inputOf(objects()), OPTIONS).snapshot;

test('recompiling with previous equals a fresh compile, and shares what did not change', async (t) => {
  const cases: Array<{ name: string; edit: Parameters<typeof objects>[0]; changed: string[] }> = [
    { name: 'nothing', edit: () => ({}), changed: [] },
    { name: 'a path', edit: (i) => (i === 2 ? { path: '/v2' } : {}), changed: ['h2.example.com'] },
    { name: 'a backend Service', edit: (i) => (i === 1 ? { svc: 's0' } : {}), changed: ['h1.example.com'] },
    { name: 'a timeout annotation (same paths, same cluster)', edit: (i) => (i === 4 ? { timeout: '2s' } : {}), changed: ['h4.example.com'] },
    { name: 'TLS added', edit: (i) => (i === 1 ? { tls: true } : {}), changed: ['h1.example.com'] },
    { name: 'TLS removed', edit: (i) => (i === 3 ? { tls: false } : {}), changed: ['h3.example.com'] },
    { name: 'a host renamed', edit: (i) => (i === 5 ? { host: 'new.example.com' } : {}), changed: ['new.example.com'] },
    // Both of ing-5's paths lose to the older ing-0: h0 is unchanged, h5 gone.
    { name: 'two Ingresses on one host (the older keeps both paths)', edit: (i) => (i === 5 ? { host: 'h0.example.com' } : {}), changed: [] },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      const prev = base();
      const input = inputOf(objects(c.edit));
      const withPrev = compile(input, OPTIONS, prev).snapshot;
      const fresh = compile(input, OPTIONS).snapshot;
      assert.deepEqual(withPrev, fresh);
      assert.equal(withPrev.version, fresh.version);
      for (const [host, vh] of Object.entries(withPrev.virtualHosts)) {
        if (c.changed.includes(host)) assert.notEqual(vh, prev.virtualHosts[host], `${host} changed`);
        else assert.equal(vh, prev.virtualHosts[host], `${host} is the previous object`);
      }
    });
  }
});
