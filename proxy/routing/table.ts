// The routing table: everything a request or a TLS handshake needs, built in
// one go from a snapshot and never changed afterwards (Skipper style). The
// applier swaps one reference to install a new table; a request pins the table
// it started with, so a swap never changes routing under a running request.
//
// A table also owns references on upstream endpoints (upstream/pools.ts) and
// counts its in-flight requests: once swapped out (retire()) and drained, it
// closes exactly once and releases its endpoints, so endpoints that no newer
// table uses get their connections closed. A long request keeps its (old)
// table and that table's pools alive until it ends; that is the price of never
// cutting it.
//
// Building is incremental: a snapshot that came from a delta shares every
// unchanged (deep-frozen) sub-object with the previous one (stream/delta.ts).
// A virtual host compiles to path matchers over its Route objects only, never
// to balancers (match() resolves the route's cluster through the table that is
// matching, one Map lookup per request), so a compiled host depends on its
// snapshot object alone and is cached by that object for every later table.
// Balancers are taken over from `previous` as a whole when the clusters map is
// the same object; when a delta wrote a few clusters (changedKeys) as a layer
// over the previous table's balancers changing only those (cluster-layers.ts: an
// endpoint change costs its clusters, not a walk of 10k); otherwise per
// unchanged cluster object into a new map. The host index and the SNI index
// are shared when the virtual hosts map is the same object (an endpoint-only
// change); when a few hosts changed it is the previous index patched with
// them (an overlay, hosts.ts; the changed hosts come from the delta,
// api/snapshot.ts changedKeys, or from comparing entries); otherwise it is
// rebuilt from the cached compiled hosts: O(hosts) map inserts, no parsing.
import { createHash } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { SecureContext } from 'node:tls';
import { ANY_HOST, changedKeys, isFrozenMap } from '../../api/snapshot.ts';
import type { Cluster, ClusterKey, Route, SecretKey, Snapshot, SnapshotCounts, TlsSecret, VirtualHost, WeightedBackend } from '../../api/snapshot.ts';
import { ApplyCode, ApplyError } from '../errors.ts';
import { ClusterBalancer, DnsBalancer } from '../upstream/balancer.ts';
import { DnsTargets } from '../upstream/dns.ts';
import { silentLogger } from '../../lib/log.ts';
import { UpstreamPools } from '../upstream/pools.ts';
import { derivedLayer, fullLayer, releaseLayer, type ClusterLayer, type LayerSource } from './cluster-layers.ts';
import { HostIndex, normalizeHost } from './hosts.ts';
import { PathMatcher, RoutePatternError } from './paths.ts';
import type { PathRoute } from './paths.ts';
import type { MatchRequest } from './match.ts';

/**
 * What a TLS server name leads to: a context to terminate with, or a split to
 * pass the encrypted stream to. One index for both, so the most specific host
 * wins whichever kind it is (an exact terminated host under a passthrough
 * wildcard is terminated).
 */
export type SniTarget =
  | { readonly context: SecureContext; readonly passthrough?: undefined }
  | { readonly context?: undefined; readonly passthrough: readonly WeightedBackend[] };

/** Where a matched request goes. */
export interface RouteTarget {
  /** The snapshot route (`defaultRoute` for the default backend). */
  readonly route: Route;
  /** Undefined when the route names no cluster: answer 503. */
  readonly cluster: ClusterBalancer | undefined;
  /** Upper bound on waiting for response headers. */
  readonly timeoutMs: number;
}

/** Object counts shown on the admin `/snapshot` page (api/snapshot.ts). */
export type TableCounts = SnapshotCounts;

/** Options of buildTable. */
export interface BuildOptions {
  /** The pool registry; defaults to the previous table's, else a new one. */
  readonly pools?: UpstreamPools;
  /** DNS-named clusters (over `pools`); defaults to the previous table's, else a new one with default TTL bounds. */
  readonly dns?: DnsTargets;
}

