import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import jsonpatch from 'fast-json-patch';
import { entriesSerialised, isHashed, sealSnapshot, versionOf } from '../api/version.ts';
import type { SnapshotContent } from '../api/version.ts';
import { DataPlane } from './apply.ts';
import { applyDelta } from './stream/delta.ts';
import type { TestServer } from './testkit.ts';
import { cluster, content, echoBackend, freePort, get, route, startServer, testEngine, vhost } from './testkit.ts';

let dp: DataPlane;
let port: number;
let a: TestServer;
let b: TestServer;

before(async () => {
  dp = new DataPlane({ http1Engine: testEngine(), drainTimeoutMs: 2_000 });
  port = await freePort();
  a = await echoBackend('a');
  b = await echoBackend('b');
});

after(async () => {
  await dp.close();
  await Promise.all([a.close(), b.close()]);
});

/** One http listener on the test port, every path to `backend`. */
function snap(backendPort: number, extra: Partial<SnapshotContent> = {}): SnapshotContent {
  return content({
    listeners: { http: { protocol: 'http', address: '127.0.0.1', port } },
    virtualHosts: { '*': vhost([route('Prefix', '/', 'c/web:80')]) },
    clusters: { 'c/web:80': cluster(backendPort) },
    ...extra,
  });
}

test('before the first apply there is no current snapshot', () => {
  assert.equal(dp.current, undefined);
  assert.equal(dp.status().version, undefined);
});

test('apply opens the listener and serves; a second apply swaps the table', async () => {
  const s1 = sealSnapshot(snap(a.port));
  assert.deepEqual(await dp.apply(s1), { ok: true, version: s1.version });
  assert.equal(dp.current, s1);
  assert.equal((await get(port, '/')).headers['x-backend'], 'a');
  const s2 = sealSnapshot(snap(b.port));
  assert.deepEqual(await dp.apply(s2), { ok: true, version: s2.version });
  assert.equal((await get(port, '/')).headers['x-backend'], 'b');
  assert.equal(dp.status().version, s2.version);
  assert.ok(dp.appliedAt instanceof Date);
});

test('the same version again is a no-op ACK', async () => {
  const s = sealSnapshot(snap(b.port));
  await dp.apply(s);
  const table = dp.table;
  assert.deepEqual(await dp.apply(structuredClone(s)), { ok: true, version: s.version });
  assert.equal(dp.table, table);
});

test('an invalid snapshot is refused with its JSON path; the old table keeps serving', async () => {
  await dp.apply(sealSnapshot(snap(a.port)));
  const bad = snap(a.port, { defaultRoute: route('Prefix', '/', 'c/missing:1')[1] });
  const outcome = await dp.apply({ ...bad, version: versionOf(bad) });
  assert.equal(outcome.ok, false);
  assert.ok(!outcome.ok);
  assert.equal(outcome.code, 'SNAPSHOT_INVALID');
  assert.match(outcome.reason, /\/defaultRoute\/cluster/);
  assert.equal(outcome.version, versionOf(bad));
  assert.equal((await get(port, '/')).headers['x-backend'], 'a');
  const junk = await dp.apply('not a snapshot');
  assert.ok(!junk.ok);
  assert.equal(junk.code, 'SNAPSHOT_INVALID');
  assert.equal(junk.version, undefined);
});

test('a route this proxy cannot serve (a pattern RE2 refuses) is refused, not ignored', async () => {
  await dp.apply(sealSnapshot(snap(a.port)));
  const regex = { match: { type: 'RegularExpression' as const, path: '/img/(.*' }, cluster: 'c/web:80', timeoutMs: 1000, origin: 'Route/test/r' };
  const outcome = await dp.apply(sealSnapshot(snap(a.port, { virtualHosts: { '*': { routes: { 'RegularExpression:/img/(.*': regex } } } })));
  assert.ok(!outcome.ok);
  assert.equal(outcome.code, 'SNAPSHOT_INVALID');
  assert.match(outcome.reason, /route "RegularExpression:\/img\/\(\.\*" of Route\/test\/r: path regular expression "\/img\/\(\.\*" does not compile/);
  assert.equal((await get(port, '/')).headers['x-backend'], 'a', 'the last good table keeps serving');
});

