// Leader election on a coordination.k8s.io/v1 Lease, after client-go's
// leaderelection package (client-node has no helper). Only the leader writes
// status; every replica keeps serving the snapshot stream.
//
// Timings are client-go's defaults: a 15 s lease, a 10 s renew deadline, a
// 2 s retry period. Whether another holder's lease expired is judged by OUR
// monotonic clock from the moment we last saw its record change, never by
// comparing its renewTime with our wall clock (clocks of two nodes differ).
// Writes carry the resourceVersion read just before, so of two candidates
// only one can win; a 409 Conflict means someone else wrote first: lost.
// On losing (409, someone else holding it, or no successful renew within the
// renew deadline) onStoppedLeading runs at once, before anything else.
import { setTimeout as sleepReal } from 'node:timers/promises';
import type { KubeClient } from './k8s/client.ts';
import { describeError, errorCode } from './k8s/client.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import { TurnoutError } from './errors.ts';

/** The Lease spec fields leader election uses; times are MicroTime strings. */
export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

/** A Lease as read and written. */
export interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/** The three Lease calls; `update` must send metadata.resourceVersion and reject with code 409 on a conflict. */
export interface LeaseApi {
  /** undefined when the Lease does not exist. */
  get(): Promise<Lease | undefined>;
  create(lease: Lease): Promise<Lease>;
  update(lease: Lease): Promise<Lease>;
}

