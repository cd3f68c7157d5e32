// Writes what diff.ts decides: Route status.conditions, Ingress
// status.loadBalancer (merge patches on the status subresource) and Warning
// Events for invalid Ingresses.
//
// - Only while active (the leader): setActive(false) drops the queue at once
//   and ignores answers still in flight.
// - Minimal: every write is recomputed against the status the informer last
//   observed just before it is sent, so an unchanged object is never written,
//   and a relist (same resourceVersions) triggers nothing. A write the watch
//   has not echoed yet counts as current, so a compile in between does not
//   write the same thing twice.
// - Coalesced and bounded: one pending entry per object (the newest desired
//   state wins), at most `concurrency` requests in flight.
// - Retried: 409, 429, 5xx and network errors up to `maxAttempts` times with
//   backoff; 404 (object deleted) ends quietly.
import type { Condition } from '../compile/types.ts';
import type { KubeClient } from '../k8s/client.ts';
import { describeError, errorCode, MERGE_PATCH } from '../k8s/client.ts';
import { createLogger, type Logger } from '../../lib/log.ts';
import type { ObservedStatus } from '../sources/kube.ts';
import { ingressEvents, ingressStatusPatch, isAccepted, releasedIngressPatch, routeStatusPatch, type EventSpec, type LoadBalancerIngress } from './diff.ts';

/** The two writes the status writer makes, so tests can record them. */
export interface StatusApi {
  /** Merge-patches the status subresource; resolves with the new resourceVersion. */
  patchStatus(kind: 'Ingress' | 'Route', namespace: string, name: string, patch: unknown): Promise<string | undefined>;
  createEvent(namespace: string, event: unknown): Promise<void>;
}

const RESOURCES = {
  Ingress: { prefix: '/apis/networking.k8s.io/v1', resource: 'ingresses', apiVersion: 'networking.k8s.io/v1' },
  Route: { prefix: '/apis/turnout.dev/v1alpha1', resource: 'routes', apiVersion: 'turnout.dev/v1alpha1' },
} as const;

