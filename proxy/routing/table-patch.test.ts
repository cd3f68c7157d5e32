// A table built against the previous one from a delta (changed hosts patched
// into the host and SNI indexes) routes exactly like a table built from
// scratch, whatever the delta did to the hosts.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { changedKeys } from '../../api/snapshot.ts';
import type { Snapshot, VirtualHost } from '../../api/snapshot.ts';
import { applyDelta } from '../stream/delta.ts';
import { deepFreeze, sealSnapshot } from '../../api/version.ts';
import { ApplyError } from '../errors.ts';
import { cluster, content, route, vhost } from '../testkit.ts';
import { BAR, FOO } from '../testdata/tls.ts';
import { UpstreamPools } from '../upstream/pools.ts';
import { buildTable, type RoutingTable } from './table.ts';

const pools = new UpstreamPools();
const tables: RoutingTable[] = [];
after(async () => {
  for (const t of tables) t.retire();
  await pools.close();
});

const SECRETS = { 'ns/foo': { cert: FOO.cert, key: FOO.key }, 'ns/bar': { cert: BAR.cert, key: BAR.key } };
const CLUSTERS = { 'ns/a:80': cluster(9001), 'ns/b:80': cluster(9002) };

function hosts(n: number): Record<string, VirtualHost> {
  const out: Record<string, VirtualHost> = { '*': vhost([route('Prefix', '/', 'ns/a:80')]) };
  for (let i = 0; i < n; i++) {
    out[`h${i}.example.com`] = vhost([route('Prefix', '/', i % 2 ? 'ns/a:80' : 'ns/b:80'), route('Exact', `/only-${i}`, 'ns/b:80')], i % 3 === 0 ? 'ns/foo' : undefined);
  }
  out['*.wild.example.com'] = vhost([route('Prefix', '/w', 'ns/b:80')], 'ns/bar');
  return out;
}

const base = (): Snapshot => sealSnapshot(content({ virtualHosts: hosts(40), clusters: CLUSTERS, secrets: SECRETS }));

/** What a delta hands over: the same frozen entries, the hosts map replaced by `edit`'s copy. */
function delta(prev: Snapshot, edit: (h: Record<string, VirtualHost>) => void): Snapshot {
  const virtualHosts = { ...prev.virtualHosts };
  edit(virtualHosts);
  return deepFreeze({ ...prev, virtualHosts });
}

const PROBES: Array<[string, string]> = [
  ['h0.example.com', '/'], ['h1.example.com', '/only-1'], ['h2.example.com', '/only-3'], ['h7.example.com', '/x'],
  ['new.example.com', '/'], ['x.wild.example.com', '/w'], ['x.wild.example.com', '/'], ['other.com', '/'], ['h39.example.com', '/only-39'],
];
const SNI = ['h0.example.com', 'h1.example.com', 'h3.example.com', 'new.example.com', 'x.wild.example.com', 'h6.example.com'];

/** Routing and SNI answers of a table, comparable across tables. */
function behaviour(t: RoutingTable): unknown {
  return {
    counts: t.counts,
    routes: PROBES.map(([h, p]) => {
      const hit = t.match(h, p);
      return hit === undefined ? null : [hit.route.match.type, hit.route.match.path, hit.cluster?.key ?? null];
    }),
    sni: SNI.map((h) => (t.secureContextFor(h) === undefined ? null : t.credentials(t.snapshot.virtualHosts[h]?.tls?.secret ?? 'ns/bar')?.fingerprint)),
  };
}

