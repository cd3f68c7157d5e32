// The data plane: validate → build a whole table → bind new listeners → swap
// one reference → drain what was removed. Any failure before the swap is a
// NACK and the previous table keeps serving, untouched (the Skipper rule: the
// routes of the last successful update are used until the next one).
import type { Snapshot } from '../api/snapshot.ts';
import { assertValidSnapshot, SnapshotValidationError } from '../api/validate.ts';
import { deepFreeze, versionOf } from '../api/version.ts';
import type { ApplyOutcome, SnapshotApplier } from './applier.ts';
import { ApplyCode, ApplyError } from './errors.ts';
import { createForwarder } from './forward.ts';
import type { ProxyHandler } from './forward.ts';
import { ListenerSet } from './listeners.ts';
import type { ListenerInfo, ServerLimits } from './listeners.ts';
import { DEFAULT_HTTP1_ENGINE } from './servers.ts';
import type { Http1Engine } from './servers.ts';
import type { Logger } from '../lib/log.ts';
import { errorFields, silentLogger } from '../lib/log.ts';
import { shareRouteStrings } from './routing/share.ts';
import { buildTable } from './routing/table.ts';
import type { RoutingTable, TableCounts } from './routing/table.ts';
import { UpstreamPools } from './upstream/pools.ts';
import type { PoolOptions } from './upstream/pools.ts';
import { DnsTargets } from './upstream/dns.ts';
import type { DnsOptions } from './upstream/dns.ts';

/** Options of DataPlane; every field has a production default. */
export interface DataPlaneOptions {
  readonly log?: Logger;
  /** Upstream connection settings (upstream/pools.ts). */
  readonly pools?: PoolOptions;
  /** Client-side server limits (listeners.ts). */
  readonly limits?: Partial<ServerLimits>;
  /** How long a removed listener (and every listener on close()) may drain before its connections are cut. Default 30 s. */
  readonly drainTimeoutMs?: number;
  /** Bind listeners with SO_REUSEPORT (listeners.ts). Default false. */
  readonly reusePort?: boolean;
  /** DNS-named clusters: TTL bounds, name servers (upstream/dns.ts). */
  readonly dns?: DnsOptions;
  /** How long a client may leave a response unread before it is cut (forward.ts). Default 60 s. */
  readonly sendTimeoutMs?: number;
  /** Attempts per request when connects fail (forward.ts). Default 3. */
  readonly maxAttempts?: number;
  /** HTTP/1.1 engine of the http listeners (listeners.ts, http1/server.ts). Default 'node'. */
  readonly http1Engine?: Http1Engine;
}

/** Lets pending I/O run before the next step of an apply. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** How long an apply waits for the first lookup of a new DNS-named cluster. */
const DNS_FIRST_WAIT_MS = 2_000;

/** A prepared snapshot: commit() swaps it in, abort() drops it; exactly one of them, once. */
export type PrepareResult =
  | { readonly ok: true; readonly version: string; commit(): void; abort(): Promise<void> }
  | Extract<ApplyOutcome, { ok: false }>;

/** What admin shows about the data plane; never secret material. */
export interface DataPlaneStatus {
  readonly version: string | undefined;
  readonly appliedAt: Date | undefined;
  readonly listeners: Record<string, ListenerInfo>;
  readonly counts: TableCounts | undefined;
  /**
   * Open upstream pools: one per endpoint that a table still references AND
   * that was sent a request (pools are created on first use).
   */
  readonly upstreamPools: number;
  /**
   * Websockets, tcp streams and passthrough connections: open, waiting for
   * their drain deadline (route or endpoint gone), and closed for that reason.
   */
  readonly longLived: { readonly open: number; readonly orphaned: number; readonly drained: number };
}

/**
 * The proxy's SnapshotApplier. Construct it, hand `apply` to the stream client
 * (or call it with a local snapshot); it opens the snapshot's listeners itself.
 * Applies are serialised here too, so a caller that forgets cannot interleave.
 */
