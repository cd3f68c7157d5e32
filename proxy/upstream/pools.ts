// One undici Pool per upstream endpoint ("ip:port"), shared by every routing
// table that lists the endpoint, so a swap that keeps an endpoint keeps its warm
// keep-alive connections (no reconnect storm at 100 swaps/s).
//
// Pools are created lazily, on the first request dispatched to the endpoint:
// an undici Pool costs ~18 KB before it opens a socket, and most of 30k
// endpoints may never see a request between two snapshots. A table holds the
// endpoint (a PooledEndpoint), not the Pool.
//
// Lifetime is reference counted by tables: a table acquires all its endpoints
// when it is built and releases them when it closes, which is after it was
// swapped out AND its last in-flight request ended (see routing/table.ts). An
// endpoint whose count drops to zero is dropped from the registry and its pool,
// if one was ever created, is closed gracefully (`pool.close()` lets queued and
// running requests finish). So a request still running on an old table never
// finds its pool closed, and an endpoint removed from the snapshot loses its
// connections as soon as nothing can use it.
//
// The key is the endpoint AND the cluster's protocol (api/snapshot.ts
// UpstreamProtocol): two Services selecting the same pod port, one with
// appProtocol kubernetes.io/h2c and one without, get two pools, since a
// connection speaks one protocol. Per protocol:
// - HTTP/1.1 (no protocol): up to `connections` sockets, one request each;
//   undici's Pool, or with `http1Client: 'lean'` the proxy's own H1Pool
//   (h1-pool.ts: llhttp over net, the same behaviour at less CPU per request).
// - h2c: HTTP/2 with prior knowledge (undici's useH2c). Requests multiplex on
//   one connection up to the server's SETTINGS_MAX_CONCURRENT_STREAMS (100
//   assumed until it says), then the pool opens another, still capped by
//   `connections`. Response trailers reach the handler (gRPC's grpc-status).
// - tls: HTTP/1.1 over TLS (ALPN http/1.1 only), WITHOUT verifying the
//   endpoint's certificate: endpoints are pod IPs that no certificate names,
//   and the snapshot carries no CA to verify against. This is Contour's
//   choice for upstream TLS without a CA: it protects against passive
//   eavesdropping on the pod network, not against an active attacker there.
import { Pool } from 'undici';
import { endpointKey } from '../../api/snapshot.ts';
import type { UpstreamProtocol } from '../../api/snapshot.ts';
import type { Logger } from '../../lib/log.ts';
import { errorFields, silentLogger } from '../../lib/log.ts';
import type { UpstreamDispatcher, UpstreamEndpoint } from './balancer.ts';
import { H1Pool } from './h1-pool.ts';
import type { H1PoolOptions } from './h1-pool.ts';

/** Connection settings for every upstream pool. */
export interface PoolOptions {
  /**
   * Upper bound of connections per endpoint. A cap turns an overload into
   * queueing in the proxy instead of thousands of sockets on one pod. Default 128.
   */
  readonly connections?: number;
  /**
   * Idle keep-alive time of an upstream connection. Below the usual server
   * idle timeouts (Node 5 s, nginx 75 s) so the proxy, not the server, closes
   * idle connections and a request never races a server-side close; undici
   * also honours a shorter `Keep-Alive: timeout=` hint. Default 4 s.
   */
  readonly keepAliveTimeoutMs?: number;
  /**
   * TCP connect timeout. Short, because a connect that times out is retried on
   * another endpoint (see forward.ts) and pod IPs answer in microseconds when
   * alive. Default 3 s.
   */
  readonly connectTimeoutMs?: number;
  /**
   * Longest silence between two chunks of a response body. Long enough for
   * slow streams; a dead upstream mid-body is still noticed. Default 300 s.
   */
  readonly bodyTimeoutMs?: number;
  /**
   * The client of plain HTTP/1.1 endpoints: undici's Pool, or 'lean', the
   * proxy's own H1Pool (h1-pool.ts), which spends less CPU per request.
   * h2c and tls endpoints always use undici. Default 'undici'.
   */
  readonly http1Client?: 'undici' | 'lean';
}

