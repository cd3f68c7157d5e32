// Host-scoped recompile: when only Ingresses changed since a snapshot this
// process compiled, only the virtual hosts those Ingresses touch can change,
// so only the Ingresses sharing a host with them (transitively) are processed
// again, and every other host, cluster, secret and condition is taken from
// the previous result. At 10k Ingresses a one-Ingress change processes one
// instead of 10k. The result is exactly what a full compile gives
// (incremental.test.ts compares the two on every kind of change).
//
// Why a host is the unit: claims conflict per host (claims.ts), so the routes
// and TLS of a host depend only on the Ingresses naming it and their age
// order; an Ingress's conditions depend on the claims of its own hosts.
// Hence the closure: the changed Ingresses, every Ingress on one of their
// hosts, every Ingress on one of those Ingresses' hosts, and so on.
//
// Anything this does not model falls back to the full compile (undefined):
// a change to any other kind, Routes present, a default backend in play, a
// previous snapshot this process did not compile (or compiled from objects
// that were not frozen: identity must mean "unchanged"), a closure larger
// than a tenth of the Ingresses.
import type { ClusterKey, Route, SecretKey, Snapshot, VirtualHost } from '../../api/snapshot.ts';
import { ANY_HOST, DEFAULT_SECRET, mapKeys, noteMapCopy, noteMapKeys } from '../../api/snapshot.ts';
import { assertValidSnapshot } from '../../api/validate.ts';
import type { SnapshotContent } from '../../api/version.ts';
import { sealSnapshot } from '../../api/version.ts';
import type { Ingress, KubeObject } from '../k8s/types.ts';
import { byAge, DEFAULT_INGRESS_CLASS } from './builder.ts';
import { Claims } from './claims.ts';
import { ClassFilter } from './classes.ts';
import { ObjectStatus } from './conditions.ts';
import { IngressProcessor } from './ingress.ts';
import { dictionary } from './maps.ts';
import { hostKey } from './match.ts';
import type { SecretIndex } from './secrets.ts';
import { rememberIndex, type ServiceIndex } from './services.ts';
import type { CompileInput, CompileOptions, CompileResult, Condition } from './types.ts';

/** Who touches which host, and how often each cluster and secret is used; built once, then kept up to date. */
interface Index {
  /** Accepted Ingresses by "namespace/name". */
  readonly ingresses: Map<string, Ingress>;
  readonly hostsOf: Map<string, readonly string[]>;
  readonly byHost: Map<string, Set<string>>;
  readonly clusterRefs: Map<ClusterKey, number>;
  readonly secretRefs: Map<SecretKey, number>;
}

/** What a compile leaves behind for the next one. */
interface State {
  readonly input: CompileInput;
  readonly options: CompileOptions;
  readonly conditions: ReadonlyMap<string, readonly Condition[]>;
  readonly services: ServiceIndex;
  readonly secrets: SecretIndex;
  index: Index | undefined;
  /** Every Ingress of `input` is known to be frozen (checked once, then kept true). */
  readonly frozen: boolean;
}

const states = new WeakMap<Snapshot, State>();
let incrementalBuilds = 0;

/** Builds that took the host-scoped path (tests, benchmarks). */
export function incrementalBuildCount(): number {
  return incrementalBuilds;
}

/** Called by compile() with every result: the base of the next incremental build. */
export function remember(result: CompileResult, input: CompileInput, options: CompileOptions, services: ServiceIndex, secrets: SecretIndex): void {
  if ((input.routes?.length ?? 0) > 0) return;
  states.set(result.snapshot, { input, options, conditions: result.conditions, services, secrets, index: undefined, frozen: false });
}

/** At most this share of the Ingresses may be processed again; beyond it a full compile is as cheap. */
const MAX_SHARE = 0.1;

