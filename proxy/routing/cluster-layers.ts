// The routing table's balancers for a clusters map, as layers (routing/table.ts
// reads them; docs/performance.md, "Endpoint-change deltas"). A full snapshot
// builds a base Map of balancers; a delta that wrote a few clusters (the most
// frequent change: EndpointSlice churn) gets a layer over the previous table's
// base changing only those keys, so its cost and the endpoint references it
// takes are proportional to the change, not to the 10k clusters. Every
// MAX_LAYER_CHANGES changes a new base is built.
import type { Cluster, ClusterKey } from '../../api/snapshot.ts';
import { DnsBalancer } from '../upstream/balancer.ts';
import type { ClusterBalancer } from '../upstream/balancer.ts';
import type { UpstreamPools } from '../upstream/pools.ts';

/** Where a layer's balancers come from: the table it is built from (lender), and new ones. */
export interface LayerSource {
  readonly pools: UpstreamPools;
  /** The lender's balancer for a key; undefined for none (or no lender). */
  lent(key: ClusterKey): ClusterBalancer | undefined;
  /** A new balancer for a cluster, holding its endpoints' first references. */
  make(key: ClusterKey, cluster: Cluster): ClusterBalancer;
}

/**
 * Changes a layer may carry over its base before the next delta builds a new
 * base: the rule of the snapshot's overlays (stream/overlay.ts MAX_CHANGES),
 * so a lookup costs at most one small Map more, and a base replaced many
 * times over is not kept alive for long.
 */
const MAX_LAYER_CHANGES = 64;

/**
 * A balancer Map built in full (a full snapshot, or every MAX_LAYER_CHANGES
 * changes) and the layers built over it since.
 *
 * Holders: each balancer counts its holders (ClusterBalancer.retain/release;
 * creating it takes the first). While the base has a live layer, it holds one
 * on each of its balancers that no layer replaced. A key some layer replaced
 * or removed is `detached`: its base balancer's hold was traded for one per
 * live layer still reading it, and every later layer that still reads it
 * takes one too. So a balancer is released as soon as no live table reads
 * it, as when every table held its own, at a cost proportional to the
 * layer's changes.
 *
 * The periodic new base (rebase) borrows instead of retaining: it shares all
 * but a few balancers with the base it was built from (its `lender`), whose
 * holds already keep those alive. While the lender lives, the new base holds
 * only the balancers in `own` (the ones the rebase changed, and any the
 * lender no longer holds); when the lender dies, its holds pass to the new
 * base (its `heir`) instead of being released, and when the heir dies first
 * it gives back only its own. Neither end walks the 10k balancers
 * (docs/performance.md, "Endpoint deltas at 10k: the periodic rebase"). A
 * base lends to one live heir at a time and a borrowing base lends to none;
 * otherwise the new base retains every balancer, as before.
 */
interface ClusterBase {
  readonly map: ReadonlyMap<ClusterKey, ClusterBalancer>;
  /** Layers over this base with a live table. */
  readonly layers: Set<ClusterLayer>;
  /** Keys of `map` some layer replaced or removed (at most MAX_LAYER_CHANGES per layer chain). */
  readonly detached: Set<ClusterKey>;
  /** The live base whose holds this one borrows (see above); undefined: it holds its own. */
  lender: ClusterBase | undefined;
  /** While borrowing: the keys of `map` this base holds itself. */
  own: Set<ClusterKey> | undefined;
  /** The live base borrowing this one's holds. */
  heir: ClusterBase | undefined;
  /** The next base's map, copied from `map` a slice per delta (see advancePending). */
  pending: PendingMap | undefined;
}

/** A copy of a base's map in the making: the entries taken so far, and where the walk is. */
interface PendingMap {
  readonly map: Map<ClusterKey, ClusterBalancer>;
  readonly entries: Iterator<[ClusterKey, ClusterBalancer]>;
  done: boolean;
}

/**
 * The balancers of one clusters map: its base's, except the keys in `changes`
 * (the balancer, or null for a removed cluster). Shared by every table built
 * from that very map; a delta's successor copies `changes` and sets the keys
 * the delta wrote. The layer holds one unit on each balancer in `changes` and
 * on each detached base balancer it reads (see ClusterBase).
 */
export interface ClusterLayer {
  readonly base: ClusterBase;
  readonly changes: ReadonlyMap<ClusterKey, ClusterBalancer | null>;
  /** Tables holding this layer; the last to close releases its units. */
  holders: number;
  /** Clusters it has (counts). */
  readonly size: number;
  /** Endpoints of its balancers that are not DNS-named (those change under it). */
  readonly endpoints: number;
  /** Its DNS-named balancers, counted when a table is built. */
  readonly dns: readonly ClusterBalancer[];
}

/** How a layer stands (tests): its changes, and whether its base borrows or lends holds. */
export function layerState(layer: ClusterLayer): { changes: number; borrowing: boolean; lending: boolean } {
  return { changes: layer.changes.size, borrowing: layer.base.lender !== undefined, lending: layer.base.heir !== undefined };
}

