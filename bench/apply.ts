// Proxy-side benchmark (not a test): what a snapshot change costs the proxy at
// 1k and 10k Ingresses (the fleet of bench/compile.ts, compiled with the real
// compiler), in four parts:
//
//   1. full apply: JSON text of the full snapshot message → parse → a new
//      DataPlane applies it (validate, hash, build the table, bind listeners);
//   2. one-route change: recompile with `previous`, diff in the SnapshotStore,
//      then on the proxy applyDelta() and DataPlane.apply(), timed separately;
//   3. where one DataPlane.apply() of a delta candidate spends its time, for a
//      route change and for an endpoint-only change;
//   4. end to end over a real websocket on loopback: StreamServer → StreamClient
//      with a real DataPlane, from store.publish() until the controller sees the ACK.
//
//   node_modules/.bin/node bench/apply.ts
//
// The change alternates path "/" ↔ "/v2" of one Ingress, so every run is a
// real change. Controller and proxy share this process (and its event loop and
// heap); heap figures are taken after a forced GC. Listeners bind free loopback
// ports found at start (the validator refuses port 0).
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Snapshot } from '../api/snapshot.ts';
import { parseControllerMessage } from '../api/stream.ts';
import type { DeltaMessage, SnapshotMessage } from '../api/stream.ts';
import { assertValidSnapshot } from '../api/validate.ts';
import { deepFreeze, sealSnapshot, versionOf } from '../api/version.ts';
import { compile } from '../controller/compile/builder.ts';
import { inputOf, OPTIONS } from '../controller/compile/fixtures.ts';
import type { CompileInput, CompileOptions } from '../controller/compile/types.ts';
import type { Ingress, KubeObject } from '../controller/k8s/types.ts';
import { SnapshotStore } from '../controller/snapshot/store.ts';
import { StreamServer } from '../controller/stream/server.ts';
import { silentLogger } from '../lib/log.ts';
import { DataPlane } from '../proxy/apply.ts';
import { buildTable } from '../proxy/routing/table.ts';
import { applyDelta } from '../proxy/stream/delta.ts';
import { StreamClient } from '../proxy/stream/client.ts';
import { fleet, keyPairs, median, SECRETS, timed } from './compile.ts';

const SIZES = [1_000, 10_000];
const RUNS = 5;
const E2E_CHANGES = 10;
/** Bound on waiting for one ACK over the websocket; a bench must never hang. */
const ACK_TIMEOUT_MS = 120_000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * heapUsed in MiB after full collections with event-loop turns in between: a
 * closed server's handle is released by a weak callback that runs as a task,
 * so back-to-back gc() calls would still count every closed DataPlane.
 */
async function heapMiB(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

/** `count` distinct free loopback ports: bind 127.0.0.1:0 each (all at once), read the port, close. */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const s = createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => resolve());
      });
    }
    return servers.map((s) => (s.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))));
  }
}

/** The fleet's input, and the same with path "/" of Ingress `name` changed to "/v2". */
function variants(objs: readonly KubeObject[], name: string): [CompileInput, CompileInput] {
  const changed = objs.map((o) => {
    if (o.kind !== 'Ingress' || o.metadata.name !== name) return o;
    const copy = structuredClone(o) as Ingress;
    copy.spec!.rules![0]!.http!.paths[0]!.path = '/v2';
    return copy;
  });
  return [inputOf(objs), inputOf(changed)];
}

async function msAsync<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await f();
  return [v, performance.now() - t0];
}

function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(`bench: ${what}`);
}

/**
 * What applyDelta + DataPlane.apply do for the delta prev → next, timed step by
 * step against the serving plane; the table built is retired, not swapped in.
 */