/** The host-scoped recompile against `previous`, or undefined when only a full compile is right. */
export function recompileIngresses(input: CompileInput, options: CompileOptions, previous: Snapshot): CompileResult | undefined {
  const st = states.get(previous);
  if (st === undefined || st.options !== options || (input.routes?.length ?? 0) > 0 || previous.defaultRoute !== undefined) return undefined;
  const before = st.input;
  if (!sameFrozen(input.services, before.services) || !sameFrozen(input.endpointSlices, before.endpointSlices)
    || !sameFrozen(input.secrets, before.secrets) || !sameFrozen(input.ingressClasses, before.ingressClasses)) return undefined;

  // Which Ingresses changed: objects are frozen, so identity is content.
  const limit = Math.max(16, Math.floor(input.ingresses.length * MAX_SHARE));
  const diff = changedObjects(before.ingresses, input.ingresses, limit);
  if (diff === undefined) return undefined;
  const { added, removed } = diff;
  if (!added.every((o) => Object.isFrozen(o) && o.spec?.defaultBackend === undefined)) return undefined;
  if (!removed.every((o) => o.spec?.defaultBackend === undefined)) return undefined;
  if (!st.frozen && !before.ingresses.every((o) => Object.isFrozen(o))) return undefined;

  const filter = new ClassFilter(options.ingressClass || DEFAULT_INGRESS_CLASS, input.ingressClasses);
  const idx = st.index ?? buildIndex(previous, before, filter);
  if (st.index === undefined && !countsMatch(previous, idx)) { states.delete(previous); return undefined; }
  // From here the index is being moved to the new state: the old one loses it.
  st.index = undefined;
  states.delete(previous);

  const touched = new Set<string>();
  const dirty = new Set<string>();
  // Changed Ingresses accepted now are processed even when they name no usable host (their conditions).
  const members = new Set<string>();
  for (const o of removed) {
    const key = keyOf(o);
    for (const h of idx.hostsOf.get(key) ?? []) { touched.add(h); idx.byHost.get(h)?.delete(key); }
    if (idx.ingresses.get(key) === o) { idx.ingresses.delete(key); idx.hostsOf.delete(key); }
    dirty.add(key);
  }
  for (const o of added) {
    const key = keyOf(o);
    dirty.add(key);
    if (!filter.accepts(o)) continue;
    const hosts = hostsOfIngress(o);
    members.add(key);
    idx.ingresses.set(key, o);
    idx.hostsOf.set(key, hosts);
    for (const h of hosts) {
      touched.add(h);
      let set = idx.byHost.get(h);
      if (set === undefined) idx.byHost.set(h, set = new Set());
      set.add(key);
    }
  }
  // The closure over shared hosts.
  const queue = [...touched];
  while (queue.length > 0) {
    for (const key of idx.byHost.get(queue.pop()!) ?? []) {
      if (members.has(key)) continue;
      members.add(key);
      if (members.size > limit || idx.ingresses.get(key)!.spec?.defaultBackend !== undefined) return undefined;
      for (const h of idx.hostsOf.get(key)!) if (!touched.has(h)) { touched.add(h); queue.push(h); }
    }
  }

  // The members, oldest first, against fresh claims (compile's loop, for them only).
  const claims = new Claims();
  const services = st.services.forBuild();
  const processor = new IngressProcessor(claims, services, st.secrets, options.defaultTimeoutMs, previous.virtualHosts);
  const conditions = new Map(st.conditions);
  for (const key of dirty) conditions.delete(`Ingress/${key}`);
  for (const ing of byAge([...members].map((k) => idx.ingresses.get(k)!))) {
    const status = new ObjectStatus();
    const key = `Ingress/${keyOf(ing)}`;
    try {
      processor.process(ing, status, key);
    } catch (err) {
      status.add('invalid', 'CompileFailed', `compiling this Ingress failed: ${(err as Error).message}`);
    }
    conditions.set(key, status.toConditions());
  }
  const out = claims.output(previous.virtualHosts);

  // The touched hosts replaced; uses of clusters and secrets counted over the change.
  const replaced = new Map<string, VirtualHost | undefined>();
  // The cluster and secret keys whose use count moved: only they can appear or go.
  const counted = { clusters: new Set<ClusterKey>(), secrets: new Set<SecretKey>() };
  for (const h of touched) {
    const old = Object.hasOwn(previous.virtualHosts, h) ? previous.virtualHosts[h] : undefined;
    const now = Object.hasOwn(out.virtualHosts, h) ? out.virtualHosts[h] : undefined;
    if (old === now) continue;
    replaced.set(h, now);
    count(old, -1, idx, counted);
    count(now, +1, idx, counted);
  }
  const resolved = services.clusters();
  const clusters = rebuilt(previous.clusters, idx.clusterRefs, counted.clusters, (k) => resolved.get(k));
  const secrets = rebuilt(previous.secrets, idx.secretRefs, counted.secrets, (k) => out.secrets[k], DEFAULT_SECRET);
  if (clusters === undefined || secrets === undefined) return undefined;
  const virtualHosts = replaced.size === 0 ? previous.virtualHosts : withHosts(previous.virtualHosts, replaced);

  let snapshot = previous;
  if (virtualHosts !== previous.virtualHosts || clusters !== previous.clusters || secrets !== previous.secrets) {
    const { version: _v, ...rest } = previous;
    const content: SnapshotContent = { ...rest, virtualHosts, clusters, secrets };
    snapshot = sealSnapshot(content);
    assertValidSnapshot(snapshot, previous);
  }
  incrementalBuilds++;
  // Every Ingress of `input` is frozen: the unchanged ones were, and `added` was checked.
  states.set(snapshot, { input, options, conditions, services: st.services, secrets: st.secrets, index: idx, frozen: true });
  // st.services shares its Services' resolutions with this build's index (forBuild).
  rememberIndex(snapshot, st.services);
  return { snapshot, conditions };
}