test('a version that is not the content hash is refused', async () => {
  const good = sealSnapshot(snap(a.port));
  const forged = { ...snap(b.port), version: good.version };
  const outcome = await dp.apply(forged);
  assert.ok(!outcome.ok);
  assert.equal(outcome.code, 'VERSION_MISMATCH');
  assert.equal((await get(port, '/')).headers['x-backend'], 'a');
});

test('a delta whose patch diverges from the content its version names is refused (re-hashing only the written keys still notices)', async () => {
  const hosts = (path: string) => ({
    '*': vhost([route('Prefix', '/', 'c/web:80')]),
    'x.com': vhost([route('Prefix', path, 'c/web:80')]),
    'y.com': vhost([route('Prefix', '/y', 'c/web:80')]),
  });
  const s1 = sealSnapshot(snap(a.port, { virtualHosts: hosts('/x') }));
  assert.ok((await dp.apply(JSON.parse(JSON.stringify(s1)))).ok);
  const s2 = sealSnapshot(snap(a.port, { virtualHosts: hosts('/z') }));
  // The patch to s2, with one more change the controller never made, claiming s2's version.
  const patch = [...jsonpatch.compare(s1, s2), { op: 'replace' as const, path: '/virtualHosts/y.com/routes/Prefix:~1y/timeoutMs', value: 1 }];
  const r = applyDelta(dp.current, { type: 'delta', base: s1.version, version: s2.version, patch });
  assert.ok(r.ok, 'the patch itself applies');
  const outcome = await dp.apply(r.candidate);
  assert.ok(!outcome.ok);
  assert.equal(outcome.code, 'VERSION_MISMATCH');
  assert.equal(dp.current?.version, s1.version, 'the last good snapshot keeps serving');
  // The honest patch is taken.
  const ok = applyDelta(dp.current, { type: 'delta', base: s1.version, version: s2.version, patch: jsonpatch.compare(s1, s2) });
  assert.ok(ok.ok && (await dp.apply(ok.candidate)).ok);
  assert.equal(dp.current?.version, s2.version);
});

test('a bad TLS secret is refused naming the secret, never its contents', async () => {
  const garbage = { cert: '-----BEGIN CERTIFICATE-----\nTOPSECRETCERT\n-----END CERTIFICATE-----\n', key: '-----BEGIN PRIVATE KEY-----\nTOPSECRETKEY\n-----END PRIVATE KEY-----\n' };
  const c = snap(b.port, { secrets: { 'ns/broken': garbage }, virtualHosts: { 'foo.com': vhost([route('Prefix', '/', 'c/web:80')], 'ns/broken') } });
  const outcome = await dp.apply(sealSnapshot(c));
  assert.ok(!outcome.ok);
  assert.equal(outcome.code, 'TLS_SECRET_INVALID');
  assert.match(outcome.reason, /"ns\/broken"/);
  assert.doesNotMatch(outcome.reason, /TOPSECRET/);
  assert.equal((await get(port, '/')).headers['x-backend'], 'a');
});

test('a request in flight finishes on the table it started with', async () => {
  const held: http.ServerResponse[] = [];
  const arrived = Promise.withResolvers<void>();
  const slow = await startServer(http.createServer((_req, res) => {
    held.push(res);
    arrived.resolve();
  }));
  try {
    await dp.apply(sealSnapshot(snap(slow.port)));
    const old = dp.table;
    assert.ok(old);
    const pending = get(port, '/slow');
    await arrived.promise;
    assert.ok((await dp.apply(sealSnapshot(snap(b.port)))).ok);
    assert.equal((await get(port, '/')).headers['x-backend'], 'b', 'new requests use the new table');
    assert.equal(old.closed, false, 'the old table stays open while its request runs');
    held[0]?.end('from the old table');
    const res = await pending;
    assert.deepEqual([res.status, res.body], [200, 'from the old table']);
    while (!old.closed) await new Promise((r) => setImmediate(r));
  } finally {
    await slow.close();
  }
});