function stepByStep(proxy: DataPlane, store: SnapshotStore, prev: Snapshot, next: Snapshot): Record<string, number> {
  store.publish(next);
  const deltaMsg = parseControllerMessage(store.encode(store.delta(prev.version, next))) as DeltaMessage;
  check(deltaMsg.type === 'delta' && proxy.current?.version === prev.version, 'step by step needs a delta from the served version');
  const [res, msDelta] = timed(() => applyDelta(proxy.current, deltaMsg));
  check(res.ok, 'step-by-step applyDelta failed');
  const candidate = res.candidate as Snapshot;
  const [, msValidate] = timed(() => assertValidSnapshot(candidate));
  const [frozen, msFreeze] = timed(() => deepFreeze(candidate));
  const [hash, msHash] = timed(() => versionOf(frozen));
  check(hash === next.version, 'step-by-step candidate hashes to the wrong version');
  const [built, msBuild] = timed(() => buildTable(frozen, proxy.table, { pools: proxy.pools }));
  built.retire(); // releases its endpoint references; the serving table keeps its own
  // What the hash costs without the memo: the same content, freshly parsed and frozen.
  const fresh = deepFreeze(JSON.parse(JSON.stringify(frozen)) as Snapshot);
  const [, msCold] = timed(() => versionOf(fresh));
  return { delta: msDelta, validate: msValidate, freeze: msFreeze, hash: msHash, build: msBuild, cold: msCold };
}

/** Resolves with the time the controller recorded the ACK of `version`; polls its session table. */
function controllerAck(server: StreamServer, version: string): Promise<number> {
  const deadline = performance.now() + ACK_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      const s = server.sessions()[0];
      if (s?.ackedVersion === version) return resolve(performance.now());
      if (s?.lastNack?.version === version) return reject(new Error(`bench: proxy NACKed ${version}: ${s.lastNack.code} ${s.lastNack.reason}`));
      if (performance.now() > deadline) return reject(new Error(`bench: no ACK of ${version} within ${ACK_TIMEOUT_MS} ms`));
      setImmediate(poll);
    };
    poll();
  });
}

const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);
function table(widths: number[]): (cells: unknown[]) => void {
  return (cells) => console.log(cells.map((c, i) => String(c).padStart(widths[i]!)).join(''));
}

const { pairs, source } = keyPairs(SECRETS);
const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
const options: CompileOptions = {
  ...OPTIONS,
  listeners: {
    http: { ...OPTIONS.listeners.http!, address: '127.0.0.1', port: httpPort },
    https: { ...OPTIONS.listeners.https!, address: '127.0.0.1', port: httpsPort },
  },
};
console.log(`Node ${process.version}; TLS material: ${source}; listeners on 127.0.0.1:${httpPort} (http) and :${httpsPort} (https)`);
console.log(`Controller and proxy in one process; heap = process.memoryUsage().heapUsed after forced GC, MiB\n`);

interface Results {
  n: number;
  target: string;
  full: { bytes: number; parse: number[]; apply: number[]; heapBefore: number; heapAfter: number; endpoints: number; pools: number };
  change: { ops: string; recompile: number[]; diff: number[]; bytes: number; fullBytes: number; parse: number[]; delta: number[]; apply: number[]; heap: number };
  parts: Record<string, number>;
  epParts: Record<string, number>;
  e2e: { sync: number; ms: number[]; bytes: number };
}
const results: Results[] = [];