/** A layer with no changes over a new base holding (or, with `lender`, borrowing) its balancers. */
function baseLayer(map: ReadonlyMap<ClusterKey, ClusterBalancer>, endpoints: number, dns: readonly ClusterBalancer[],
  lender?: ClusterBase, own?: Set<ClusterKey>): ClusterLayer {
  const base: ClusterBase = { map, layers: new Set(), detached: new Set(), lender, own, heir: undefined, pending: undefined };
  if (lender !== undefined) lender.heir = base;
  const layer: ClusterLayer = { base, changes: new Map(), holders: 1, size: map.size, endpoints, dns };
  base.layers.add(layer);
  return layer;
}

/** Gives back a layer's units and, when it was its base's last layer, the base's. */
export function releaseLayer(layer: ClusterLayer, pools: UpstreamPools): void {
  const base = layer.base;
  layer.changes.forEach((b) => { if (b !== null) b.release(pools); });
  for (const key of base.detached) if (!layer.changes.has(key)) base.map.get(key)!.release(pools);
  base.layers.delete(layer);
  if (base.layers.size > 0) return;
  releaseBase(base, pools);
}

/** Whether `base` holds its balancer for `key` itself (else it borrows its lender's hold). */
function holdsOwn(base: ClusterBase, key: ClusterKey): boolean {
  return base.lender === undefined || base.own!.has(key);
}

/** A base whose last layer was released gives back its holds: to its heir when it has one, else to the pools. */
function releaseBase(base: ClusterBase, pools: UpstreamPools): void {
  base.pending = undefined;
  const lender = base.lender;
  if (lender !== undefined) {
    // Borrowing: only its own holds; the lender keeps the rest.
    for (const key of base.own!) if (!base.detached.has(key)) base.map.get(key)!.release(pools);
    lender.heir = undefined;
    base.lender = base.own = undefined;
    return;
  }
  const heir = base.heir;
  if (heir !== undefined) {
    // The heir borrows every balancer this base still holds, except those its
    // layers replaced since (detached there without its own hold): release those.
    for (const key of heir.detached) if (!heir.own!.has(key) && !base.detached.has(key)) base.map.get(key)!.release(pools);
    heir.lender = heir.own = undefined;
    base.heir = undefined;
    return;
  }
  // forEach, not for-of: this runs once per base, never optimised, and an
  // unoptimised for-of allocates an iterator result per entry (320 KB at 10k).
  base.map.forEach((b, key) => { if (!base.detached.has(key)) b.release(pools); });
}

/**
 * A new base of balancers for every cluster of the snapshot: the lent
 * balancer for each unchanged (frozen) cluster object, with one more unit,
 * a new one (src.make) for every other.
 */
export function fullLayer(clusters: Readonly<Record<ClusterKey, Cluster>>, lentClusters: Readonly<Record<ClusterKey, Cluster>> | undefined, src: LayerSource): ClusterLayer {
  const built = new Map<ClusterKey, ClusterBalancer>();
  const dns: ClusterBalancer[] = [];
  let endpoints = 0;
  for (const key of Object.keys(clusters)) {
    const cluster = clusters[key] as Cluster;
    const lent = lentClusters?.[key] === cluster && Object.isFrozen(cluster) ? src.lent(key) : undefined;
    let balancer: ClusterBalancer;
    if (lent !== undefined) {
      lent.retain();
      balancer = lent;
    } else balancer = src.make(key, cluster);
    built.set(key, balancer);
    if (balancer instanceof DnsBalancer) dns.push(balancer);
    else endpoints += balancer.endpoints.length;
  }
  return baseLayer(built, endpoints, dns);
}

/**
 * `lender`'s balancers with the `written` keys of the clusters map changed:
 * a layer over the lender's base, or a new base once the layer would carry
 * more than MAX_LAYER_CHANGES changes. Work and references taken are
 * proportional to the layer's changes, except when a new base is built.
 */