/** The Lease API of one Lease on a KubeClient. */
export function kubeLeaseApi(client: Pick<KubeClient, 'request'>, namespace: string, name: string): LeaseApi {
  const base = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
  return {
    async get() {
      try {
        return await client.request<Lease>('GET', `${base}/${encodeURIComponent(name)}`, { timeoutMs: 5_000 });
      } catch (err) {
        if (errorCode(err) === 404) return undefined;
        throw err;
      }
    },
    create: (lease) => client.request<Lease>('POST', base, { body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', ...lease }, timeoutMs: 5_000 }),
    update: (lease) => client.request<Lease>('PUT', `${base}/${encodeURIComponent(name)}`, { body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', ...lease }, timeoutMs: 5_000 }),
  };
}

/** Time as leader election needs it; injectable for tests. */
export interface LeaderClock {
  /** Monotonic milliseconds. */
  now(): number;
  /** Wall-clock time, for the MicroTime fields others read. */
  wall(): Date;
  /** Resolves after `ms`, or early (without error) when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/** The process clocks. */
export const REAL_CLOCK: LeaderClock = {
  now: () => performance.now(),
  wall: () => new Date(),
  sleep: (ms, signal) => sleepReal(ms, undefined, { signal, ref: false }).catch(() => {}),
};

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Options of LeaderElector. */
export interface LeaderElectorOptions {
  readonly api: LeaseApi;
  readonly name: string;
  readonly namespace: string;
  /** Unique per process (hostname plus a random suffix). */
  readonly identity: string;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  readonly onStartedLeading: () => void;
  readonly onStoppedLeading: () => void;
  readonly clock?: LeaderClock;
  readonly random?: () => number;
  readonly log?: Logger;
}

type Attempt = 'ok' | 'held' | 'lost' | 'error';

/** Campaigns for the Lease, then renews it. See the module comment. */
export class LeaderElector {
  readonly #o: Required<Omit<LeaderElectorOptions, 'log'>>;
  readonly #log: Logger;
  readonly #stop = new AbortController();
  #running: Promise<void> | undefined;
  #leading = false;
  /** The last record seen and when (our monotonic clock) it was first seen. */
  #observed: { spec: string; at: number } | undefined;
  #lease: Lease | undefined;

  constructor(opts: LeaderElectorOptions) {
    this.#o = {
      leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000,
      clock: REAL_CLOCK, random: Math.random,
      ...opts,
    } as Required<Omit<LeaderElectorOptions, 'log'>>;
    if (!(this.#o.leaseDurationMs > this.#o.renewDeadlineMs && this.#o.renewDeadlineMs > this.#o.retryPeriodMs)) {
      throw new TurnoutError('INVALID_ARGUMENT', 'leader election needs leaseDuration > renewDeadline > retryPeriod');
    }
    this.#log = opts.log ?? createLogger({ level: 'warn' });
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  /** Starts campaigning; a second call does nothing. */
  start(): void {
    this.#running ??= this.#loop();
  }

  /** Stops; a leader stops leading first, then releases the Lease so another replica takes over at once. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#running;
    if (this.#lease !== undefined && this.#lease.spec?.holderIdentity === this.#o.identity) {
      const wall = microTime(this.#o.clock.wall());
      const released = { ...this.#lease, spec: { ...this.#lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: wall, acquireTime: wall } };
      await this.#o.api.update(released).then(() => this.#log.info('released the leader lease'), (err) => this.#log.warn('could not release the leader lease', { error: describeError(err) }));
    }
  }

  async #loop(): Promise<void> {
    const { clock, retryPeriodMs, renewDeadlineMs } = this.#o;
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      // Campaign: every retry period (jittered by up to 20 %, as client-go) until acquired.
      while (!signal.aborted && (await this.#attempt(retryPeriodMs)) !== 'ok') {
        await clock.sleep(retryPeriodMs * (1 + 0.2 * this.#o.random()), signal);
      }
      if (signal.aborted) return;
      this.#setLeading(true);
      let lastRenew = clock.now();
      while (!signal.aborted) {
        await clock.sleep(retryPeriodMs, signal);
        if (signal.aborted) break;
        const left = renewDeadlineMs - (clock.now() - lastRenew);
        const r = left > 0 ? await this.#attempt(left) : 'error';
        if (r === 'ok') {
          lastRenew = clock.now();
          continue;
        }
        if (r === 'lost' || r === 'held' || clock.now() - lastRenew >= renewDeadlineMs) {
          this.#log.warn('lost the leader lease', { why: r === 'error' ? `no renewal within ${renewDeadlineMs} ms` : r === 'lost' ? 'conflict' : 'held by another' });
          break;
        }
      }
      this.#setLeading(false);
    }
  }

  #setLeading(leading: boolean): void {
    if (leading === this.#leading) return;
    this.#leading = leading;
    this.#log.info(leading ? 'became leader' : 'stopped leading', { identity: this.#o.identity, lease: `${this.#o.namespace}/${this.#o.name}` });
    try {
      (leading ? this.#o.onStartedLeading : this.#o.onStoppedLeading)();
    } catch (err) {
      this.#log.error('a leader election callback threw', { err });
    }
  }

  /** One acquire-or-renew, bounded by `timeoutMs`. */
  async #attempt(timeoutMs: number): Promise<Attempt> {
    // Ends at the deadline, or at once on stop(): shutdown never waits for a hung API call.
    const abort = new AbortController();
    const onStop = () => abort.abort();
    this.#stop.signal.addEventListener('abort', onStop, { once: true });
    const timeout = this.#o.clock.sleep(timeoutMs, abort.signal).then(() => 'error' as const);
    try {
      return await Promise.race([this.#tryAcquireOrRenew(), timeout]);
    } finally {
      this.#stop.signal.removeEventListener('abort', onStop);
      abort.abort();
    }
  }

  async #tryAcquireOrRenew(): Promise<Attempt> {
    const { api, identity, clock, leaseDurationMs } = this.#o;
    const wall = microTime(clock.wall());
    const seconds = Math.ceil(leaseDurationMs / 1000);
    let current: Lease | undefined;
    try {
      current = await api.get();
    } catch (err) {
      this.#log.warn('cannot read the leader lease', { error: describeError(err) });
      return 'error';
    }
    if (current === undefined) {
      const lease: Lease = {
        metadata: { name: this.#o.name, namespace: this.#o.namespace },
        spec: { holderIdentity: identity, leaseDurationSeconds: seconds, acquireTime: wall, renewTime: wall, leaseTransitions: 0 },
      };
      try {
        this.#lease = await api.create(lease);
        this.#see(this.#lease.spec);
        return 'ok';
      } catch (err) {
        if (errorCode(err) === 409) return 'held'; // another candidate created it first
        this.#log.warn('cannot create the leader lease', { error: describeError(err) });
        return 'error';
      }
    }
    const spec = current.spec ?? {};
    this.#see(spec);
    const holder = spec.holderIdentity ?? '';
    if (holder !== '' && holder !== identity && this.#observed!.at + leaseDurationMs > clock.now()) return 'held';
    const mine = holder === identity;
    const next: Lease = {
      metadata: { name: current.metadata.name, namespace: current.metadata.namespace ?? this.#o.namespace, resourceVersion: current.metadata.resourceVersion! },
      spec: {
        holderIdentity: identity,
        leaseDurationSeconds: seconds,
        acquireTime: mine && spec.acquireTime ? spec.acquireTime : wall,
        renewTime: wall,
        leaseTransitions: mine ? spec.leaseTransitions ?? 0 : (spec.leaseTransitions ?? 0) + 1,
      },
    };
    try {
      this.#lease = await api.update(next);
      this.#see(this.#lease.spec);
      return 'ok';
    } catch (err) {
      if (errorCode(err) === 409) return 'lost';
      this.#log.warn('cannot update the leader lease', { error: describeError(err) });
      return 'error';
    }
  }

  /** Notes when a record was first seen, by our monotonic clock. */
  #see(spec: LeaseSpec | undefined): void {
    const key = JSON.stringify(spec ?? {});
    if (this.#observed?.spec !== key) this.#observed = { spec: key, at: this.#o.clock.now() };
  }
}