export class DataPlane implements SnapshotApplier {
  /** The request handler every listener uses; exposed for embedding (tests, `turnout local`). */
  readonly handler: ProxyHandler;
  readonly pools: UpstreamPools;
  readonly dns: DnsTargets;
  readonly listeners: ListenerSet;
  readonly #log: Logger;
  #table: RoutingTable | undefined;
  #appliedAt: Date | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: DataPlaneOptions = {}) {
    this.#log = options.log ?? silentLogger;
    // The net engine brings its upstream client (upstream/h1-pool.ts) for plain HTTP/1.1 endpoints.
    this.pools = new UpstreamPools({ http1Client: (options.http1Engine ?? DEFAULT_HTTP1_ENGINE) === 'net' ? 'lean' : 'undici', ...options.pools }, this.#log);
    this.dns = new DnsTargets(this.pools, this.#log, options.dns);
    this.handler = createForwarder({ getTable: () => this.#table, maxAttempts: options.maxAttempts, sendTimeoutMs: options.sendTimeoutMs, log: this.#log });
    this.listeners = new ListenerSet({
      handler: this.handler,
      getTable: () => this.#table,
      drainTimeoutMs: options.drainTimeoutMs,
      reusePort: options.reusePort,
      limits: options.limits,
      http1Engine: options.http1Engine,
      log: this.#log,
    });
  }

  /** The snapshot being served (deep-frozen; clone before patching), undefined before the first apply. */
  get current(): Snapshot | undefined {
    return this.#table?.snapshot;
  }

  /** The table new requests pin. */
  get table(): RoutingTable | undefined {
    return this.#table;
  }

  /** When the current snapshot was swapped in. */
  get appliedAt(): Date | undefined {
    return this.#appliedAt;
  }

  /** Version, time, listeners and counts for admin. */
  status(): DataPlaneStatus {
    return {
      version: this.#table?.version,
      appliedAt: this.#appliedAt,
      listeners: this.listeners.list(),
      counts: this.#table?.counts,
      upstreamPools: this.pools.open,
      longLived: { open: this.listeners.longLived.open, orphaned: this.listeners.longLived.orphaned, drained: this.listeners.longLived.drained },
    };
  }

  /**
   * See SnapshotApplier.apply. Never throws. A candidate object is deep-frozen
   * in place (even if then refused): hand over a private object.
   */
  async apply(candidate: unknown): Promise<ApplyOutcome> {
    const p = await this.prepare(candidate);
    if (!p.ok) return p;
    p.commit();
    return { ok: true, version: p.version };
  }

  /**
   * The first half of apply, for a supervisor that must know every worker can
   * take a snapshot before any serves it (workers.ts): validates, builds the
   * table and binds new listeners, then waits for commit() (the swap) or
   * abort(). Applies queue behind it until one of them is called. Never throws.
   */
  prepare(candidate: unknown): Promise<PrepareResult> {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const run = this.#queue.then(async (): Promise<PrepareResult> => {
      const r = await this.#prepare(candidate);
      if (!r.ok) {
        release();
        return r;
      }
      let settled = false;
      return {
        ok: true,
        version: r.version,
        commit: () => {
          if (settled) return;
          settled = true;
          r.commit();
          release();
        },
        abort: async () => {
          if (settled) return;
          settled = true;
          await r.abort().finally(release);
        },
      };
    });
    this.#queue = run.then(() => held, () => undefined);
    return run;
  }

  async #prepare(candidate: unknown): Promise<PrepareResult> {
    const claimed = typeof candidate === 'object' && candidate !== null && typeof (candidate as { version?: unknown }).version === 'string'
      ? (candidate as { version: string }).version : undefined;
    try {
      if (this.#closed) throw new ApplyError(ApplyCode.APPLIER_CLOSED, 'the proxy is shutting down');
      // A parsed full snapshot holds a copy of each repeated string: one each
      // before it is frozen for good (routing/share.ts; deltas are frozen already).
      shareRouteStrings(candidate);
      // Frozen first: entries shared with the served snapshot (stream/delta.ts)
      // are frozen and were checked when it was applied, so only what the
      // delta changed is checked again; the check trusts frozen entries only.
      deepFreeze(candidate);
      try {
        assertValidSnapshot(candidate, this.#table?.snapshot);
      } catch (err) {
        if (err instanceof SnapshotValidationError) throw new ApplyError(ApplyCode.SNAPSHOT_INVALID, err.message);
        throw err;
      }
      // Frozen before hashing too: version.ts remembers the digests of frozen
      // entries and maps, and a delta's copied maps (stream/delta.ts) name the
      // keys they wrote, so the next delta re-hashes only what it changed. A
      // refused candidate stays frozen; the caller owns nothing else.
      const snapshot = candidate;
      // Each step of a large apply runs in its own turn of the event loop, so
      // requests are served between them (the old table serves until the swap).
      await nextTurn();
      const actual = versionOf(snapshot);
      if (actual !== snapshot.version) {
        throw new ApplyError(ApplyCode.VERSION_MISMATCH, `version ${snapshot.version} is not the content hash of the snapshot (${actual})`);
      }
      // Equal version means equal content: nothing to rebuild.
      if (snapshot.version === this.#table?.version) return { ok: true, version: snapshot.version, commit: () => {}, abort: async () => {} };

      const started = performance.now();
      await nextTurn();
      const next = buildTable(snapshot, this.#table, { pools: this.pools, dns: this.dns });
      let change;
      try {
        // A new DNS-named cluster gets its first answer before it serves.
        await next.dnsReady(DNS_FIRST_WAIT_MS);
        change = await this.listeners.prepare(snapshot.listeners, next);
      } catch (err) {
        next.retire(); // releases the pool references the refused table took
        throw err;
      }
      if (this.#closed) {
        await change.abort();
        next.retire();
        throw new ApplyError(ApplyCode.APPLIER_CLOSED, 'the proxy is shutting down');
      }
      const prepared = change;
      return {
        ok: true,
        version: next.version,
        commit: () => {
          // The swap: one reference. Requests already running keep the old table.
          const old = this.#table;
          this.#table = next;
          this.#appliedAt = new Date();
          prepared.commit(next);
          old?.retire();
          this.#log.info('snapshot applied', { version: next.version, buildMs: Math.round(performance.now() - started), ...next.counts });
        },
        abort: async () => {
          await prepared.abort();
          next.retire();
          this.#log.info('prepared snapshot aborted', { version: next.version, serving: this.#table?.version });
        },
      };
    } catch (err) {
      const code = err instanceof ApplyError ? err.code : ApplyCode.INTERNAL;
      const reason = err instanceof ApplyError ? err.message : `internal error: ${err instanceof Error ? err.message : String(err)}`;
      this.#log.warn('snapshot refused', { version: claimed, code, reason, serving: this.#table?.version });
      if (code === ApplyCode.INTERNAL) this.#log.error('apply failed unexpectedly', errorFields(err));
      return claimed === undefined ? { ok: false, code, reason } : { ok: false, version: claimed, code, reason };
    }
  }

  /**
   * Shuts down: refuses further applies, drains every listener (in-flight
   * requests finish, up to drainTimeoutMs), then closes upstream pools.
   */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue;
    await this.listeners.close();
    this.#table?.retire();
    await this.pools.close();
  }
}
