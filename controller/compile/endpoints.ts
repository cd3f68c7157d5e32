// The endpoint fast path. EndpointSlices change far more often than anything
// else (every rollout, every scale event), and they only decide which
// addresses a cluster has: hosts, routes, TLS and conditions cannot change.
// So when only slices changed, the clusters of the previous snapshot are
// re-resolved and everything else is reused, instead of recompiling every
// Ingress (Contour routes endpoints around its DAG for the same reason).
//
// Two depths: when the previous build's slices are known (the index it
// recorded, services.ts indexedFor) and every slice is frozen (identity is
// content), only the Services whose slices were added or removed are
// resolved again and only their clusters are written, into a recorded copy
// of the clusters map (hashing and validation then look at those keys only):
// a change at 10k Services costs what one Service does, plus a copy of the
// map. Otherwise every cluster of the previous snapshot is resolved again.
import type { Cluster, ClusterKey } from '../../api/snapshot.ts';
import { mapKeys, noteMapCopy, noteMapKeys } from '../../api/snapshot.ts';
import { sealSnapshot, type SnapshotContent } from '../../api/version.ts';
import { assertValidSnapshot } from '../../api/validate.ts';
import { carryOver, changedObjects } from './incremental.ts';
import { dictionary } from './maps.ts';
import { noteShared, share } from './reuse.ts';
import { indexedFor, rememberIndex, ServiceIndex } from './services.ts';
import type { CompileInput, CompileResult } from './types.ts';
import { lowerBound } from '../../lib/sorted.ts';

/**
 * The result of `compile(input, options, previous.snapshot)` when `input`
 * differs from the previous build's input in EndpointSlices only; undefined
 * when that cannot be guaranteed: a cluster whose resolution reports a
 * problem now or did in `previous` (an FQDN slice: a condition to raise or
 * clear), or `previous` is not the latest build recorded (services.ts
 * rememberIndex). The caller then compiles in full. Pure, like the compiler,
 * but for the memos it leaves for the next build. `externalNames` is the
 * build's CompileOptions.externalNames, so DNS-named clusters resolve as they did.
 */
export function recompileEndpoints(input: CompileInput, previous: CompileResult, externalNames = false): CompileResult | undefined {
  return scoped(input, previous, externalNames) ?? everyCluster(input, previous, externalNames);
}

let scopedBuilds = 0;

/** Builds that took the Service-scoped path (tests, benchmarks). */
export function scopedEndpointBuilds(): number {
  return scopedBuilds;
}

/** Beyond this many changed slices (or a tenth of them) every cluster is resolved again: as cheap by then. */
const MAX_CHANGED = 64;

/** The Service-scoped path (see the top of this file), or undefined when it cannot be sure. */
function scoped(input: CompileInput, previous: CompileResult, externalNames: boolean): CompileResult | undefined {
  const before = indexedFor(previous.snapshot);
  if (before === undefined || !sameObjects(input.services, before.input.services)) return undefined;
  const slices = input.endpointSlices;
  const diff = changedObjects(before.input.endpointSlices, slices, Math.min(MAX_CHANGED, Math.max(16, slices.length / 10)));
  if (diff === undefined || !allFrozen(before.input.endpointSlices) || !diff.added.every((o) => Object.isFrozen(o))) return undefined;
  // The rest of `slices` are the very objects of the list before, all frozen.
  frozenLists.add(slices);
  const next = ServiceIndex.afterSliceChange(before, externalNames, slices, diff.added, diff.removed);
  if (next === undefined) return undefined;
  const was = indexBefore(before, externalNames);
  const clusters = previous.snapshot.clusters;
  const keys = sortedKeys(clusters);
  const written = new Map<ClusterKey, Cluster>();
  for (const [ns, name] of next.touched) {
    for (const key of withPrefix(keys, `${ns}/${name}:`)) {
      const fresh = reresolve(key, next.index, was);
      if (fresh === undefined) return undefined;
      const cluster = share(fresh, clusters[key]);
      if (cluster !== clusters[key]) written.set(key, cluster);
    }
  }
  let snapshot = previous.snapshot;
  if (written.size > 0) {
    const copy = dictionary<Cluster>();
    for (let i = 0; i < keys.length; i++) copy[keys[i]!] = written.get(keys[i]!) ?? clusters[keys[i]!]!;
    noteMapKeys(copy, keys);
    noteMapCopy(copy, clusters, new Set(written.keys()));
    const { version: _version, ...rest } = previous.snapshot;
    snapshot = sealSnapshot({ ...rest, clusters: copy });
    assertValidSnapshot(snapshot, previous.snapshot);
  }
  scopedBuilds++;
  rememberIndex(snapshot, next.index);
  carryOver(previous.snapshot, snapshot, input, next.index);
  return snapshot === previous.snapshot ? previous : { snapshot, conditions: previous.conditions };
}