/** The StatusApi on a KubeClient: status subresource merge patches and core/v1 Events. */
export function kubeStatusApi(client: Pick<KubeClient, 'request'>): StatusApi {
  return {
    async patchStatus(kind, namespace, name, patch) {
      const r = RESOURCES[kind];
      const path = `${r.prefix}/namespaces/${encodeURIComponent(namespace)}/${r.resource}/${encodeURIComponent(name)}/status`;
      const out = await client.request<{ metadata?: { resourceVersion?: string } }>('PATCH', path, { body: patch, contentType: MERGE_PATCH, timeoutMs: 15_000 });
      return out?.metadata?.resourceVersion;
    },
    async createEvent(namespace, event) {
      await client.request('POST', `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, { body: event, timeoutMs: 15_000 });
    },
  };
}

/** Options of StatusWriter. */
export interface StatusWriterOptions {
  readonly api: StatusApi;
  /** The informer's view of an Ingress or Route ("Kind/ns/name"); undefined if it does not exist. */
  readonly observed: (key: string) => ObservedStatus | undefined;
  /** Addresses for Ingress status; undefined when neither --publish-service nor --publish-address is given. */
  readonly published?: () => readonly LoadBalancerIngress[] | undefined;
  /** Events name this instance (reportingInstance). */
  readonly identity?: string;
  /** Requests in flight at most (default 4). */
  readonly concurrency?: number;
  /** Attempts per write (default 4). */
  readonly maxAttempts?: number;
  /** First retry delay (default 250 ms), doubled per attempt. */
  readonly retryDelayMs?: number;
  /** Most remembered Event keys (default 10,000). */
  readonly maxEventKeys?: number;
  readonly now?: () => Date;
  readonly log?: Logger;
}

interface Written {
  /** The observed resourceVersion the write was based on. */
  readonly baseRv: string | undefined;
  readonly status: any;
}

/** See the module comment. */
export class StatusWriter {
  readonly #opts: StatusWriterOptions;
  readonly #log: Logger;
  #conditions: ReadonlyMap<string, readonly Condition[]> = new Map();
  #active = false;
  #epoch = 0;
  readonly #pending = new Set<string>();
  readonly #written = new Map<string, Written>();
  readonly #sentEvents = new Set<string>();
  #inFlight = 0;
  /** Keys with a request in flight. */
  readonly #busy = new Set<string>();
  /** Ingresses that left the compiler's view and may still carry our addresses. */
  readonly #released = new Set<string>();
  #idleWaiters: Array<() => void> = [];
  #forbiddenLogged = new Set<string>();
  /** Counters for metrics and tests. */
  readonly stats = { patches: 0, events: 0, failures: 0, retries: 0 };

  constructor(opts: StatusWriterOptions) {
    this.#opts = opts;
    this.#log = opts.log ?? createLogger({ level: 'warn' });
  }

  get active(): boolean {
    return this.#active;
  }

  /** Starts (leader) or stops (lost the lease) writing. Stopping drops everything queued at once. */
  setActive(active: boolean): void {
    if (active === this.#active) return;
    this.#active = active;
    this.#epoch++;
    this.#pending.clear();
    this.#written.clear();
    if (active) this.#enqueueAll();
    else this.#checkIdle();
  }

  /** The conditions of a new compile: objects whose status differs get queued. */
  update(conditions: ReadonlyMap<string, readonly Condition[]>): void {
    const before = this.#conditions;
    this.#conditions = conditions;
    // Ingresses the compiler no longer considers ours (class changed): their addresses are withdrawn.
    for (const key of before.keys()) if (key.startsWith('Ingress/') && !conditions.has(key)) this.#released.add(key);
    for (const key of this.#released) if (conditions.has(key)) this.#released.delete(key);
    if (this.#active) {
      this.#enqueueAll();
      for (const key of this.#released) this.#enqueue(key);
    }
  }

  /** The informer saw a status change (or deletion) of `key`: re-check it (someone else may have overwritten it). */
  observedChanged(key: string): void {
    if (this.#active && (this.#conditions.has(key) || this.#released.has(key))) this.#enqueue(key);
  }

  /** The published addresses changed: every Ingress is re-checked. */
  publishedChanged(): void {
    if (!this.#active) return;
    for (const key of this.#conditions.keys()) if (key.startsWith('Ingress/')) this.#enqueue(key);
  }

  /** Resolves when nothing is queued or in flight (tests, shutdown). */
  idle(): Promise<void> {
    if (this.#pending.size === 0 && this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #enqueueAll(): void {
    for (const key of this.#conditions.keys()) {
      if (key.startsWith('Ingress/') || key.startsWith('Route/')) this.#enqueue(key);
    }
  }

  #enqueue(key: string): void {
    // Cheap pre-check, so a resync of thousands of unchanged objects queues nothing.
    if (this.#work(key) === undefined) return;
    this.#pending.add(key);
    this.#pump();
  }

  #pump(): void {
    const limit = this.#opts.concurrency ?? 4;
    for (const key of this.#pending) {
      if (this.#inFlight >= limit) break;
      // One request per object at a time: a key queued again while its write is
      // in flight waits for it (then usually finds nothing left to do).
      if (this.#busy.has(key)) continue;
      this.#pending.delete(key);
      this.#busy.add(key);
      this.#inFlight++;
      void this.#process(key, this.#epoch).finally(() => {
        this.#busy.delete(key);
        this.#inFlight--;
        this.#pump();
        this.#checkIdle();
      });
    }
  }

  #checkIdle(): void {
    if (this.#pending.size > 0 || this.#inFlight > 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }

  /** What `key` needs now: a status patch and/or Events; undefined when nothing. */
  #work(key: string): { patch?: unknown; events: EventSpec[]; observed: ObservedStatus } | undefined {
    const conds = this.#conditions.get(key);
    const observed = this.#opts.observed(key);
    if (observed === undefined) {
      this.#released.delete(key); // deleted: nothing left to clear
      return undefined;
    }
    const written = this.#written.get(key);
    // Our last write, until the watch shows it (or anything newer).
    const view = { generation: observed.generation, status: written !== undefined && written.baseRv === observed.resourceVersion ? written.status : observed.status };
    if (conds === undefined) {
      const patch = this.#released.has(key) ? releasedIngressPatch(this.#opts.published?.(), view) : undefined;
      return patch === undefined ? undefined : { patch, events: [], observed };
    }
    const now = (this.#opts.now?.() ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    let patch: unknown;
    let events: EventSpec[] = [];
    if (key.startsWith('Route/')) {
      patch = routeStatusPatch(conds, view, now);
    } else {
      patch = ingressStatusPatch(isAccepted(conds), this.#opts.published?.(), view);
      events = ingressEvents(key, conds, observed).filter((e) => !this.#sentEvents.has(e.dedupeKey));
    }
    return patch === undefined && events.length === 0 ? undefined : { ...(patch !== undefined ? { patch } : {}), events, observed };
  }

  async #process(key: string, epoch: number): Promise<void> {
    const [kind, namespace, name] = key.split('/') as ['Ingress' | 'Route', string, string];
    const maxAttempts = this.#opts.maxAttempts ?? 4;
    for (let attempt = 1; ; attempt++) {
      if (epoch !== this.#epoch) return;
      const work = this.#work(key);
      if (work === undefined) return;
      try {
        for (const e of work.events) {
          await this.#opts.api.createEvent(namespace, this.#event(kind, namespace, name, work.observed, e));
          if (epoch !== this.#epoch) return;
          this.#remember(e.dedupeKey);
          this.stats.events++;
          this.#log.debug('created event', { object: key, reason: e.reason });
        }
        if (work.patch !== undefined) {
          await this.#opts.api.patchStatus(kind, namespace, name, work.patch);
          if (epoch !== this.#epoch) return;
          const observedNow = this.#opts.observed(key);
          const base = observedNow?.resourceVersion === work.observed.resourceVersion ? work.observed.status : observedNow?.status;
          this.#written.set(key, { baseRv: work.observed.resourceVersion, status: { ...base, ...(work.patch as { status: object }).status } });
          this.stats.patches++;
          this.#log.debug('wrote status', { object: key });
        }
        return;
      } catch (err) {
        const code = errorCode(err);
        if (code === 404) return; // deleted meanwhile: its informer delete follows
        const retriable = code === undefined || code === 409 || code === 429 || code >= 500;
        if (!retriable || attempt >= maxAttempts || epoch !== this.#epoch) {
          this.stats.failures++;
          if (code === 403) {
            if (!this.#forbiddenLogged.has(kind)) this.#log.error(`status write forbidden for ${kind}: check the controller's RBAC`, { code: 'STATUS_WRITE_FAILED', object: key });
            this.#forbiddenLogged.add(kind);
          } else {
            this.#log.warn('status write failed', { code: 'STATUS_WRITE_FAILED', object: key, error: describeError(err), attempts: attempt });
          }
          return;
        }
        this.stats.retries++;
        await new Promise((r) => setTimeout(r, (this.#opts.retryDelayMs ?? 250) * 2 ** (attempt - 1)).unref());
      }
    }
  }

  #event(kind: 'Ingress' | 'Route', namespace: string, name: string, observed: ObservedStatus, e: EventSpec): unknown {
    const now = (this.#opts.now?.() ?? new Date()).toISOString();
    return {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${name}.`, namespace },
      involvedObject: { apiVersion: RESOURCES[kind].apiVersion, kind, namespace, name, ...(observed.uid ? { uid: observed.uid } : {}) },
      type: e.type,
      reason: e.reason,
      message: e.message,
      source: { component: 'turnout-controller' },
      reportingComponent: 'turnout.dev/ingress-controller',
      reportingInstance: (this.#opts.identity ?? 'turnout').slice(0, 128),
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
  }

  #remember(key: string): void {
    this.#sentEvents.add(key);
    const max = this.#opts.maxEventKeys ?? 10_000;
    for (const k of this.#sentEvents) {
      if (this.#sentEvents.size <= max) break;
      this.#sentEvents.delete(k);
    }
  }
}
