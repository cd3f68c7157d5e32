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
// unchanged (deep-frozen) sub-object with the previous one (stream/delta.ts),
// so a table reuses from `previous` the balancer of every cluster object it
// still has (same object, `===`) and the compiled paths of every virtual host
// object it still has, unless one of the clusters that host's routes name got
// a new balancer: compiled routes point at balancers, so such a host is
// recompiled. What remains O(size) per build is cheap map work (host index,
// reference counts), not parsing or allocation per route.
import { createHash } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { SecureContext } from 'node:tls';
import { ANY_HOST } from '../../api/snapshot.ts';
import type { Cluster, ClusterKey, Route, SecretKey, Snapshot, SnapshotCounts, TlsSecret, VirtualHost } from '../../api/snapshot.ts';
import { ApplyCode, ApplyError } from '../errors.ts';
import { ClusterBalancer } from '../upstream/balancer.ts';
import { UpstreamPools } from '../upstream/pools.ts';
import { HostIndex, normalizeHost } from './hosts.ts';
import { PathMatcher } from './paths.ts';

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
 * cluster objects it shares (with their round-robin cursors; a changed cluster
 * starts at the old cursor), compiled virtual hosts, the pool registry. Throws ApplyError(TLS_SECRET_INVALID) when a referenced secret does
 * not load; on a throw no pool reference is left behind.
 */
export function buildTable(snapshot: Snapshot, previous?: RoutingTable, options: BuildOptions = {}): RoutingTable {
  return new RoutingTable(snapshot, previous, options);
}

/** A virtual host compiled for lookups; reused by later tables while still right. */
interface VirtualHostEntry {
  readonly paths: PathMatcher<RouteTarget>;
  /** The cluster keys its routes name, each once, and the balancer each resolved to. */
  readonly clusterKeys: readonly ClusterKey[];
  readonly balancers: ReadonlyArray<ClusterBalancer | undefined>;
  /** Number of routes in the snapshot's host (counts). */
  readonly routes: number;
  /**
   * The newest balancer map the entry was checked against. Tables share one
   * balancer map while the snapshot's clusters map is the same object, so
   * this makes the check O(1) per host on route-only changes. Only builds
   * read it; routing never does, so updating it cannot affect a serving table.
   */
  checkedAgainst: ReadonlyMap<ClusterKey, ClusterBalancer>;
}

/** See the top of this file. Construct with buildTable(). */
export class RoutingTable {
  readonly version: string;
  /** The snapshot this table was built from (the applier's delta base). */
  readonly snapshot: Snapshot;
  readonly pools: UpstreamPools;
  readonly counts: TableCounts;
  readonly #hosts: HostIndex<VirtualHostEntry>;
  readonly #anyHost: VirtualHostEntry | undefined;
  readonly #defaultRoute: RouteTarget | undefined;
  /** Balancers by cluster key; never changed after the constructor, so a successor may share it. */
  readonly #clusters: ReadonlyMap<ClusterKey, ClusterBalancer>;
  readonly #tlsHosts: HostIndex<SecureContext>;
  /** Contexts by PEM fingerprint, lent to the next table. */
  readonly #contexts = new Map<string, SecureContext>();
  readonly #fingerprints = new Map<SecretKey, string>();
  /**
   * Compiled hosts by snapshot host object, shared by a table and its
   * successors (only frozen hosts are entered: their content cannot change).
   */
  readonly #compiled: WeakMap<VirtualHost, VirtualHostEntry>;
  #inflight = 0;
  #retired = false;
  #closed = false;