/** A pool as the registry holds it: dispatch, and a graceful close. Both clients fit. */
export interface EndpointPool extends UpstreamDispatcher {
  close(): Promise<void>;
}

/**
 * An endpoint as the registry hands it out: one object per endpoint key while
 * any table references it, so tables (and balancers reused across tables)
 * share it, and its pool, by identity.
 */
export class PooledEndpoint implements UpstreamEndpoint {
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly protocol: UpstreamProtocol | undefined;
  /** References held by tables; managed by the owning UpstreamPools only. */
  refs = 0;
  #pool: EndpointPool | undefined;
  #released = false;
  readonly #owner: object;
  readonly #create: (ep: PooledEndpoint) => EndpointPool;

  /** `key` is poolKey(address, port, protocol); `create` is the registry's one pool factory (no closure per endpoint). */
  constructor(owner: object, key: string, address: string, port: number, protocol: UpstreamProtocol | undefined, create: (ep: PooledEndpoint) => EndpointPool) {
    this.key = key;
    this.address = address;
    this.port = port;
    this.protocol = protocol;
    this.#owner = owner;
    this.#create = create;
  }

  /** Whether `registry` handed out this endpoint and still holds it. */
  heldBy(registry: object): boolean {
    return this.#owner === registry && !this.#released;
  }