/**
 * The objects of `before` not in `after` (removed or replaced) and of `after`
 * not in `before`, by identity; undefined beyond `limit`. Lists in a stable
 * order (the cache sorts by key) differ in one stretch: skipping the equal
 * head and tail makes that a linear scan without any set. Anything else is
 * settled with sets.
 */
export function changedObjects<T>(before: readonly T[], after: readonly T[], limit: number): { added: T[]; removed: T[] } | undefined {
  let head = 0;
  const min = Math.min(before.length, after.length);
  while (head < min && before[head] === after[head]) head++;
  let tail = 0;
  while (tail < min - head && before[before.length - 1 - tail] === after[after.length - 1 - tail]) tail++;
  const removedSpan = before.slice(head, before.length - tail);
  const addedSpan = after.slice(head, after.length - tail);
  if (removedSpan.length + addedSpan.length <= 2 * limit) {
    // Within the stretch, an object may only have moved: keep what is on both sides out.
    const was = new Set(removedSpan);
    const is = new Set(addedSpan);
    const added = addedSpan.filter((o) => !was.has(o));
    const removed = removedSpan.filter((o) => !is.has(o));
    return added.length + removed.length > limit ? undefined : { added, removed };
  }
  const was = new Set(before);
  const is = new Set(after);
  const added = after.filter((o) => !was.has(o));
  const removed = before.filter((o) => !is.has(o));
  return added.length + removed.length > limit ? undefined : { added, removed };
}

/**
 * Moves what the host-scoped recompile knows of `previous` to `next`, a
 * build from `input` that changed EndpointSlices only (compile/endpoints.ts),
 * with `services` indexing them: hosts, claims, conditions and use counts are
 * the same, so the next Ingress change is still host-scoped. Nothing when
 * `previous` has no such state (Routes present, or not compiled here).
 */
export function carryOver(previous: Snapshot, next: Snapshot, input: CompileInput, services: ServiceIndex): void {
  const st = states.get(previous);
  if (st === undefined) return;
  states.delete(previous);
  states.set(next, { ...st, input, services });
}