test('pools are reused for unchanged endpoints and released for removed ones', async () => {
  await dp.apply(sealSnapshot(snap(a.port, { clusters: { 'c/web:80': cluster(a.port, b.port) } })));
  const t1 = dp.table;
  assert.ok(t1);
  const [epA1, epB1] = t1.cluster('c/web:80')?.endpoints ?? [];
  assert.ok(epA1 && epB1);
  // Same endpoints under a different cluster name and route: same pools.
  const moved = snap(a.port, {
    virtualHosts: { '*': vhost([route('Prefix', '/', 'c/other:81')]) },
    clusters: { 'c/other:81': cluster(b.port) },
  });
  assert.ok((await dp.apply(sealSnapshot(moved))).ok);
  const epB2 = dp.table?.cluster('c/other:81')?.endpoints[0];
  assert.equal(epB2?.dispatcher, epB1.dispatcher, 'b kept its pool');
  assert.ok(t1.closed, 'the idle old table closed at the swap');
  assert.ok(!dp.pools.has(epA1.key), 'a lost its pool');
  assert.ok(dp.pools.has(epB1.key));
  assert.equal((await get(port, '/')).headers['x-backend'], 'b');
});

test('applies are serialised: the last one wins', async () => {
  const outcomes = await Promise.all([a.port, b.port, a.port].map((p) => dp.apply(sealSnapshot(snap(p)))));
  assert.ok(outcomes.every((o) => o.ok));
  assert.equal((await get(port, '/')).headers['x-backend'], 'a');
});

test('a full snapshot is frozen before it is hashed, so the next delta hashes only what changed', async () => {
  const hosts = (path: string) => ({
    '*': vhost([route('Prefix', '/', 'c/web:80')]),
    'x.com': vhost([route('Prefix', path, 'c/web:80')]),
  });
  const s1 = sealSnapshot(snap(a.port, { virtualHosts: hosts('/x') }));
  // As the stream delivers it: parsed JSON, nothing frozen, nothing remembered.
  const wire = JSON.parse(JSON.stringify(s1)) as typeof s1;
  assert.ok(!isHashed(wire.virtualHosts));
  assert.ok((await dp.apply(wire)).ok);
  const served = dp.current;
  assert.equal(served, wire);
  assert.ok(Object.isFrozen(served?.virtualHosts['*']));
  assert.ok(isHashed(served!.virtualHosts), 'the first full snapshot\'s maps are remembered');
  assert.ok(isHashed(served!.clusters));

  const s2 = sealSnapshot(snap(a.port, { virtualHosts: hosts('/y') }));
  const r = applyDelta(served, { type: 'delta', base: s1.version, version: s2.version, patch: jsonpatch.compare(s1, s2) });
  assert.ok(r.ok);
  const before = entriesSerialised();
  assert.ok((await dp.apply(r.candidate)).ok);
  assert.ok(entriesSerialised() - before <= 2, 'the changed host\'s bucket only');
  const next = dp.current!;
  assert.equal(next.version, s2.version);
  assert.equal(next.virtualHosts['*'], served!.virtualHosts['*'], 'unchanged host shared with the previous snapshot');
  assert.equal(next.clusters, served!.clusters);
  assert.notEqual(next.virtualHosts['x.com'], served!.virtualHosts['x.com']);
  assert.ok(Object.isFrozen(next.virtualHosts) && Object.isFrozen(next.virtualHosts['x.com']?.routes));
  assert.ok(isHashed(next.virtualHosts), 'the patched hosts map is remembered for the next delta');
  assert.deepEqual(Object.keys(served!.virtualHosts['x.com']!.routes), ['Prefix:/x'], 'the served snapshot was not patched');
});

