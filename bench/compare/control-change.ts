// The control path's CPU per change, stage by stage, in one process (no
// network, no polling): what scenario 6's "CPU per change" is made of, steady
// enough to compare two builds on a loaded machine.
//
//   node_modules/.bin/node bench/compare/control-change.ts [Ingresses=10000] [changes=60] [--rename | --endpoint]
//
// A full compile of bench/compile.ts's fleet is published and applied to a
// DataPlane (listeners on a free port); then each change flips one path of one
// Ingress (as scenario 7; with --rename its host instead, as scenario 6; with
// --endpoint one address of one EndpointSlice, recompiled by the endpoint fast
// path as the build loop does) and runs the real stages: recompile against the
// previous snapshot, SnapshotStore.publish, delta + its JSON, and on the proxy
// side parse + applyDelta, then DataPlane.apply. Medians skip the first four
// changes (the host-scoped recompile builds its index on the first).
import os from 'node:os';
import type { Snapshot } from '../../api/snapshot.ts';
import { parseControllerMessage, type DeltaMessage, type SnapshotMessage } from '../../api/stream.ts';
import { compile } from '../../controller/compile/builder.ts';
import { recompileEndpoints, scopedEndpointBuilds } from '../../controller/compile/endpoints.ts';
import { inputOf, OPTIONS } from '../../controller/compile/fixtures.ts';
import type { CompileInput, CompileOptions, CompileResult } from '../../controller/compile/types.ts';
import type { EndpointSlice, Ingress, KubeObject } from '../../controller/k8s/types.ts';
import { SERVICE_NAME_LABEL } from '../../controller/k8s/types.ts';
import { deepFreeze } from '../../api/version.ts';
import { SnapshotStore } from '../../controller/snapshot/store.ts';
import { DataPlane } from '../../proxy/apply.ts';
import { applyDelta } from '../../proxy/stream/delta.ts';
import { keyPairs, SECRETS } from '../compile.ts';
import { cpuMs, frozenFleet, withPath } from './control-sizes.ts';
import { freePort } from './procs.ts';
import { median } from './report.ts';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const n = Number(args[0] ?? 10_000);
const changes = Math.min(Math.max(Number(args[1] ?? 60), 8), 1_000);
const options: CompileOptions = { ...OPTIONS, listeners: { http: { ...OPTIONS.listeners.http!, address: '127.0.0.1', port: await freePort() } } };
const objs = frozenFleet(n, keyPairs(SECRETS).pairs);
const target = `ing-${Math.floor(n * 0.4242)}`;
const endpoint = process.argv.includes('--endpoint');
const changeName = process.argv.includes('--rename') ? 'host renamed' : endpoint ? 'one endpoint address' : 'one path';
const inputs = [
  inputOf(objs),
  process.argv.includes('--rename') ? withHost(objs, target, 'renamed.bench.example.com') : endpoint ? withAddress(objs, `svc-${target.slice(4)}`, '10.250.0.1') : withPath(objs, target, '/v2'),
] as const;

/** The fleet's input with the first address of Service `svc`'s slice set to `address` (a new frozen object). */
function withAddress(all: readonly KubeObject[], svc: string, address: string): CompileInput {
  return inputOf(all.map((o) => {
    if (o.kind !== 'EndpointSlice' || o.metadata.labels?.[SERVICE_NAME_LABEL] !== svc) return o;
    const copy = structuredClone(o) as EndpointSlice;
    copy.endpoints![0]!.addresses = [address];
    return deepFreeze(copy);
  }));
}

/** The fleet's input with the host of Ingress `name` set to `host` (a new frozen object, as the cache makes). */
function withHost(all: readonly KubeObject[], name: string, host: string): CompileInput {
  return inputOf(all.map((o) => {
    if (o.kind !== 'Ingress' || o.metadata.name !== name) return o;
    const copy = structuredClone(o) as Ingress;
    copy.spec!.rules![0]!.host = host;
    return deepFreeze(copy);
  }));
}

let last: CompileResult = compile(inputs[0], options);
let prev: Snapshot = last.snapshot;
const store = new SnapshotStore();
store.publish(prev);
const plane = new DataPlane();
const stages = ['recompile', 'publish', 'delta+JSON', 'proxy parse+applyDelta', 'proxy apply'] as const;
const rows: number[][] = [];
try {
  const full = await plane.apply((parseControllerMessage(store.encode(store.full(prev))) as SnapshotMessage).snapshot);
  if (!full.ok) throw new Error(`full apply refused: ${full.code} ${full.reason}`);
  for (let i = 1; i <= changes; i++) {
    const t: number[] = [];
    let c = process.cpuUsage();
    const lap = () => { t.push(cpuMs(c)); c = process.cpuUsage(); };
    last = (endpoint ? recompileEndpoints(inputs[i % 2]!, last) : undefined) ?? compile(inputs[i % 2]!, options, prev);
    const next = last.snapshot;
    lap();
    store.publish(next);
    lap();
    const text = store.encode(store.delta(prev.version, next));
    lap();
    const res = applyDelta(plane.current, parseControllerMessage(text) as DeltaMessage);
    if (!res.ok) throw new Error(`applyDelta: ${res.reason}`);
    lap();
    const out = await plane.apply(res.candidate);
    if (!out.ok) throw new Error(`delta apply refused: ${out.code} ${out.reason}`);
    lap();
    rows.push(t);
    prev = next;
  }
} finally {
  await plane.close();
}
const med = (k: number) => median(rows.slice(4).map((r) => r[k]!));
const controller = med(0) + med(1) + med(2);
const proxy = med(3) + med(4);
console.log(`${n} Ingresses, ${changes} changes (${changeName}), CPU ms per change (medians), load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}:`);
console.log(`  ${stages.map((s, k) => `${s} ${med(k).toFixed(2)}`).join(', ')}`);
console.log(`  controller ${controller.toFixed(2)}, proxy ${proxy.toFixed(2)}${endpoint ? ` (${scopedEndpointBuilds()} of ${changes} changes scoped to their Service)` : ''}`);