function keyOf(o: KubeObject): string {
  return `${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;
}

/** Every host an Ingress names (rules and TLS), as claims.ts keys them; a superset is harmless. */
function hostsOfIngress(ing: Ingress): string[] {
  const hosts = new Set<string>();
  for (const rule of ing.spec?.rules ?? []) {
    const h = hostKey(rule.host);
    if (h.ok) hosts.add(h.value);
  }
  for (const t of ing.spec?.tls ?? []) {
    for (const raw of t.hosts ?? []) {
      const h = hostKey(raw);
      if (h.ok && h.value !== ANY_HOST) hosts.add(h.value);
    }
  }
  return [...hosts];
}

function sameFrozen<T extends object>(a: readonly T[], b: readonly T[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] || !Object.isFrozen(a[i])) return false;
  return true;
}

/** The index of the build that produced `previous` from `input`. */
function buildIndex(previous: Snapshot, input: CompileInput, filter: ClassFilter): Index {
  const idx: Index = { ingresses: new Map(), hostsOf: new Map(), byHost: new Map(), clusterRefs: new Map(), secretRefs: new Map() };
  for (const ing of input.ingresses) {
    if (!filter.accepts(ing)) continue;
    const key = keyOf(ing);
    const hosts = hostsOfIngress(ing);
    idx.ingresses.set(key, ing);
    idx.hostsOf.set(key, hosts);
    for (const h of hosts) {
      let set = idx.byHost.get(h);
      if (set === undefined) idx.byHost.set(h, set = new Set());
      set.add(key);
    }
  }
  for (const h of Object.keys(previous.virtualHosts)) count(previous.virtualHosts[h], +1, idx);
  return idx;
}

/** The counts name exactly the snapshot's clusters and secrets (else something unmodelled made them). */
function countsMatch(previous: Snapshot, idx: Index): boolean {
  const clusterKeys = Object.keys(previous.clusters);
  const secretKeys = Object.keys(previous.secrets).filter((k) => k !== DEFAULT_SECRET);
  return clusterKeys.length === idx.clusterRefs.size && clusterKeys.every((k) => idx.clusterRefs.has(k))
    && secretKeys.length === idx.secretRefs.size && secretKeys.every((k) => idx.secretRefs.has(k));
}

/**
 * Adds `by` to the use counts of what `vh` refers to: its routes' clusters,
 * its TLS secret; the keys counted are added to `counted` when given.
 */
function count(vh: VirtualHost | undefined, by: number, idx: Index, counted?: { clusters: Set<ClusterKey>; secrets: Set<SecretKey> }): void {
  if (vh === undefined) return;
  for (const key of Object.keys(vh.routes)) {
    const c = (vh.routes[key] as Route).cluster;
    if (c === undefined) continue;
    idx.clusterRefs.set(c, (idx.clusterRefs.get(c) ?? 0) + by);
    counted?.clusters.add(c);
  }
  const s = vh.tls?.secret;
  if (s !== undefined && s !== DEFAULT_SECRET) {
    idx.secretRefs.set(s, (idx.secretRefs.get(s) ?? 0) + by);
    counted?.secrets.add(s);
  }
}

/**
 * `map` with exactly the keys whose use count is positive (plus `always`),
 * looking at the keys `counted` (whose counts this build moved) only,
 * sorted as compile sorts them: the same object when the keys did not
 * change, new entries from `fresh`. Undefined when a new key has no entry
 * (never expected: a full compile then decides). A new map is recorded as a
 * copy of `map` with the keys added or removed (noteMapCopy), so sealing,
 * validating and hashing it look at those keys only.
 */
function rebuilt<T>(map: Readonly<Record<string, T>>, refs: Map<string, number>, counted: ReadonlySet<string>, fresh: (key: string) => T | undefined, always?: string): Record<string, T> | undefined {
  // Only the keys whose count moved: every other count is positive and its key in `map`.
  const written = new Set<string>();
  for (const k of counted) {
    const n = refs.get(k) ?? 0;
    if (n <= 0) { refs.delete(k); if (Object.hasOwn(map, k)) written.add(k); }
    else if (!Object.hasOwn(map, k)) written.add(k);
  }
  if (written.size === 0) return map as Record<string, T>;
  const keys = [...refs.keys()].sort();
  const out = dictionary<T>();
  if (always !== undefined) out[always] = map[always] as T;
  for (const k of keys) {
    const v = Object.hasOwn(map, k) ? map[k] : fresh(k);
    if (v === undefined) return undefined;
    out[k] = v;
  }
  noteMapCopy(out, map, written);
  return out;
}

/**
 * `hosts` with `replaced` applied (undefined deletes), in sorted key order,
 * recorded as a copy of `hosts` in which the replaced keys were written
 * (noteMapCopy): sealing, validating and hashing it look at those only.
 */
function withHosts(hosts: Readonly<Record<string, VirtualHost>>, replaced: ReadonlyMap<string, VirtualHost | undefined>): Record<string, VirtualHost> {
  const keysChange = [...replaced].some(([h, vh]) => (vh === undefined) === Object.hasOwn(hosts, h));
  // Copied key by key into a dictionary-mode object (maps.ts): a spread of a
  // 10k-key map measured twice as slow.
  const out = dictionary<VirtualHost>();
  // The previous map's key list (mapKeys: recorded when it was made here),
  // not Object.keys, which sorts a dictionary-mode map's 10k keys.
  const keys = mapKeys(hosts);
  let outKeys = keys;
  if (!keysChange) {
    for (let i = 0; i < keys.length; i++) out[keys[i]!] = hosts[keys[i]!]!;
    for (const [h, vh] of replaced) out[h] = vh!;
  } else {
    // The old keys are in order already: merge the few new ones in instead of
    // sorting 10k keys (a renamed host is the common case).
    const added = [...replaced.keys()].filter((h) => replaced.get(h) !== undefined && !Object.hasOwn(hosts, h)).sort();
    const merged: string[] = [];
    let a = 0;
    for (let i = 0; i <= keys.length; i++) {
      const h = keys[i];
      while (a < added.length && (h === undefined || added[a]! < h)) { merged.push(added[a]!); out[added[a]!] = replaced.get(added[a]!)!; a++; }
      if (h === undefined) break;
      if (!replaced.has(h)) { merged.push(h); out[h] = hosts[h]!; }
      else if (replaced.get(h) !== undefined) { merged.push(h); out[h] = replaced.get(h)!; }
    }
    outKeys = merged;
  }
  noteMapKeys(out, outKeys);
  noteMapCopy(out, hosts, new Set(replaced.keys()));
  return out;
}