/** A certificate as a listener needs it for its default TLS context. */
export interface TlsCredentials {
  /** SHA-256 of cert and key: equal fingerprint means nothing to reload. */
  readonly fingerprint: string;
  readonly cert: string;
  readonly key: string;
}

/**
 * Builds the table for a validated, deep-frozen snapshot. `previous` lends
 * what can be reused: TLS contexts whose PEM is unchanged, the balancers of
 * the cluster objects it shares (with their round-robin cursors; a changed
 * cluster starts at the old cursor), its host index when the virtual hosts map
 * is shared, the pool registry. Throws ApplyError(TLS_SECRET_INVALID) when a
 * referenced secret does not load; on a throw no pool reference is left behind.
 */
export function buildTable(snapshot: Snapshot, previous?: RoutingTable, options: BuildOptions = {}): RoutingTable {
  return new RoutingTable(snapshot, previous, options);
}

/** A virtual host compiled for lookups. A function of the snapshot object alone. */
interface VirtualHostEntry {
  readonly paths: PathMatcher<Route>;
  /**
   * The route every request to the host gets (paths.constant), else
   * undefined. Read before `paths`: at 10k hosts a request's host is rarely
   * in the CPU caches, and each object of the matcher (maps, their tables,
   * candidate lists) was one more cache miss per request (docs/performance.md,
   * "Host-table scale").
   */
  readonly only: Route | undefined;
  /**
   * `only`'s cluster key as the string V8 interned for it (the clusters map's
   * keys are interned too): the lookup then compares pointers instead of
   * reading a string of its own per host.
   */
  readonly onlyCluster: ClusterKey | undefined;
  /** Number of routes in the snapshot's host (counts). */
  readonly routes: number;
}

// Compiled hosts by (frozen, so unchanging) snapshot host object, for every table.
const compiledHosts = new WeakMap<VirtualHost, VirtualHostEntry>();

/**
 * Throws ApplyError(SNAPSHOT_INVALID) naming the route when one of its
 * patterns is refused (match.ts compileRegex) or it uses an unserved feature.
 */
function compileHost(vh: VirtualHost): VirtualHostEntry {
  const hit = compiledHosts.get(vh);
  if (hit !== undefined) return hit;
  const keys = Object.keys(vh.routes);
  const list: Array<PathRoute<Route>> = [];
  for (const key of keys) {
    const route = vh.routes[key] as Route;
    const m = route.match;
    list.push({ type: m.type, path: m.path, headers: m.headers, queryParams: m.queryParams, method: m.method, rank: route.rank, key, value: route });
  }
  let paths: PathMatcher<Route>;
  try {
    paths = new PathMatcher(list);
  } catch (err) {
    if (!(err instanceof RoutePatternError)) throw err;
    const origin = Object.hasOwn(vh.routes, err.key) ? ` of ${(vh.routes[err.key] as Route).origin}` : '';
    throw new ApplyError(ApplyCode.SNAPSHOT_INVALID, `route ${JSON.stringify(err.key)}${origin}: ${err.reason}`);
  }
  const only = paths.constant;
  const entry = { paths, only, onlyCluster: only?.cluster === undefined ? undefined : interned(only.cluster), routes: keys.length };
  if (Object.isFrozen(vh)) compiledHosts.set(vh, entry);
  return entry;
}

/** The interned copy of `s` (a property key is interned): equal keys are then one string. */
function interned(s: string): string {
  return Object.keys({ [s]: 0 })[0] as string;
}

/** What a table derives from the virtual hosts map alone; shared while that map is the same object. */
interface HostTables {
  readonly hosts: HostIndex<VirtualHostEntry>;
  readonly anyHost: VirtualHostEntry | undefined;
  readonly count: number;
  readonly routes: number;
}