for (const n of SIZES) {
  const target = `ing-${Math.floor(n * 0.4242)}`;
  const inputs = variants(fleet(n, pairs), target);
  const base = compile(inputs[0], options).snapshot;

  // 1. Full apply, a fresh DataPlane per run; the last one stays for part 2.
  const store = new SnapshotStore();
  store.publish(base);
  const fullText = store.encode(store.full(base));
  const heapBefore = await heapMiB();
  const full = { bytes: Buffer.byteLength(fullText), parse: [] as number[], apply: [] as number[], heapBefore, heapAfter: 0, endpoints: 0, pools: 0 };
  let plane: DataPlane | undefined;
  for (let r = 0; r < RUNS; r++) {
    await plane?.close();
    plane = new DataPlane();
    const p = plane;
    const [msg, msParse] = timed(() => parseControllerMessage(fullText) as SnapshotMessage);
    const [outcome, msApply] = await msAsync(() => p.apply(msg.snapshot));
    check(outcome.ok && outcome.version === base.version, `full apply refused: ${JSON.stringify(outcome)}`);
    full.parse.push(msParse);
    full.apply.push(msApply);
  }
  full.heapAfter = await heapMiB();
  const proxy = plane!;
  full.endpoints = proxy.pools.size;
  full.pools = proxy.pools.open; // pools are created on an endpoint's first request

  // 2. One-route changes against the serving plane, alternating the two variants.
  const change = { ops: '', recompile: [] as number[], diff: [] as number[], bytes: 0, fullBytes: 0, parse: [] as number[], delta: [] as number[], apply: [] as number[], heap: 0 };
  let prev: Snapshot = base;
  for (let r = 0; r < RUNS; r++) {
    const [next, msCompile] = timed(() => compile(inputs[(r + 1) % 2]!, options, prev).snapshot);
    check(next.version !== prev.version, 'the variant did not change the snapshot');
    store.publish(next);
    const [msg, msDiff] = timed(() => store.delta(prev.version, next)); // compare() + encode of delta and full
    check(msg.type === 'delta', 'the store sent a full snapshot for a one-route change');
    const text = store.encode(msg);
    change.bytes = Buffer.byteLength(text);
    change.fullBytes = Buffer.byteLength(store.encode(store.full(next)));
    change.ops = msg.patch.map((o) => `${o.op} ${o.path}`).join(', ');
    const [parsed, msParse] = timed(() => parseControllerMessage(text) as DeltaMessage);
    const [res, msDelta] = timed(() => applyDelta(proxy.current, parsed));
    check(res.ok, `applyDelta failed: ${JSON.stringify(res)}`);
    const [outcome, msApply] = await msAsync(() => proxy.apply(res.candidate));
    check(outcome.ok && outcome.version === next.version, `delta apply refused: ${JSON.stringify(outcome)}`);
    change.recompile.push(msCompile);
    change.diff.push(msDiff);
    change.parse.push(msParse);
    change.delta.push(msDelta);
    change.apply.push(msApply);
    prev = next;
  }
  change.heap = await heapMiB();

  // 3. The same work as applyDelta + DataPlane.apply, step by step, on one more
  // route change, then on an endpoint-only change (one cluster's endpoints
  // replaced, the clusters map is new and the virtual hosts map is not).
  const routeNext = compile(inputs[RUNS % 2 === 0 ? 1 : 0]!, options, prev).snapshot;
  const parts = stepByStep(proxy, store, prev, routeNext);
  const { version: _v, ...prevContent } = prev;
  const clusterKey = Object.keys(prev.clusters)[Math.floor(n * 0.4242)]!;
  const epNext = sealSnapshot({ ...prevContent, clusters: { ...prev.clusters, [clusterKey]: { endpoints: { '10.254.0.1:8080': { address: '10.254.0.1', port: 8080 } } } } });
  const epParts = stepByStep(proxy, store, prev, epNext);
  await proxy.close();

  // 4. End to end over the websocket, with a fresh store, server, plane and client.
  const token = randomBytes(16).toString('hex');
  const e2eStore = new SnapshotStore();
  const server = new StreamServer({ store: e2eStore, token, log: silentLogger });
  const port = await server.listen();
  const e2ePlane = new DataPlane();
  const client = new StreamClient({ url: `ws://127.0.0.1:${port}`, token, proxyId: 'bench', applier: e2ePlane });
  const e2e = { sync: 0, ms: [] as number[], bytes: 0 };
  try {
    let t0 = performance.now();
    e2eStore.publish(base);
    client.start();
    e2e.sync = (await controllerAck(server, base.version)) - t0;
    let last = base;
    for (let i = 0; i < E2E_CHANGES; i++) {
      const snap = compile(inputs[(i + 1) % 2]!, options, last).snapshot;
      const sentBefore = server.sessions()[0]!.bytesSent;
      t0 = performance.now();
      e2eStore.publish(snap);
      e2e.ms.push((await controllerAck(server, snap.version)) - t0);
      e2e.bytes = server.sessions()[0]!.bytesSent - sentBefore;
      last = snap;
    }
  } finally {
    await client.close();
    await server.close();
    await e2ePlane.close();
  }
  results.push({ n, target, full, change, parts, epParts, e2e });
}

