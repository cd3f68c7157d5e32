// One undici Pool per upstream endpoint ("ip:port"), shared by every routing
// table that lists the endpoint, so a swap that keeps an endpoint keeps its warm
// keep-alive connections (no reconnect storm at 100 swaps/s).
//
// Lifetime is reference counted by tables: a table acquires the pools of all
// its endpoints when it is built and releases them when it closes, which is
// after it was swapped out AND its last in-flight request ended (see
// routing/table.ts). A pool whose count drops to zero is closed gracefully
// (`pool.close()` lets queued and running requests finish). So a request still
// running on an old table never finds its pool closed, and an endpoint removed
// from the snapshot loses its connections as soon as nothing can use it.
import { Pool } from 'undici';
import { endpointKey } from '../../api/snapshot.ts';
import type { Logger } from '../../lib/log.ts';
import { errorFields, silentLogger } from '../../lib/log.ts';

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
}

interface PoolEntry {
  readonly pool: Pool;
  refs: number;
}

/** The registry of endpoint pools; one per applier. */
export class UpstreamPools {
  readonly #pools = new Map<string, PoolEntry>();
  readonly #options: Pool.Options;
  readonly #log: Logger;
  readonly #closing = new Set<Promise<void>>();

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
  }

  /** Number of live pools (admin and tests). */
  get size(): number {
    return this.#pools.size;
  }

  /** Whether a pool for the endpoint is live (tests). */
  has(key: string): boolean {
    return this.#pools.has(key);
  }

  /**
   * Takes a reference on the endpoint's pool, creating it if needed (creating
   * a Pool opens no socket; connections are made on first use).
   */
  acquire(address: string, port: number): Pool {
    const key = endpointKey(address, port);
    const entry = this.#pools.get(key);
    if (entry !== undefined) {
      entry.refs++;
      return entry.pool;
    }
    const host = address.includes(':') ? `[${address}]` : address;
    const pool = new Pool(`http://${host}:${port}`, this.#options);
    // A pool emits 'connectionError' per failed connect; the request that
    // triggered it already reports the failure, so only note it at debug.
    pool.on('connectionError', (_origin, _targets, err) => this.#log.debug('upstream connect failed', { endpoint: key, ...errorFields(err) }));
    this.#pools.set(key, { pool, refs: 1 });
    return pool;
  }

  /** Drops a reference taken by acquire(); at zero the pool closes gracefully. */
  release(address: string, port: number): void {
    const key = endpointKey(address, port);
    const entry = this.#pools.get(key);
    if (entry === undefined) return;
    if (--entry.refs > 0) return;
    this.#pools.delete(key);
    this.#closePool(key, entry.pool);
  }

  #closePool(key: string, pool: Pool): void {
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
    for (const [key, entry] of this.#pools) this.#closePool(key, entry.pool);
    this.#pools.clear();
    await Promise.all([...this.#closing]);
  }
}