/** See the top of this file. Construct with buildTable(). */
export class RoutingTable {
  readonly version: string;
  /** The snapshot this table was built from (the applier's delta base). */
  readonly snapshot: Snapshot;
  readonly pools: UpstreamPools;
  /** The DNS-named clusters' resolver state, shared like `pools`. */
  readonly dns: DnsTargets;
  readonly counts: TableCounts;
  readonly #hosts: HostTables;
  readonly #defaultRoute: RouteTarget | undefined;
  /** This table's balancers (see ClusterLayer); shared with the tables of the same clusters map. */
  readonly #layer: ClusterLayer;
  /** #layer's base map and its changes (undefined when none), read per request by cluster(). */
  readonly #base: ReadonlyMap<ClusterKey, ClusterBalancer>;
  readonly #changes: ReadonlyMap<ClusterKey, ClusterBalancer | null> | undefined;
  readonly #tlsHosts: HostIndex<SniTarget>;
  /** Contexts by PEM fingerprint, lent to the next table. */
  readonly #contexts = new Map<string, SecureContext>();
  readonly #fingerprints = new Map<SecretKey, string>();
  /** First lookups of the DNS-named clusters this table started resolving. */
  readonly #dnsFirst: Array<Promise<void>> = [];
  #inflight = 0;
  #retired = false;
  #closed = false;