export function derivedLayer(from: ClusterLayer, prevClusters: Readonly<Record<ClusterKey, Cluster>>, clusters: Readonly<Record<ClusterKey, Cluster>>,
  written: ReadonlySet<ClusterKey>, src: LayerSource): ClusterLayer {
  // The changed keys: a new balancer (holding its first unit), or null for removed.
  const next = new Map<ClusterKey, ClusterBalancer | null>();
  let size = from.size;
  let endpoints = from.endpoints;
  let dnsChanged = false;
  for (const key of written) {
    const had = Object.hasOwn(prevClusters, key);
    const has = Object.hasOwn(clusters, key);
    const cluster = has ? clusters[key] as Cluster : undefined;
    // Written but the same object (a superset of the keys is recorded): the lender's balancer stays.
    if (had && cluster !== undefined && prevClusters[key] === cluster && Object.isFrozen(cluster)) continue;
    const old = had ? src.lent(key) : undefined;
    if (old !== undefined) {
      size--;
      if (old instanceof DnsBalancer) dnsChanged = true;
      else endpoints -= old.endpoints.length;
    }
    if (cluster === undefined) {
      if (old !== undefined) next.set(key, null);
      continue;
    }
    const balancer = src.make(key, cluster);
    next.set(key, balancer);
    size++;
    if (balancer instanceof DnsBalancer) dnsChanged = true;
    else endpoints += balancer.endpoints.length;
  }
  let dns = from.dns;
  if (dnsChanged) {
    const kept = dns.filter((b) => !next.has(b.key));
    for (const b of next.values()) if (b instanceof DnsBalancer) kept.push(b);
    dns = kept;
  }
  const base = from.base;
  const changes = new Map(from.changes);
  for (const [key, b] of next) {
    // A removed key the base never had needs no tombstone.
    if (b === null && !base.map.has(key)) changes.delete(key);
    else changes.set(key, b);
  }
  if (changes.size > MAX_LAYER_CHANGES) return rebase(from, changes, next, endpoints, dns, src.pools);

  // This layer's units: every balancer in its changes that it did not just
  // create, and every detached base balancer it still reads.
  changes.forEach((b, key) => { if (b !== null && next.get(key) !== b) b.retain(); });
  for (const key of base.detached) if (!changes.has(key)) base.map.get(key)!.retain();
  detach(base, next.keys(), src.pools);
  advancePending(base, changes.size);
  const layer: ClusterLayer = { base, changes, holders: 1, size, endpoints, dns };
  base.layers.add(layer);
  return layer;
}

/**
 * Base balancers replaced for the first time (by a layer over `base`, or by
 * the new base a rebase builds from it): their base hold becomes one per
 * live layer over `base` still reading them, and one for an heir that
 * borrowed it (now its own). A borrowed hold stays the lender's.
 */
function detach(base: ClusterBase, keys: Iterable<ClusterKey>, pools: UpstreamPools): void {
  const heir = base.heir;
  for (const key of keys) {
    const b = base.map.get(key);
    if (b === undefined || base.detached.has(key)) continue;
    for (const other of base.layers) if (!other.changes.has(key)) b.retain();
    if (heir !== undefined && heir.map.get(key) === b && !heir.own!.has(key) && !heir.detached.has(key)) {
      b.retain();
      heir.own!.add(key);
    }
    if (holdsOwn(base, key)) b.release(pools);
    base.detached.add(key);
  }
}

/** Changes a layer carries before its base starts copying its map for the next base. */
const PENDING_FROM = 8;

/**
 * Copies one more slice of `base`'s map into the next base's (PendingMap)
 * once a layer over it carries `carried` changes (all of it past MAX_LAYER_CHANGES),
 * so that the copy is done by the time a layer carries MAX_LAYER_CHANGES:
 * a 10k-entry Map copied at once costs 1.5–4.5 ms, once every 64 deltas.
 * The base's map never changes, so the copy stays exact; the rebase then
 * only applies the last layer's changes to it.
 */
function advancePending(base: ClusterBase, carried: number): void {
  const all = carried > MAX_LAYER_CHANGES;
  let p = base.pending;
  if (p === undefined) {
    if (carried < PENDING_FROM) return;
    p = base.pending = { map: new Map(), entries: base.map.entries(), done: false };
  }
  const slice = all ? Infinity : Math.ceil(base.map.size / (MAX_LAYER_CHANGES - PENDING_FROM));
  for (let n = 0; n < slice && !p.done; n++) {
    const r = p.entries.next();
    if (r.done === true) p.done = true;
    else p.map.set(r.value[0], r.value[1]);
  }
}

/**
 * A new base from `from`'s base with `changes` applied: its map from the
 * pending copy (advancePending), finished and taken here. It borrows the
 * base's holds when it may (see ClusterBase), holding only the changed
 * balancers and the detached ones it reads; else every balancer not just
 * created takes a hold for it.
 */
function rebase(from: ClusterLayer, changes: ReadonlyMap<ClusterKey, ClusterBalancer | null>, fresh: ReadonlyMap<ClusterKey, ClusterBalancer | null>,
  endpoints: number, dns: readonly ClusterBalancer[], pools: UpstreamPools): ClusterLayer {
  const base = from.base;
  advancePending(base, Infinity);
  const map = base.pending!.map;
  base.pending = undefined;
  changes.forEach((b, key) => { if (b === null) map.delete(key); else map.set(key, b); });
  // What this rebase replaced: no longer the base's to hold (so an heir
  // borrows exactly what its lender still holds).
  detach(base, fresh.keys(), pools);
  if (base.lender !== undefined || base.heir !== undefined) {
    map.forEach((b, key) => { if (fresh.get(key) !== b) b.retain(); });
    return baseLayer(map, endpoints, dns);
  }
  const own = new Set<ClusterKey>();
  changes.forEach((b, key) => {
    if (b === null) return;
    if (fresh.get(key) !== b) b.retain();
    own.add(key);
  });
  for (const key of base.detached) {
    if (changes.has(key)) continue;
    base.map.get(key)!.retain();
    own.add(key);
  }
  return baseLayer(map, endpoints, dns, base, own);
}