/** Every cluster of the previous snapshot resolved again against a new index of every Service and slice. */
function everyCluster(input: CompileInput, previous: CompileResult, externalNames: boolean): CompileResult | undefined {
  const before = indexedFor(previous.snapshot);
  if (before === undefined) return undefined;
  const was = indexBefore(before, externalNames);
  const services = new ServiceIndex(input.services, input.endpointSlices, externalNames, before.services);
  const resolved = dictionary<Cluster>();
  for (const key of Object.keys(previous.snapshot.clusters).sort()) {
    const cluster = reresolve(key, services, was);
    if (cluster === undefined) return undefined;
    resolved[key] = cluster;
  }
  const { version: _version, ...rest } = previous.snapshot;
  const content: SnapshotContent = { ...rest, clusters: share(resolved, previous.snapshot.clusters) };
  // The clusters that kept their endpoints are the previous objects: only the others are hashed again.
  noteShared(content.clusters, previous.snapshot.clusters);
  const snapshot = sealSnapshot(content);
  assertValidSnapshot(snapshot, previous.snapshot);
  rememberIndex(snapshot, services);
  carryOver(previous.snapshot, snapshot, input, services);
  return { snapshot, conditions: previous.conditions };
}

/**
 * The previous build's index again, over the Services and slices it was
 * built from: what a cluster resolved to then, and whether with problems
 * (conditions a fix would clear).
 */
function indexBefore(before: NonNullable<ReturnType<typeof indexedFor>>, externalNames: boolean): ServiceIndex {
  return new ServiceIndex(before.input.services, before.input.endpointSlices, externalNames, undefined, before.services);
}

/**
 * Cluster `key` resolved in `now`, or undefined when it no longer resolves to
 * that key, or has a problem now or had one in `was`: a problem is a
 * condition on an Ingress, and only a full compile writes those.
 */
function reresolve(key: ClusterKey, now: ServiceIndex, was: ServiceIndex): Cluster | undefined {
  const ref = parseClusterKey(key);
  if (ref === undefined) return undefined;
  const backend = { service: { name: ref.service, port: typeof ref.port === 'number' ? { number: ref.port } : { name: ref.port } } };
  const res = now.resolve(ref.namespace, backend);
  if (res.cluster !== key || res.problems.length > 0 || was.resolve(ref.namespace, backend).problems.length > 0) return undefined;
  return now.clusters().get(key);
}

/** Splits "namespace/service:port" (services.ts clusterKey); a port of digits only is a number (port names must contain a letter). */
function parseClusterKey(key: string): { namespace: string; service: string; port: number | string } | undefined {
  const m = /^([^/]+)\/([^:]+):(.+)$/.exec(key);
  if (!m) return undefined;
  return { namespace: m[1]!, service: m[2]!, port: /^\d+$/.test(m[3]!) ? Number(m[3]) : m[3]! };
}

// Key lists found sorted (mapKeys of a frozen map is one list for the map's life).
const sortedLists = new WeakSet<readonly string[]>();

/** The keys of a snapshot's clusters map, in sorted order (checked once per list, sorted only when not). */
function sortedKeys(map: object): readonly string[] {
  const keys = mapKeys(map);
  if (sortedLists.has(keys)) return keys;
  for (let i = 1; i < keys.length; i++) if (keys[i - 1]! >= keys[i]!) return [...keys].sort();
  sortedLists.add(keys);
  return keys;
}

/** The keys of sorted `keys` that start with `prefix`: one run, found by binary search. */
function withPrefix(keys: readonly string[], prefix: string): readonly string[] {
  const lo = lowerBound(keys, prefix);
  let end = lo;
  while (end < keys.length && keys[end]!.startsWith(prefix)) end++;
  return keys.slice(lo, end);
}

/** The very same objects, all frozen: identity is content. */
function sameObjects<T extends object>(a: readonly T[], b: readonly T[]): boolean {
  if (a === b) return allFrozen(a);
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return allFrozen(a);
}

// Lists whose every object was found frozen (frozen is forever, and the cache's lists are frozen arrays).
const frozenLists = new WeakSet<readonly object[]>();

/** Whether every object of `list` is frozen: looked at once per list. */
function allFrozen(list: readonly object[]): boolean {
  if (frozenLists.has(list)) return true;
  for (let i = 0; i < list.length; i++) if (!Object.isFrozen(list[i]!)) return false;
  frozenLists.add(list);
  return true;
}