  constructor(snapshot: Snapshot, previous: RoutingTable | undefined, options: BuildOptions) {
    this.version = snapshot.version;
    this.snapshot = snapshot;
    this.pools = options.pools ?? previous?.pools ?? new UpstreamPools();
    this.dns = options.dns ?? (previous?.pools === this.pools ? previous.dns : undefined) ?? new DnsTargets(this.pools, silentLogger);
    const vhosts = snapshot.virtualHosts;
    // Object.keys and an index, not Object.entries: at 10k keys the pair
    // arrays cost more than the rest of a delta's build. Only when needed: a
    // delta names its changed hosts (changedKeys), and Object.keys of a
    // 10k-key map is a sort by insertion order.
    let keys: string[] | undefined;
    const hostKeys = () => (keys ??= Object.keys(vhosts));

    // A delta that replaced a few hosts of a large map: patch the previous
    // table's indexes with those hosts instead of indexing every host again.
    const sameHosts = previous !== undefined && previous.snapshot.virtualHosts === vhosts && isFrozenMap(vhosts);
    const changed = previous === undefined || sameHosts ? undefined : changedHosts(previous.snapshot.virtualHosts, previous.#hosts.count, vhosts, hostKeys);

    // TLS first: it is the only step that can fail, and it takes no pool references.
    const sameSecrets = previous !== undefined && previous.snapshot.secrets === snapshot.secrets && isFrozenMap(snapshot.secrets);
    if ((sameHosts || changed !== undefined) && sameSecrets) {
      // The same secrets: the same contexts and fingerprints; the same SNI
      // index for the same hosts (an endpoint change), else the previous one
      // with only the changed hosts' entries.
      for (const [fp, ctx] of previous!.#contexts) this.#contexts.set(fp, ctx);
      for (const [key, fp] of previous!.#fingerprints) this.#fingerprints.set(key, fp);
      if (changed === undefined) this.#tlsHosts = previous!.#tlsHosts;
      else {
        const sni = new Map<string, SniTarget | undefined>();
        for (const [host, vh] of changed.hosts) sni.set(host, vh === undefined ? undefined : this.#sniTarget(host, vh, previous));
        this.#tlsHosts = previous!.#tlsHosts.patched(sni);
      }
    } else {
      const tlsEntries: Array<[string, SniTarget]> = [];
      for (const host of hostKeys()) {
        const target = this.#sniTarget(host, vhosts[host] as VirtualHost, previous);
        if (target !== undefined) tlsEntries.push([host, target]);
      }
      this.#tlsHosts = new HostIndex(tlsEntries);
    }
    for (const [name, l] of Object.entries(snapshot.listeners)) {
      if (l.protocol === 'https' && l.defaultSecret !== undefined) this.#context(l.defaultSecret, `listener ${JSON.stringify(name)}`, previous);
    }

    // Host tables depend on the virtual hosts map only: share them while it is
    // the same (frozen) object, whatever happened to clusters; patch them for
    // a few changed hosts. Built before any endpoint is retained, since
    // compiling a host can refuse the snapshot.
    this.#hosts = sameHosts ? previous!.#hosts
      : changed !== undefined ? patchHostTables(previous!.#hosts, changed.hosts, previous!.snapshot.virtualHosts, changed.count)
      : hostTables(vhosts, hostKeys());

    // Balancers are lent only by a table that still holds its endpoint
    // references (not closed) in the same registry: then every endpoint of a
    // lent balancer is live and one more reference keeps it so.
    const lender = previous !== undefined && !previous.#closed && previous.pools === this.pools ? previous : undefined;
    const clusters = snapshot.clusters;
    if (lender !== undefined && lender.snapshot.clusters === clusters && isFrozenMap(clusters)) {
      // The same clusters map (a delta that touched no cluster): the same
      // balancers, so share the layer itself. Its endpoint references are the
      // layer's, taken once by its first table and released by its last: no
      // call per endpoint per table. isFrozenMap: the map may be a delta's
      // overlay (stream/overlay.ts), read-only without Object.freeze.
      this.#layer = lender.#layer;
      this.#layer.holders++;
    } else {
      // A delta's copy of the lender's map names the few keys it wrote
      // (changedKeys): a layer over the lender's balancers changing only those.
      const written = lender === undefined ? undefined : changedKeys(clusters, lender.snapshot.clusters);
      this.#layer = written !== undefined
        ? derivedLayer(lender!.#layer, lender!.snapshot.clusters, clusters, written, this.#source(lender!, lender))
        : fullLayer(clusters, lender?.snapshot.clusters, this.#source(lender, previous));
    }
    this.#base = this.#layer.base.map;
    this.#changes = this.#layer.changes.size === 0 ? undefined : this.#layer.changes;
    let endpoints = this.#layer.endpoints;
    for (const b of this.#layer.dns) endpoints += b.endpoints.length;

    const dr = snapshot.defaultRoute;
    this.#defaultRoute = dr === undefined ? undefined : this.#target(dr);
    // What snapshotCounts() would count, from what was just walked.
    this.counts = {
      listeners: Object.keys(snapshot.listeners).length,
      virtualHosts: this.#hosts.count,
      routes: this.#hosts.routes,
      clusters: this.#layer.size,
      endpoints,
      secrets: Object.keys(snapshot.secrets).length,
    };
  }

  /** Where a new layer gets its balancers: `lender`'s, and new ones with cursors from `previous`. */
  #source(lender: RoutingTable | undefined, previous: RoutingTable | undefined): LayerSource {
    return { pools: this.pools, lent: (key) => lender?.cluster(key), make: (key, cluster) => this.#newBalancer(key, cluster, previous) };
  }

  /** A balancer taking its endpoints' first references, its cursor carried over from `previous`'s entry. */
  #newBalancer(key: ClusterKey, cluster: Cluster, previous: RoutingTable | undefined): ClusterBalancer {
    const start = previous?.cluster(key)?.cursor ?? 0;
    if (cluster.dns !== undefined) {
      const target = this.dns.acquire(cluster.dns.name, cluster.dns.port);
      this.#dnsFirst.push(target.first);
      return new DnsBalancer(key, target, start);
    }
    const eps = Object.values(cluster.endpoints).map((ep) => this.pools.acquire(ep.address, ep.port, cluster.protocol));
    return new ClusterBalancer(key, eps, start);
  }

  /**
   * What an SNI name of `host` leads to: a passthrough split, a context
   * (loaded here, which may refuse the snapshot; also for ANY_HOST, which
   * has no SNI entry), or nothing.
   */
  #sniTarget(host: string, vh: VirtualHost, previous: RoutingTable | undefined): SniTarget | undefined {
    // validate.ts refuses a host with both; the later one would win, as in the index it replaces.
    let target: SniTarget | undefined = vh.passthrough !== undefined ? { passthrough: vh.passthrough.backends } : undefined;
    if (vh.tls !== undefined) {
      const context = this.#context(vh.tls.secret, `virtual host ${JSON.stringify(host)}`, previous);
      if (host !== ANY_HOST) target = { context };
    }
    return target;
  }

  /** A route and its cluster as resolved in this table. */
  #target(route: Route): RouteTarget {
    return {
      route,
      cluster: route.cluster === undefined ? undefined : this.cluster(route.cluster),
      timeoutMs: route.timeoutMs,
    };
  }

  /** The secret under a key; own keys only ("toString" names no secret, whatever validation let through). */
  #secret(secretKey: SecretKey): TlsSecret | undefined {
    const secrets = this.snapshot.secrets;
    return Object.hasOwn(secrets, secretKey) ? secrets[secretKey] : undefined;
  }

  #context(secretKey: SecretKey, usedBy: string, previous: RoutingTable | undefined): SecureContext {
    const secret = this.#secret(secretKey);
    if (secret === undefined) {
      // validate.ts guarantees references resolve; keep the message useful anyway.
      throw new ApplyError(ApplyCode.TLS_SECRET_INVALID, `secret ${JSON.stringify(secretKey)} used by ${usedBy} does not exist`);
    }
    const fp = fingerprintOf(secret);
    this.#fingerprints.set(secretKey, fp);
    let ctx = this.#contexts.get(fp) ?? (previous === undefined ? undefined : previous.#contexts.get(fp));
    if (ctx === undefined) {
      try {
        ctx = createSecureContext({ cert: secret.cert, key: secret.key });
      } catch (err) {
        // OpenSSL's message names the failing routine ("no start line", "key
        // values mismatch"), never the PEM; still bound its length.
        const why = err instanceof Error ? err.message.slice(0, 200) : 'unknown error';
        throw new ApplyError(ApplyCode.TLS_SECRET_INVALID, `secret ${JSON.stringify(secretKey)} used by ${usedBy} is not a valid certificate and key: ${why}`);
      }
    }
    this.#contexts.set(fp, ctx);
    return ctx;
  }

  /**
   * Routes a request: host (exact, then one-label wildcard, then ANY_HOST; a
   * matched host never falls through to ANY_HOST), then the host's routes
   * (Exact, regular expressions, then the longest Prefix; among equal paths
   * the most header, query and method conditions, then rank: paths.ts
   * PathMatcher), then the default backend. Undefined means 404. `path` must
   * already be normalised (paths.ts parseRequestTarget). Without `request`
   * (method, headers, raw query) every route with conditions is skipped.
   */
  match(hostHeader: string | undefined, path: string, request?: MatchRequest): RouteTarget | undefined {
    const vh = this.#hosts.hosts.lookup(normalizeHost(hostHeader)) ?? this.#hosts.anyHost;
    if (vh === undefined) return this.#defaultRoute;
    const only = vh.only;
    if (only !== undefined) {
      return { route: only, cluster: vh.onlyCluster === undefined ? undefined : this.cluster(vh.onlyCluster), timeoutMs: only.timeoutMs };
    }
    const route = vh.paths.match(path, request);
    // Resolved here, not when compiling, so compiled hosts never go stale
    // when only their clusters change.
    return route === undefined ? this.#defaultRoute : this.#target(route);
  }

  /** The compiled paths a Host header is routed through, undefined for none (tests). */
  pathsFor(hostHeader: string | undefined): PathMatcher<Route> | undefined {
    return (this.#hosts.hosts.lookup(normalizeHost(hostHeader)) ?? this.#hosts.anyHost)?.paths;
  }

  /**
   * The balancer of a cluster key, undefined for none: the layer's change if
   * it has one (null: removed), else the base's. Per request (match()): two
   * Map lookups while the layer has changes, one otherwise.
   */
  cluster(key: ClusterKey): ClusterBalancer | undefined {
    const changes = this.#changes;
    if (changes !== undefined) {
      const b = changes.get(key);
      if (b !== undefined) return b ?? undefined;
    }
    return this.#base.get(key);
  }

  /**
   * The context for an SNI name: exact host, then one-label wildcard, among
   * virtual hosts with TLS. Undefined means "the listener's default secret",
   * which the listener holds as its server-wide context (listeners.ts).
   */
  secureContextFor(serverName: string): SecureContext | undefined {
    return this.#tlsHosts.lookup(normalizeHost(serverName))?.context;
  }

  /**
   * The split a TLS connection naming `serverName` is passed through to,
   * undefined when it is terminated here (passthrough.ts). Same lookup as
   * secureContextFor, on the same index.
   */
  passthroughFor(serverName: string): readonly WeightedBackend[] | undefined {
    return this.#tlsHosts.lookup(normalizeHost(serverName))?.passthrough;
  }

  /** PEM and fingerprint of a secret, for a listener's default context. */
  credentials(secretKey: SecretKey): TlsCredentials | undefined {
    const secret = this.#secret(secretKey);
    if (secret === undefined) return undefined;
    const fp = this.#fingerprints.get(secretKey) ?? fingerprintOf(secret);
    return { fingerprint: fp, cert: secret.cert, key: secret.key };
  }

  /**
   * Resolves once every DNS-named cluster new in this table had its first
   * lookup, or after `timeoutMs`: swapped in before, its requests would be
   * 503s for a moment.
   */
  async dnsReady(timeoutMs: number): Promise<void> {
    if (this.#dnsFirst.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.#dnsFirst), new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  /** This table's balancers as a layer (tests: cluster-layers.ts layerState). */
  get clusterLayer(): ClusterLayer {
    return this.#layer;
  }

  /** Requests currently pinned to this table. */
  get inflight(): number {
    return this.#inflight;
  }

  /** True once retired and drained: its pool references are released. */
  get closed(): boolean {
    return this.#closed;
  }

  /** A request pinned this table; pair with exactly one leave(). */
  enter(): void {
    this.#inflight++;
  }

  /** A request pinned to this table ended. */
  leave(): void {
    if (--this.#inflight === 0 && this.#retired) this.#close();
  }

  /**
   * This table will get no new requests (it was swapped out, or built and then
   * refused). It closes now if idle, else when its last request leaves.
   */
  retire(): void {
    if (this.#retired) return;
    this.#retired = true;
    if (this.#inflight === 0) this.#close();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // The layer's references, given back by the last table holding it.
    if (--this.#layer.holders > 0) return;
    releaseLayer(this.#layer, this.pools);
  }
}

/** Beyond this share of changed hosts, indexing every host again is as cheap as patching. */
const PATCH_SHARE = 0.125;

/**
 * The hosts of `next` that are not the very (frozen) object of `prev`, with
 * their new value (undefined: removed), and how many hosts `next` has;
 * undefined when the maps are not both frozen or too much changed. From the
 * keys a delta wrote when `next` is its copy of `prev`, else by comparing all.
 */
function changedHosts(
  prev: Snapshot['virtualHosts'], prevCount: number, next: Snapshot['virtualHosts'], nextKeys: () => readonly string[],
): { hosts: Map<string, VirtualHost | undefined>; count: number } | undefined {
  // isFrozenMap: a delta's overlay (stream/overlay.ts) is read-only without Object.freeze.
  if (!isFrozenMap(prev) || !isFrozenMap(next)) return undefined;
  const written = changedKeys(next, prev);
  if (written !== undefined) {
    if (written.size > Math.max(8, prevCount * PATCH_SHARE)) return undefined;
    const hosts = new Map<string, VirtualHost | undefined>();
    let count = prevCount;
    for (const host of written) {
      const had = Object.hasOwn(prev, host);
      const has = Object.hasOwn(next, host);
      count += (has ? 1 : 0) - (had ? 1 : 0);
      if (has && !(had && prev[host] === next[host])) hosts.set(host, next[host]);
      else if (!has && had) hosts.set(host, undefined);
    }
    return { hosts, count };
  }
  const keys = nextKeys();
  const limit = Math.max(8, Math.floor(keys.length * PATCH_SHARE));
  const out = new Map<string, VirtualHost | undefined>();
  let kept = 0;
  for (const host of keys) {
    const vh = next[host] as VirtualHost;
    if (Object.hasOwn(prev, host) && prev[host] === vh) { kept++; continue; }
    out.set(host, vh);
    if (out.size > limit) return undefined;
  }
  // Fewer kept than prev has: the rest were removed.
  if (kept + out.size - countNew(out, prev) < prevCount) {
    for (const host of Object.keys(prev)) if (!Object.hasOwn(next, host)) out.set(host, undefined);
    if (out.size > limit) return undefined;
  }
  return { hosts: out, count: keys.length };
}

/** How many of `changed`'s hosts are not in `prev` at all. */
function countNew(changed: ReadonlyMap<string, unknown>, prev: Snapshot['virtualHosts']): number {
  let n = 0;
  for (const host of changed.keys()) if (!Object.hasOwn(prev, host)) n++;
  return n;
}

/** `tables` with the changed hosts compiled (cached) and replaced: the same result as hostTables on the new map. */
function patchHostTables(tables: HostTables, changed: ReadonlyMap<string, VirtualHost | undefined>, prev: Snapshot['virtualHosts'], count: number): HostTables {
  const entries = new Map<string, VirtualHostEntry | undefined>();
  let routes = tables.routes;
  let anyHost = tables.anyHost;
  for (const [host, vh] of changed) {
    const entry = vh === undefined ? undefined : compileHost(vh);
    if (Object.hasOwn(prev, host)) routes -= compileHost(prev[host] as VirtualHost).routes;
    if (entry !== undefined) routes += entry.routes;
    if (host === ANY_HOST) anyHost = entry;
    else entries.set(host, entry);
  }
  return { hosts: tables.hosts.patched(entries), anyHost, count, routes };
}

/** The host index of a virtual hosts map, from cached compiled hosts. */
function hostTables(vhosts: Snapshot['virtualHosts'], hostKeys: readonly string[]): HostTables {
  const entries: Array<[string, VirtualHostEntry]> = [];
  let anyHost: VirtualHostEntry | undefined;
  let routes = 0;
  for (const host of hostKeys) {
    const entry = compileHost(vhosts[host] as VirtualHost);
    routes += entry.routes;
    if (host === ANY_HOST) anyHost = entry;
    else entries.push([host, entry]);
  }
  return { hosts: new HostIndex(entries), anyHost, count: hostKeys.length, routes };
}

// Fingerprints of frozen secrets, by object: an unchanged secret shared with
// the previous snapshot is not hashed again (with thousands of TLS secrets the
// PEM hashing would otherwise be the bulk of a build).
const fingerprints = new WeakMap<TlsSecret, string>();

function fingerprintOf(secret: TlsSecret): string {
  const hit = fingerprints.get(secret);
  if (hit !== undefined) return hit;
  const fp = fingerprint(secret.cert, secret.key);
  if (Object.isFrozen(secret)) fingerprints.set(secret, fp);
  return fp;
}

/** Content hash of a cert/key pair: the cache key for TLS contexts. */
export function fingerprint(cert: string, key: string): string {
  return createHash('sha256').update(cert).update('\0').update(key).digest('hex');
}