console.log(`1. Full apply: parse the full snapshot message, then DataPlane.apply on a fresh DataPlane (${RUNS} runs)`);
const t1 = table([7, 12, 11, 11, 14, 14, 14, 16, 11, 7]);
t1(['N', 'full bytes', 'parse ms', 'apply ms', 'total first', 'total median', 'heap MiB', 'plane heap MiB', 'endpoints', 'pools']);
for (const { n, full: f } of results) {
  const totals = f.parse.map((p, i) => p + f.apply[i]!);
  t1([n, f.bytes, f1(median(f.parse)), f1(median(f.apply)), f1(totals[0]!), f1(median(totals)), f1(f.heapAfter), f1(f.heapAfter - f.heapBefore), f.endpoints, f.pools]);
}
console.log('   plane heap = heap with the applied DataPlane minus heap before it (controller side already built);');
console.log('   endpoints = endpoints the table references; pools = undici pools created (on first request, none here)\n');

console.log(`2. One-route change (path "/" <-> "/v2" of one Ingress), median of ${RUNS} alternating runs`);
const t2 = table([7, 14, 10, 13, 12, 9, 10, 15, 16, 10]);
t2(['N', 'recompile ms', 'diff ms', 'delta bytes', 'full bytes', 'full/Δ', 'parse ms', 'applyDelta ms', 'plane.apply ms', 'heap MiB']);
for (const { n, change: c } of results) {
  t2([n, f1(median(c.recompile)), f1(median(c.diff)), c.bytes, c.fullBytes, `${Math.round(c.fullBytes / c.bytes)}x`,
    f2(median(c.parse)), f1(median(c.delta)), f1(median(c.apply)), f1(c.heap)]);
}
for (const { n, target, change: c } of results) console.log(`   N=${n}: default/${target}; patch: ${c.ops}`);
console.log('   diff ms = SnapshotStore.delta(): compare() plus JSON of the delta and of the full snapshot (to pick the smaller)\n');

console.log('3. One delta candidate step by step (what applyDelta + DataPlane.apply do), ms');
const t3 = table([7, 11, 12, 10, 8, 11, 12, 8, 17]);
t3(['N', 'change', 'applyDelta', 'validate', 'freeze', 'versionOf', 'buildTable', 'sum', 'unmemoised hash']);
for (const { n, parts, epParts } of results) {
  for (const [what, p] of [['route', parts], ['endpoint', epParts]] as const) {
    const sum = p.delta! + p.validate! + p.freeze! + p.hash! + p.build!;
    t3([n, what, f2(p.delta!), f1(p.validate!), f2(p.freeze!), f1(p.hash!), f1(p.build!), f1(sum), f1(p.cold!)]);
  }
}
console.log('   route = the next "/" <-> "/v2" change; endpoint = one cluster\'s endpoints replaced (virtual hosts untouched)');
console.log('   applyDelta copies only the patched paths; freeze skips entries shared with the served snapshot;');
console.log('   versionOf after the freeze reuses the canonical JSON of shared entries; unmemoised hash = the same');
console.log('   content freshly parsed (what every apply paid before the freeze moved ahead of the hash);');
console.log('   buildTable reuses balancers and compiled hosts whose snapshot objects are unchanged\n');

console.log(`4. End to end on loopback: store.publish() → proxy ACK seen by the controller (StreamServer + StreamClient + DataPlane)`);
const t4 = table([7, 20, 18, 10, 10, 15]);
t4(['N', 'first full sync ms', 'change median ms', 'min ms', 'max ms', 'bytes/change']);
for (const { n, e2e: e } of results) {
  t4([n, f1(e.sync), f1(median(e.ms)), f1(Math.min(...e.ms)), f1(Math.max(...e.ms)), e.bytes]);
}
console.log(`   ${E2E_CHANGES} changes per size; first full sync = publish + connect + full snapshot → ACK`);