  /**
   * The endpoint's pool, created on first use. Only a table that still holds
   * the endpoint dispatches to it (a request pins its table), so a released
   * endpoint asking for a pool is a bug: refuse rather than leak a pool
   * nothing would close.
   */
  get dispatcher(): EndpointPool {
    if (this.#pool !== undefined) return this.#pool;
    if (this.#released) throw new Error(`upstream endpoint ${this.key} was released; no pool will be created for it`);
    this.#pool = this.#create(this);
    return this.#pool;
  }

  /** Whether a pool exists (tests, admin). */
  get hasPool(): boolean {
    return this.#pool !== undefined;
  }

  /** Marks the endpoint gone and hands back its pool, if one was created, to be closed. */
  release(): EndpointPool | undefined {
    this.#released = true;
    return this.#pool;
  }
}

/** The registry key of an endpoint spoken to with `protocol` (see the top of the file). */
export function poolKey(address: string, port: number, protocol: UpstreamProtocol | undefined): string {
  const ep = endpointKey(address, port);
  return protocol === undefined ? ep : `${ep} ${protocol}`;
}

/** The registry of endpoint pools; one per applier. */
export class UpstreamPools {
  readonly #endpoints = new Map<string, PooledEndpoint>();
  readonly #options: Pool.Options;
  readonly #h2cOptions: Pool.Options;
  readonly #tlsOptions: Pool.Options;
  /** Set when plain HTTP/1.1 endpoints get the lean client. */
  readonly #leanOptions: H1PoolOptions | undefined;
  readonly #log: Logger;
  readonly #closing = new Set<Promise<void>>();
  #open = 0;
  /** Handed to every endpoint: one function for all (30k endpoints at 10k Ingresses). */
  readonly #create = (ep: PooledEndpoint): EndpointPool => this.#createPool(ep);

  constructor(options: PoolOptions = {}, log: Logger = silentLogger) {
    this.#log = log;
    this.#options = {
      // HTTP/1.1 only: undici 8 defaults allowH2 to true, and an upstream that
      // offers h2 via ALPN would change framing and error behaviour under us.
      allowH2: false,
      connections: options.connections ?? 128,
      pipelining: 1,
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 4_000,
      connect: { timeout: options.connectTimeoutMs ?? 3_000 },
      bodyTimeout: options.bodyTimeoutMs ?? 300_000,
    };
    // `useH2c` at the top level: Pool builds the connector from its own
    // options, and undici 8's types only list it under h2Options (which the
    // Pool's connector never reads).
    const h2c: Pool.Options & { useH2c: boolean } = {
      ...this.#options,
      allowH2: true,
      useH2c: true,
      // Streams per connection: undici's default, and what Node's and
      // grpc-go's servers accept; the server's own SETTINGS lower it.
      h2Options: { maxConcurrentStreams: 100 },
      pipelining: 100,
    };
    this.#h2cOptions = h2c;
    this.#tlsOptions = {
      ...this.#options,
      connect: { timeout: options.connectTimeoutMs ?? 3_000, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] },
    };
    this.#leanOptions = options.http1Client === 'lean' ? {
      connections: options.connections ?? 128,
      keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 4_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 3_000,
      bodyTimeoutMs: options.bodyTimeoutMs ?? 300_000,
    } : undefined;
  }

  /** Number of endpoints referenced by some table (each may or may not have a pool yet). */
  get size(): number {
    return this.#endpoints.size;
  }

  /** Number of pools created and not yet closed (admin). */
  get open(): number {
    return this.#open;
  }

  /** Whether the endpoint is referenced by some table (tests). */
  has(key: string): boolean {
    return this.#endpoints.has(key);
  }

  /** The live endpoint for a key, if any (tests). */
  get(key: string): PooledEndpoint | undefined {
    return this.#endpoints.get(key);
  }

  /** Takes a reference on the endpoint (for `protocol`), registering it if needed; no pool is created here. */
  acquire(address: string, port: number, protocol?: UpstreamProtocol): PooledEndpoint {
    const key = poolKey(address, port, protocol);
    let ep = this.#endpoints.get(key);
    if (ep === undefined) {
      ep = new PooledEndpoint(this, key, address, port, protocol, this.#create);
      this.#endpoints.set(key, ep);
    }
    ep.refs++;
    return ep;
  }

  /**
   * Another reference on an endpoint this registry handed out and still holds
   * (a balancer reused by the next table). O(1): no key lookup, since a table
   * build retains every endpoint of every unchanged cluster.
   */
  retain(ep: UpstreamEndpoint): void {
    if (!(ep instanceof PooledEndpoint) || !ep.heldBy(this)) throw new Error(`upstream endpoint ${ep.key} is not held by this registry`);
    ep.refs++;
  }

  /** Drops a reference taken by acquire() or retain(); at zero the pool, if any, closes gracefully. */
  release(ep: UpstreamEndpoint): void {
    if (!(ep instanceof PooledEndpoint) || !ep.heldBy(this)) return;
    if (--ep.refs > 0) return;
    this.#endpoints.delete(ep.key);
    const pool = ep.release();
    if (pool !== undefined) this.#closePool(ep.key, pool);
  }

  #createPool(ep: PooledEndpoint): EndpointPool {
    if (ep.protocol === undefined && this.#leanOptions !== undefined) {
      // Connect failures reach the request that opened the connection; the
      // lean pool has no separate event for them.
      this.#open++;
      return new H1Pool(ep.address, ep.port, this.#leanOptions);
    }
    const host = ep.address.includes(':') ? `[${ep.address}]` : ep.address;
    const pool = ep.protocol === undefined ? new Pool(`http://${host}:${ep.port}`, this.#options)
      : ep.protocol === 'h2c' ? new Pool(`http://${host}:${ep.port}`, this.#h2cOptions)
        : new Pool(`https://${host}:${ep.port}`, this.#tlsOptions);
    // A pool emits 'connectionError' per failed connect; the request that
    // triggered it already reports the failure, so only note it at debug.
    pool.on('connectionError', (_origin, _targets, err) => this.#log.debug('upstream connect failed', { endpoint: ep.key, ...errorFields(err) }));
    this.#open++;
    return pool;
  }

  #closePool(key: string, pool: EndpointPool): void {
    this.#open--;
    const done = pool.close().then(
      () => this.#log.debug('upstream pool closed', { endpoint: key }),
      (err: unknown) => this.#log.warn('upstream pool close failed', { endpoint: key, ...errorFields(err) }),
    ).finally(() => this.#closing.delete(done));
    this.#closing.add(done);
  }

  /**
   * Closes every pool, letting in-flight requests finish (used by the
   * applier's close() after listeners drained). Resolves when all are closed.
   */
  async close(): Promise<void> {
    for (const [key, ep] of this.#endpoints) {
      const pool = ep.release();
      if (pool !== undefined) this.#closePool(key, pool);
    }
    this.#endpoints.clear();
    await Promise.all([...this.#closing]);
  }
}