test('a patched table behaves as a fresh one for every kind of host change', async (t) => {
  const cases: Array<[string, (h: Record<string, VirtualHost>) => void]> = [
    ['a route changed', (h) => { h['h1.example.com'] = vhost([route('Prefix', '/', 'ns/b:80')]); }],
    ['a host added with TLS', (h) => { h['new.example.com'] = vhost([route('Prefix', '/', 'ns/a:80')], 'ns/bar'); }],
    ['a host removed', (h) => { delete h['h0.example.com']; }],
    ['TLS removed from a host', (h) => { h['h3.example.com'] = vhost([route('Prefix', '/', 'ns/a:80')]); }],
    ['TLS added to a host', (h) => { h['h1.example.com'] = vhost([route('Prefix', '/', 'ns/a:80')], 'ns/foo'); }],
    ['the catch-all host changed', (h) => { h['*'] = vhost([route('Exact', '/', 'ns/b:80')]); }],
    ['the wildcard removed', (h) => { delete h['*.wild.example.com']; }],
    ['several at once', (h) => { delete h['h2.example.com']; h['h7.example.com'] = vhost([route('Prefix', '/x', 'ns/b:80')]); h['new.example.com'] = vhost([route('Prefix', '/', 'ns/b:80')]); }],
  ];
  for (const [name, edit] of cases) {
    await t.test(name, () => {
      const prev = buildTable(base(), undefined, { pools });
      const snap = delta(prev.snapshot, edit);
      const patched = buildTable(snap, prev, { pools });
      const fresh = buildTable(deepFreeze(structuredClone(snap)), undefined, { pools });
      tables.push(prev, patched, fresh);
      assert.deepEqual(behaviour(patched), behaviour(fresh));
    });
    // The same change arriving as a delta: the table takes the changed hosts
    // from the keys the delta wrote (changedKeys) instead of comparing all.
    await t.test(`${name}, through applyDelta`, () => {
      const prev = buildTable(base(), undefined, { pools });
      const target = delta(prev.snapshot, edit);
      const patch = JSON.parse(JSON.stringify(jsonpatch.compare(prev.snapshot, target))) as Operation[];
      const r = applyDelta(prev.snapshot, { type: 'delta', base: prev.snapshot.version, version: target.version, patch });
      assert.ok(r.ok, !r.ok ? r.reason : '');
      const snap = r.candidate as Snapshot;
      assert.ok(changedKeys(snap.virtualHosts, prev.snapshot.virtualHosts), 'the delta recorded its hosts map as a copy');
      const patched = buildTable(snap, prev, { pools });
      const fresh = buildTable(deepFreeze(structuredClone(snap)), undefined, { pools });
      tables.push(prev, patched, fresh);
      assert.deepEqual(behaviour(patched), behaviour(fresh));
    });
  }
});

test('a changed host with a pattern the proxy refuses still refuses the snapshot when patching', () => {
  const prev = buildTable(base(), undefined, { pools });
  tables.push(prev);
  const bad = delta(prev.snapshot, (h) => {
    h['h1.example.com'] = { routes: { 'RegularExpression:/img/(.*': { match: { type: 'RegularExpression', path: '/img/(.*' }, cluster: 'ns/a:80', timeoutMs: 5, origin: 'o' } } } as VirtualHost;
  });
  assert.throws(() => buildTable(bad, prev, { pools }), (e: unknown) => e instanceof ApplyError && e.code === 'SNAPSHOT_INVALID');
  // The previous table is untouched and still routes.
  assert.equal(prev.match('h1.example.com', '/only-1')?.route.match.path, '/only-1');
});

test('a changed host whose secret is not a valid certificate refuses the snapshot when patching', () => {
  const broken = sealSnapshot(content({ virtualHosts: hosts(10), clusters: CLUSTERS, secrets: { ...SECRETS, 'ns/broken': { cert: '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n', key: '-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n' } } }));
  const prev = buildTable(broken, undefined, { pools });
  tables.push(prev);
  const next = delta(prev.snapshot, (h) => { h['h1.example.com'] = vhost([route('Prefix', '/', 'ns/a:80')], 'ns/broken'); });
  assert.throws(() => buildTable(next, prev, { pools }), (e: unknown) => e instanceof ApplyError && e.code === 'TLS_SECRET_INVALID');
});
