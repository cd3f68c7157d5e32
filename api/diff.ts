// The JSON patch between two snapshots, at a cost proportional to the change:
// the controller's deltas (controller/snapshot/store.ts) and the worker
// supervisor's to its workers (proxy/workers.ts). jsonpatch.compare() skips
// shared (===) subtrees but still walks every key of a changed map: at 10k
// hosts a one-route change walked 10k keys of the hosts map. A map recorded
// as a copy of the base's (noteMapCopy: by the host-scoped recompile, or by
// the proxy's delta, stream/delta.ts) names the few keys it wrote, so only
// those are compared; any other field is left to compare() as before.
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { changedKeys, type Snapshot } from './snapshot.ts';

/** What `jsonpatch.compare(base, to)` gives (same effect; operation order may differ), walking recorded copies at their written keys only. */
export function diffSnapshots(base: Snapshot, to: Snapshot): Operation[] {
  const b = base as unknown as Record<string, unknown>;
  const t = to as unknown as Record<string, unknown>;
  const ops: Operation[] = [];
  const restBase: Record<string, unknown> = {};
  const restTo: Record<string, unknown> = {};
  for (const f of Object.keys(b)) {
    const written = Object.hasOwn(t, f) && b[f] !== t[f] ? changedKeys(t[f], b[f]) : undefined;
    if (written === undefined) { restBase[f] = b[f]; continue; }
    diffKeys(b[f] as Record<string, unknown>, t[f] as Record<string, unknown>, [...written].sort(), `/${jsonpatch.escapePathComponent(f)}`, ops);
  }
  for (const f of Object.keys(t)) {
    if (!Object.hasOwn(b, f) || Object.hasOwn(restBase, f)) restTo[f] = t[f];
  }
  // compare() reads both sides only; the fields handled above are in neither.
  ops.push(...jsonpatch.compare(restBase, restTo));
  return ops;
}

/** Operations for the `keys` of two maps; every other key is the same value in both (noteMapCopy's contract). */
function diffKeys(from: Record<string, unknown>, to: Record<string, unknown>, keys: readonly string[], prefix: string, ops: Operation[]): void {
  for (const key of keys) {
    const path = `${prefix}/${jsonpatch.escapePathComponent(key)}`;
    const had = Object.hasOwn(from, key) && from[key] !== undefined;
    const has = Object.hasOwn(to, key) && to[key] !== undefined;
    if (had && has) {
      const a = from[key];
      const v = to[key];
      if (a === v) continue;
      if (typeof a === 'object' && a !== null && typeof v === 'object' && v !== null && Array.isArray(a) === Array.isArray(v)) {
        for (const op of jsonpatch.compare(a, v)) ops.push({ ...op, path: path + op.path });
      } else {
        ops.push({ op: 'replace', path, value: v });
      }
    } else if (had) {
      ops.push({ op: 'remove', path });
    } else if (has) {
      ops.push({ op: 'add', path, value: to[key] });
    }
  }
}
