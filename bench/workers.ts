// Workers benchmark (not a test): the time from "snapshot handed to the
// supervisor" to "every worker serves it" (the ACK), for a full snapshot and
// for one-route changes, with 1 and 2 worker processes (proxy/workers.ts),
// against the same apply in one process (DataPlane), at 1k and 10k Ingresses
// (the fleet of bench/compile.ts, compiled with the real compiler).
//
//   node_modules/.bin/node bench/workers.ts
//
// A change alternates path "/" ↔ "/v2" of one Ingress, so each is real; it is
// handed over as the stream client does (a copy-on-write patch of the served
// snapshot), and the supervisor sends workers a JSON patch of it.
import { performance } from 'node:perf_hooks';
import { compile } from '../controller/compile/builder.ts';
import { inputOf, OPTIONS } from '../controller/compile/fixtures.ts';
import type { CompileOptions } from '../controller/compile/types.ts';
import type { Ingress, KubeObject } from '../controller/k8s/types.ts';
import type { Snapshot } from '../api/snapshot.ts';
import { silentLogger } from '../lib/log.ts';
import { DataPlane } from '../proxy/apply.ts';
import type { SnapshotApplier } from '../proxy/applier.ts';
import { WorkerSet } from '../proxy/workers.ts';
import { applyDelta } from '../proxy/stream/delta.ts';
import jsonpatch from 'fast-json-patch';
import { fleet, keyPairs, median, SECRETS } from './compile.ts';
import { freePort } from '../proxy/testkit.ts';

const SIZES = [1_000, 10_000];
const CHANGES = 7;


function changed(objs: readonly KubeObject[], name: string): KubeObject[] {
  return objs.map((o) => {
    if (o.kind !== 'Ingress' || o.metadata.name !== name) return o;
    const copy = structuredClone(o) as Ingress;
    copy.spec!.rules![0]!.http!.paths[0]!.path = '/v2';
    return copy;
  });
}

/**
 * Applies `s` as the stream client would hand it over: the full snapshot as
 * a private copy, a change as a copy-on-write patch of what the applier
 * serves (stream/delta.ts), sharing every unchanged entry with it.
 */
async function timedApply(applier: SnapshotApplier, s: Snapshot): Promise<number> {
  let candidate: unknown = structuredClone(s);
  const current = applier.current;
  if (current !== undefined) {
    const d = applyDelta(current, { type: 'delta', base: current.version, version: s.version, patch: jsonpatch.compare(current, s) });
    if (!d.ok) throw new Error(`bench: ${d.reason}`);
    candidate = d.candidate;
  }
  const t0 = performance.now();
  const r = await applier.apply(candidate);
  if (!r.ok) throw new Error(`bench: refused: ${r.code} ${r.reason}`);
  return performance.now() - t0;
}

const { pairs } = keyPairs(SECRETS);
console.log(`Node ${process.version}; ms from apply() to ACK, median of ${CHANGES} changes\n`);
console.log('routes   workers   full apply   one-route change');
for (const n of SIZES) {
  const options: CompileOptions = {
    ...OPTIONS,
    listeners: {
      http: { ...OPTIONS.listeners.http!, address: '127.0.0.1', port: await freePort() },
      https: { ...OPTIONS.listeners.https!, address: '127.0.0.1', port: await freePort() },
    },
  };
  const objs = fleet(n, pairs);
  const a = compile(inputOf(objs), options);
  const b = compile(inputOf(changed(objs, `ing-${Math.floor(n * 0.4242)}`)), options, a.snapshot);
  for (const workers of [0, 1, 2]) {
    const applier = workers === 0
      ? new DataPlane({ reusePort: true })
      : await WorkerSet.start({ count: workers, config: { reusePort: true, drainTimeoutMs: 1_000, logLevel: 'error' }, log: silentLogger });
    const full = await timedApply(applier, a.snapshot);
    const changes: number[] = [];
    for (let i = 0; i < CHANGES; i++) changes.push(await timedApply(applier, i % 2 === 0 ? b.snapshot : a.snapshot));
    console.log(`${String(n).padStart(6)}   ${(workers === 0 ? 'in-proc' : String(workers)).padStart(7)}   ${full.toFixed(0).padStart(10)}   ${median(changes).toFixed(1).padStart(16)}`);
    if (applier instanceof DataPlane) await applier.close();
    else await (applier as WorkerSet).close(5_000);
  }
}
