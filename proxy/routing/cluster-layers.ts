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
 * Endpoint references: each balancer holds its endpoints once per "unit"
 * (ClusterBalancer.retain/release; creating it takes the first). While the
 * base has a live layer, it holds one unit on each of its balancers that no
 * layer replaced. A key some layer replaced or removed is `detached`: its base
 * balancer's unit was traded for one unit per live layer still reading it,
 * and every later layer that still reads it takes one too. So a balancer is
 * released as soon as no live table reads it, as when every table held its
 * own units, at a cost proportional to the layer's changes.
 */
interface ClusterBase {
  readonly map: ReadonlyMap<ClusterKey, ClusterBalancer>;
  /** Layers over this base with a live table. */
  readonly layers: Set<ClusterLayer>;
  /** Keys of `map` some layer replaced or removed (at most MAX_LAYER_CHANGES per layer chain). */
  readonly detached: Set<ClusterKey>;
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

/** A layer with no changes over a new base whose units its balancers already hold. */
function baseLayer(map: ReadonlyMap<ClusterKey, ClusterBalancer>, endpoints: number, dns: readonly ClusterBalancer[]): ClusterLayer {
  const base: ClusterBase = { map, layers: new Set(), detached: new Set() };
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
      lent.retain(src.pools);
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
  changes.forEach((b, key) => { if (b !== null && next.get(key) !== b) b.retain(src.pools); });
  for (const key of base.detached) if (!changes.has(key)) base.map.get(key)!.retain(src.pools);
  // Base balancers replaced here for the first time: their base unit becomes
  // one unit per other live layer still reading them.
  for (const key of next.keys()) {
    const b = base.map.get(key);
    if (b === undefined || base.detached.has(key)) continue;
    for (const other of base.layers) if (!other.changes.has(key)) b.retain(src.pools);
    b.release(src.pools);
    base.detached.add(key);
  }
  const layer: ClusterLayer = { base, changes, holders: 1, size, endpoints, dns };
  base.layers.add(layer);
  return layer;
}

/** A new base from `from`'s base with `changes` applied; every balancer not just created takes the base's unit. */
function rebase(from: ClusterLayer, changes: ReadonlyMap<ClusterKey, ClusterBalancer | null>, fresh: ReadonlyMap<ClusterKey, ClusterBalancer | null>,
  endpoints: number, dns: readonly ClusterBalancer[], pools: UpstreamPools): ClusterLayer {
  const map = new Map<ClusterKey, ClusterBalancer>();
  from.base.map.forEach((b, key) => { if (!changes.has(key)) map.set(key, b); });
  changes.forEach((b, key) => { if (b !== null) map.set(key, b); });
  map.forEach((b, key) => { if (fresh.get(key) !== b) b.retain(pools); });
  return baseLayer(map, endpoints, dns);
}