test('an endpoint gets its pool on its first request, not when the table is built', async () => {
  const c = await echoBackend('c');
  try {
    assert.ok((await dp.apply(sealSnapshot(snap(c.port)))).ok);
    const ep = dp.pools.get(`127.0.0.1:${c.port}`);
    assert.ok(ep, 'the table references the endpoint');
    assert.equal(ep.hasPool, false);
    const open = dp.status().upstreamPools;
    assert.equal((await get(port, '/')).headers['x-backend'], 'c');
    assert.equal(ep.hasPool, true);
    assert.equal(dp.status().upstreamPools, open + 1);
  } finally {
    await dp.apply(sealSnapshot(snap(a.port)));
    await c.close();
  }
});

test('prepare binds without serving; abort leaves the old table and closes what it bound; applies wait for it', async () => {
  const s1 = sealSnapshot(snap(a.port));
  assert.ok((await dp.apply(s1)).ok);
  const extraPort = await freePort();
  const s2 = sealSnapshot(snap(b.port, { listeners: { http: { protocol: 'http', address: '127.0.0.1', port }, extra: { protocol: 'http', address: '127.0.0.1', port: extraPort } } }));
  const p = await dp.prepare(s2);
  assert.ok(p.ok);
  assert.equal((await get(port, '/')).headers['x-backend'], 'a', 'prepared is not served');
  assert.equal((await get(extraPort, '/')).headers['x-backend'], 'b', 'the new listener is bound and routes on the table it was prepared with');
  let applied = false;
  const queued = dp.apply(sealSnapshot(snap(b.port))).then((r) => { applied = true; return r; });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(applied, false, 'an apply waits for the prepared one to settle');
  await p.abort();
  await assert.rejects(get(extraPort, '/'), 'aborting closes the listener it bound');
  assert.ok((await queued).ok);
  assert.equal((await get(port, '/')).headers['x-backend'], 'b');
});

test('prepare then commit swaps like apply; a refused candidate releases the queue at once', async () => {
  const bad = await dp.prepare({ version: 'x' });
  assert.equal(bad.ok, false);
  const s = sealSnapshot(snap(a.port));
  const p = await dp.prepare(s);
  assert.ok(p.ok);
  p.commit();
  p.commit();
  assert.equal(dp.current, s);
  assert.equal((await get(port, '/')).headers['x-backend'], 'a');
});

test('a delta is checked where it changed: a bad new route or a removed cluster still in use is refused, the old table serves', async () => {
  const hosts = { '*': vhost([route('Prefix', '/', 'c/web:80')]), 'x.com': vhost([route('Prefix', '/', 'c/web:80')]) };
  const s1 = sealSnapshot(snap(a.port, { virtualHosts: hosts }));
  assert.ok((await dp.apply(JSON.parse(JSON.stringify(s1)))).ok);
  const served = dp.current!;
  const deltaTo = (c: SnapshotContent) => {
    const target = { ...c, version: versionOf(c) };
    const r = applyDelta(dp.current, { type: 'delta', base: served.version, version: target.version, patch: jsonpatch.compare(served, target) });
    assert.ok(r.ok);
    return r.candidate;
  };
  // A new host whose route names a cluster that does not exist.
  const badHost = deltaTo(snap(a.port, { virtualHosts: { ...hosts, 'y.com': vhost([route('Prefix', '/', 'c/missing:80')]) } }));
  const r1 = await dp.apply(badHost);
  assert.ok(!r1.ok);
  assert.equal(r1.code, 'SNAPSHOT_INVALID');
  assert.match(r1.reason, /\/virtualHosts\/y\.com\/routes\//);
  // The cluster every unchanged host routes to, removed (and another added).
  const gone = deltaTo(snap(a.port, { virtualHosts: hosts, clusters: { 'c/other:80': cluster(b.port) } }));
  const r2 = await dp.apply(gone);
  assert.ok(!r2.ok);
  assert.equal(r2.code, 'SNAPSHOT_INVALID');
  assert.match(r2.reason, /\/virtualHosts\/.*\/cluster/);
  assert.equal(dp.current, served);
  assert.equal((await get(port, '/')).headers['x-backend'], 'a');
  // A good delta after the refusals applies.
  assert.ok((await dp.apply(deltaTo(snap(b.port, { virtualHosts: hosts })))).ok);
  assert.equal((await get(port, '/')).headers['x-backend'], 'b');
});