  constructor(snapshot: Snapshot, previous: RoutingTable | undefined, options: BuildOptions) {
    this.version = snapshot.version;
    this.snapshot = snapshot;
    this.pools = options.pools ?? previous?.pools ?? new UpstreamPools();
    this.#compiled = previous === undefined ? new WeakMap() : previous.#compiled;

    // TLS first: it is the only step that can fail, and it takes no pool references.
    // Object.keys and an index, not Object.entries: at 10k keys the pair
    // arrays cost more than the rest of a delta's build.
    const vhosts = snapshot.virtualHosts;
    const hostKeys = Object.keys(vhosts);
    const tlsEntries: Array<[string, SecureContext]> = [];
    for (const host of hostKeys) {
      const vh = vhosts[host] as VirtualHost;
      if (vh.tls === undefined) continue;
      const ctx = this.#context(vh.tls.secret, `virtual host ${JSON.stringify(host)}`, previous);
      if (host !== ANY_HOST) tlsEntries.push([host, ctx]);
    }
    for (const [name, l] of Object.entries(snapshot.listeners)) {
      if (l.protocol === 'https' && l.defaultSecret !== undefined) this.#context(l.defaultSecret, `listener ${JSON.stringify(name)}`, previous);
    }
    this.#tlsHosts = new HostIndex(tlsEntries);

    // Balancers are lent only by a table that still holds its endpoint
    // references (not closed) in the same registry: then every endpoint of a
    // lent balancer is live and one more reference keeps it so.
    const lender = previous !== undefined && !previous.#closed && previous.pools === this.pools ? previous : undefined;
    let endpoints = 0;
    const clusters = snapshot.clusters;
    if (lender !== undefined && lender.snapshot.clusters === clusters && Object.isFrozen(clusters)) {
      // The same clusters map (a delta that touched no cluster): the same
      // balancers, so share the map itself; one more reference per endpoint.
      this.#clusters = lender.#clusters;
      for (const balancer of this.#clusters.values()) {
        for (const ep of balancer.endpoints) this.pools.retain(ep);
        endpoints += balancer.endpoints.length;
      }
    } else {
      const built = new Map<ClusterKey, ClusterBalancer>();
      for (const key of Object.keys(clusters)) {
        const cluster = clusters[key] as Cluster;
        const lent = lender === undefined ? undefined : lender.#clusters.get(key);
        let balancer: ClusterBalancer;
        if (lent !== undefined && lender?.snapshot.clusters[key] === cluster && Object.isFrozen(cluster)) {
          for (const ep of lent.endpoints) this.pools.retain(ep);
          balancer = lent;
        } else {
          const eps = Object.values(cluster.endpoints).map((ep) => this.pools.acquire(ep.address, ep.port));
          balancer = new ClusterBalancer(key, eps, previous?.cluster(key)?.cursor ?? 0);
        }
        built.set(key, balancer);
        endpoints += balancer.endpoints.length;
      }
      this.#clusters = built;
    }

    const hostEntries: Array<[string, VirtualHostEntry]> = [];
    let anyHost: VirtualHostEntry | undefined;
    let routes = 0;
    for (const host of hostKeys) {
      const vh = vhosts[host] as VirtualHost;
      let entry = this.#compiled.get(vh);
      if (entry === undefined || !this.#stillValid(entry)) {
        entry = this.#compile(vh);
        if (Object.isFrozen(vh)) this.#compiled.set(vh, entry);
      }
      routes += entry.routes;
      if (host === ANY_HOST) anyHost = entry;
      else hostEntries.push([host, entry]);
    }
    this.#hosts = new HostIndex(hostEntries);
    this.#anyHost = anyHost;
    const dr = snapshot.defaultRoute;
    this.#defaultRoute = dr === undefined ? undefined : this.#target(dr);
    // What snapshotCounts() would count, from what was just walked.
    this.counts = {
      listeners: Object.keys(snapshot.listeners).length,
      virtualHosts: hostEntries.length + (anyHost === undefined ? 0 : 1),
      routes,
      clusters: this.#clusters.size,
      endpoints,
      secrets: Object.keys(snapshot.secrets).length,
    };
  }

  /** Whether a compiled host still resolves every cluster it names to this table's balancer. */
  #stillValid(entry: VirtualHostEntry): boolean {
    if (entry.checkedAgainst === this.#clusters) return true;
    for (let i = 0; i < entry.clusterKeys.length; i++) {
      if (this.#clusters.get(entry.clusterKeys[i] as ClusterKey) !== entry.balancers[i]) return false;
    }
    entry.checkedAgainst = this.#clusters;
    return true;
  }

  #target(route: Route): RouteTarget {
    return {
      route,
      cluster: route.cluster === undefined ? undefined : this.#clusters.get(route.cluster),
      timeoutMs: route.timeoutMs,
    };
  }

  #compile(vh: VirtualHost): VirtualHostEntry {
    const list = Object.values(vh.routes);
    const used = new Map<ClusterKey, ClusterBalancer | undefined>();
    const paths = new PathMatcher(list.map((route) => {
      const target = this.#target(route);
      if (route.cluster !== undefined) used.set(route.cluster, target.cluster);
      return { type: route.match.type, path: route.match.path, value: target };
    }));
    return { paths, clusterKeys: [...used.keys()], balancers: [...used.values()], routes: list.length, checkedAgainst: this.#clusters };
  }

  #context(secretKey: SecretKey, usedBy: string, previous: RoutingTable | undefined): SecureContext {
    const secret = this.snapshot.secrets[secretKey];
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
   * matched host never falls through to ANY_HOST), then path (Exact, then the
   * longest Prefix), then the default backend. Undefined means 404. `path`
   * must already be normalised (paths.ts parseRequestTarget).
   */
  match(hostHeader: string | undefined, path: string): RouteTarget | undefined {
    const vh = this.#hosts.lookup(normalizeHost(hostHeader)) ?? this.#anyHost;
    return vh?.paths.match(path) ?? this.#defaultRoute;
  }

  /** The cluster entry for a key (tests, admin). */
  cluster(key: ClusterKey): ClusterBalancer | undefined {
    return this.#clusters.get(key);
  }

  /**
   * The context for an SNI name: exact host, then one-label wildcard, among
   * virtual hosts with TLS. Undefined means "the listener's default secret",
   * which the listener holds as its server-wide context (listeners.ts).
   */
  secureContextFor(serverName: string): SecureContext | undefined {
    return this.#tlsHosts.lookup(normalizeHost(serverName));
  }

  /** PEM and fingerprint of a secret, for a listener's default context. */
  credentials(secretKey: SecretKey): TlsCredentials | undefined {
    const secret = this.snapshot.secrets[secretKey];
    if (secret === undefined) return undefined;
    const fp = this.#fingerprints.get(secretKey) ?? fingerprintOf(secret);
    return { fingerprint: fp, cert: secret.cert, key: secret.key };
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
    // One reference per endpoint per cluster, as taken in the constructor.
    for (const balancer of this.#clusters.values()) {
      for (const ep of balancer.endpoints) this.pools.release(ep);
    }
  }
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
