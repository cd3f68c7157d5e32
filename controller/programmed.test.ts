import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sealSnapshot } from '../api/version.ts';
import type { Snapshot } from '../api/snapshot.ts';
import type { Condition } from './compile/types.ts';
import { withProgrammed } from './programmed.ts';

const accepted: Condition = { type: 'Accepted', status: 'True', reason: 'Accepted', message: '' };
const refused: Condition = { type: 'Accepted', status: 'False', reason: 'NothingToServe', message: '' };

function snap(...origins: string[]): Snapshot {
  const routes = Object.fromEntries(origins.map((o, i) => [`Exact:/${i}`, { match: { type: 'Exact' as const, path: `/${i}` }, timeoutMs: 1000, origin: o }]));
  return sealSnapshot({ listeners: {}, virtualHosts: { 'a.com': { routes } }, clusters: {}, secrets: {} });
}

test('Programmed joins the proxies\' served versions to the objects', () => {
  const old = snap('Route/default/a');
  const cur = snap('Route/default/a', 'Route/default/b');
  const history = new Map([[old.version, old], [cur.version, cur]]);
  const conds = new Map<string, readonly Condition[]>([
    ['Route/default/a', [accepted]],
    ['Route/default/b', [accepted]],
    ['Route/default/c', [refused]],
  ]);
  const cases: Array<[name: string, proxies: Array<string | undefined>, want: Record<string, string | undefined>]> = [
    ['no proxy connected', [], { 'Route/default/a': 'Unknown/NoProxies', 'Route/default/b': 'Unknown/NoProxies', 'Route/default/c': undefined }],
    ['every proxy on the current version', [cur.version, cur.version], { 'Route/default/a': 'True/Programmed', 'Route/default/b': 'True/Programmed' }],
    ['one proxy still on a version without b', [cur.version, old.version], { 'Route/default/a': 'True/Programmed', 'Route/default/b': 'False/Pending' }],
    ['a proxy that has applied nothing yet', [cur.version, undefined], { 'Route/default/a': 'False/Pending' }],
    ['a proxy on a version the history forgot', ['0123456789abcdef0123456789abcdef'], { 'Route/default/a': 'False/Pending' }],
  ];
  for (const [name, versions, want] of cases) {
    const got = withProgrammed(conds, versions.map((v, i) => ({ proxyId: `p${i}`, ackedVersion: v })), (v) => history.get(v));
    for (const [key, w] of Object.entries(want)) {
      const p = got.get(key)?.find((c) => c.type === 'Programmed');
      assert.equal(p === undefined ? undefined : `${p.status}/${p.reason}`, w, `${name}: ${key}`);
    }
  }
});

test('with no proxy connected, a caller may keep what the object already shows', () => {
  const conds = new Map<string, readonly Condition[]>([['Route/default/a', [accepted]], ['Route/default/b', [accepted]]]);
  const kept: Condition = { type: 'Programmed', status: 'True', reason: 'Programmed', message: 'served by every connected proxy' };
  const got = withProgrammed(conds, [], () => undefined, (key) => (key === 'Route/default/a' ? kept : undefined));
  assert.deepEqual(got.get('Route/default/a')?.at(-1), kept);
  assert.equal(got.get('Route/default/b')?.at(-1)?.reason, 'NoProxies');
});

test('the True message does not depend on how many proxies there are (no status rewrite when they scale)', () => {
  const s = snap('Route/default/a');
  const conds = new Map<string, readonly Condition[]>([['Route/default/a', [accepted]]]);
  const one = withProgrammed(conds, [{ proxyId: 'p0', ackedVersion: s.version }], () => s);
  const three = withProgrammed(conds, [0, 1, 2].map((i) => ({ proxyId: `p${i}`, ackedVersion: s.version })), () => s);
  assert.deepEqual(one.get('Route/default/a'), three.get('Route/default/a'));
});
