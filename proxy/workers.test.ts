import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import jsonpatch from 'fast-json-patch';
import { changedKeys, type Snapshot } from '../api/snapshot.ts';
import { sealSnapshot } from '../api/version.ts';
import type { SnapshotContent } from '../api/version.ts';
import { silentLogger, type Logger } from '../lib/log.ts';
import { applyDelta } from './stream/delta.ts';
import { isOverlay, MIN_KEYS } from './stream/overlay.ts';
import { WorkerSet } from './workers.ts';
import type { TestServer } from './testkit.ts';
import { cluster, content, echoBackend, freePort, get, route, vhost } from './testkit.ts';

let set: WorkerSet;
let port: number;
let a: TestServer;
let b: TestServer;
/** What the supervisor logged as errors (a worker refusing its catch-up snapshot is only logged). */
const errors: string[] = [];
const log: Logger = { ...silentLogger, error: (msg, fields) => { errors.push(`${msg} ${JSON.stringify(fields)}`); } };

before(async () => {
  port = await freePort();
  [a, b] = await Promise.all([echoBackend('a'), echoBackend('b')]);
  set = await WorkerSet.start({ count: 2, config: { drainTimeoutMs: 2_000, reusePort: true, logLevel: 'error' }, log });
});

after(async () => {
  await set.close(5_000);
  await Promise.all([a.close(), b.close()]);
});

function snap(backendPort: number, extra: Partial<SnapshotContent> = {}): SnapshotContent {
  return content({
    listeners: { http: { protocol: 'http', address: '127.0.0.1', port } },
    virtualHosts: { '*': vhost([route('Prefix', '/', 'c/web:80')]) },
    clusters: { 'c/web:80': cluster(backendPort) },
    ...extra,
  });
}

/** Which backend answers `n` requests on new connections (spread over both workers by the kernel). */
async function answers(n: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) seen.add(String((await get(port, '/')).headers['x-backend']));
  return seen;
}

test('both workers serve every snapshot before it is acknowledged', async () => {
  const s1 = sealSnapshot(snap(a.port));
  assert.deepEqual(await set.apply(s1), { ok: true, version: s1.version });
  assert.equal(set.current?.version, s1.version);
  assert.deepEqual([...await answers(40)], ['a']);
  const s2 = sealSnapshot(snap(b.port));
  assert.deepEqual(await set.apply(s2), { ok: true, version: s2.version });
  assert.deepEqual([...await answers(40)], ['b'], 'no worker is left on the old version');
  const st = set.status();
  assert.equal(st.version, s2.version);
  assert.equal(st.listeners.http?.port, port);
});

test('a snapshot the workers refuse is a NACK with the reason; every worker keeps the old version', async () => {
  const before = set.current!;
  // Valid in shape, but its version is the hash of other content.
  const bad = { ...structuredClone(sealSnapshot(snap(a.port))), version: before.version };
  const r = await set.apply(bad);
  assert.equal(r.ok, false);
  assert.match((r as { reason: string }).reason, /^worker \d: version \S+ is not the content hash of the snapshot/);
  assert.equal(set.current, before);
  assert.deepEqual([...await answers(20)], ['b']);
});

test('a killed worker is forked again and brought to the current snapshot; the other keeps serving', async () => {
  const version = set.current!.version;
  const [victim] = set.pids();
  process.kill(victim!, 'SIGKILL');
  while (set.pids().includes(victim!)) await new Promise((r) => setTimeout(r, 20));
  // The survivor serves meanwhile: the kernel drops a dead process's
  // SO_REUSEPORT socket from the group. (Connections it had are lost: a
  // crash is not a drain.)
  assert.deepEqual([...await answers(10)], ['b']);
  const deadline = Date.now() + 15_000;
  while (set.pids().length < 2 || set.pids().includes(victim!)) {
    assert.ok(Date.now() < deadline, 'restarted within 15 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  // Its catch-up runs in the apply queue: the next apply waits for it.
  const s3 = sealSnapshot(snap(a.port));
  assert.deepEqual(await set.apply(s3), { ok: true, version: s3.version });
  assert.notEqual(version, s3.version);
  assert.deepEqual([...await answers(40)], ['a']);
});

test('deltas the stream client applied reach the workers as patches; a worker started again gets the overlaid snapshot copied plain', async () => {
  // Enough clusters for the delta's copy of the map to be an overlay (overlay.ts MIN_KEYS).
  const others = Object.fromEntries(Array.from({ length: MIN_KEYS }, (_, i) => [`c/other-${i}:80`, cluster(b.port)]));
  const at = (p: number) => sealSnapshot(snap(p, { clusters: { 'c/web:80': cluster(p), ...others } }));
  const from = at(a.port);
  assert.deepEqual(await set.apply(from), { ok: true, version: from.version });
  const to = at(b.port);
  const d = applyDelta(set.current!, { type: 'delta', base: from.version, version: to.version, patch: jsonpatch.compare(from, to) }, { overlays: true });
  assert.ok(d.ok);
  const clusters = (d.candidate as Snapshot).clusters;
  assert.ok(isOverlay(clusters) && changedKeys(clusters, set.current!.clusters), 'the candidate\'s clusters map is an overlay naming its written key');
  assert.deepEqual(await set.apply(d.candidate), { ok: true, version: to.version });
  assert.deepEqual([...await answers(40)], ['b']);

  const [victim] = set.pids();
  process.kill(victim!, 'SIGKILL');
  const deadline = Date.now() + 15_000;
  while (set.pids().length < 2 || set.pids().includes(victim!)) {
    assert.ok(Date.now() < deadline, 'restarted within 15 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  // The next apply waits for the catch-up, then goes to a worker out of step whole.
  const back = at(a.port);
  const d2 = applyDelta(set.current!, { type: 'delta', base: to.version, version: back.version, patch: jsonpatch.compare(to, back) }, { overlays: true });
  assert.ok(d2.ok);
  assert.deepEqual(await set.apply(d2.candidate), { ok: true, version: back.version });
  assert.deepEqual(errors.filter((e) => !e.startsWith('worker exited; restarting')), [], 'no worker refused a snapshot');
  assert.equal(set.status().version, back.version);
  assert.deepEqual([...await answers(40)], ['a']);
});
