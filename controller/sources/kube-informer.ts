// One supervised @kubernetes/client-node informer (ListWatch) per resource.
//
// The library's informer stops for good after any error other than 410 Gone
// or a watch timeout, and its start() resolves even when the first list
// failed (see /work/shared/notes/pitfalls.md). So each informer here is
// supervised:
// - any error (list or watch) restarts it with exponential backoff and jitter;
// - a watchdog restarts an informer that showed no sign of life (list, watch
//   (re)connect, event) for `watchdogMs`;
// - runs are numbered, and callbacks of a replaced run are ignored, so a
//   restart can never run two watches at once or apply a stale event;
// - "synced" means a list succeeded and was applied, never just "started".
// A restart uses a fresh ListWatch, which relists; `resynced` hands the whole
// listed set to the owner so objects deleted while not watching are dropped.
import { ListWatch } from '@kubernetes/client-node';
import { createLogger, type Logger } from '../../lib/log.ts';
import type { KubeClient, KubeList, WatchTransport } from '../k8s/client.ts';
import { describeError } from '../k8s/client.ts';
import type { KubeObject } from '../k8s/types.ts';

/** What to watch: a collection path and optional selectors. */
export interface InformerSpec {
  /** For logs and problems: "Ingress", "Secret". */
  readonly name: string;
  /** The collection, e.g. /apis/networking.k8s.io/v1/ingresses or .../namespaces/NS/ingresses. */
  readonly path: string;
  readonly fieldSelector?: string;
  readonly labelSelector?: string;
}

/** Where the informer's objects go. Raw API objects; the owner normalises them. */
export interface InformerHandlers {
  upsert(obj: KubeObject): void;
  remove(obj: KubeObject): void;
  /** After every successful list (first sync, relist after 410, restart): every object now listed. */
  resynced(objects: readonly KubeObject[]): void;
}

/** Options of SupervisedInformer. */
export interface SupervisedInformerOptions {
  readonly spec: InformerSpec;
  readonly client: Pick<KubeClient, 'request' | 'watch'>;
  readonly handlers: InformerHandlers;
  /** First restart delay (default 1 s), doubled per consecutive failure up to `maxBackoffMs` (default 30 s). */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** No sign of life for this long restarts the informer (default 3 min; the library re-watches every 30 s when idle). */
  readonly watchdogMs?: number;
  /** A list slower than this fails (default 60 s). */
  readonly listTimeoutMs?: number;
  /** Monotonic ms (tests). */
  readonly now?: () => number;
  /** In [0, 1) (tests). */
  readonly random?: () => number;
  readonly log?: Logger;
}

/** Where an informer is in its life, for /status and tests. */
export type InformerState = 'idle' | 'listing' | 'watching' | 'backoff' | 'closed';

/** One resource's informer under supervision. See the module comment. */
export class SupervisedInformer {
  readonly spec: InformerSpec;
  readonly #opts: SupervisedInformerOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #synced: Promise<void>;
  #resolveSynced!: () => void;
  #state: InformerState = 'idle';
  #run = 0;
  #current: ListWatch<any> | undefined;
  #failures = 0;
  #runStarted = 0;
  #lastActivity = 0;
  #lastError: string | undefined;
  #hasSynced = false;
  #restarts = 0;
  #backoffTimer: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #errorListeners = new Set<() => void>();

  constructor(opts: SupervisedInformerOptions) {
    this.spec = opts.spec;
    this.#opts = opts;
    this.#log = opts.log ?? createLogger({ level: 'warn' });
    this.#now = opts.now ?? (() => performance.now());
    this.#random = opts.random ?? Math.random;
    this.#synced = new Promise((resolve) => (this.#resolveSynced = resolve));
  }

  /** True once a list has succeeded and been applied (sticky: a later outage serves the last view). */
  get synced(): boolean {
    return this.#hasSynced;
  }

  get state(): InformerState {
    return this.#state;
  }

  /** The error that caused the current backoff; cleared by the next successful list. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** Restarts so far (errors and watchdog). */
  get restarts(): number {
    return this.#restarts;
  }

  /** Calls `listener` whenever lastError changes (set or cleared). */
  onErrorChange(listener: () => void): () => void {
    this.#errorListeners.add(listener);
    return () => void this.#errorListeners.delete(listener);
  }

  /** Starts the informer; a second call does nothing (a double start would run two watches). */
  start(): void {
    if (this.#state !== 'idle') return;
    const watchdogMs = this.#opts.watchdogMs ?? 180_000;
    this.#watchdog = setInterval(() => this.#checkWatchdog(watchdogMs), Math.max(10, watchdogMs / 4));
    this.#watchdog.unref();
    this.#launch();
  }

  /** Resolves after the first successful list; never rejects (errors are retried). */
  whenSynced(): Promise<void> {
    return this.#synced;
  }

  /** Stops for good; callbacks still in flight are ignored. */
  async close(): Promise<void> {
    this.#state = 'closed';
    this.#run++;
    clearTimeout(this.#backoffTimer);
    clearInterval(this.#watchdog);
    const lw = this.#current;
    this.#current = undefined;
    await lw?.stop();
  }

  /** Replaces the running informer now (the watchdog; tests). */
  restart(reason: string): void {
    if (this.#state === 'closed' || this.#state === 'idle') return;
    this.#fail(new Error(reason));
  }

  #launch(): void {
    const run = ++this.#run;
    const live = (): boolean => run === this.#run && this.#state !== 'closed';
    const { spec, client, handlers } = this.#opts;
    let listed = false;
    this.#state = 'listing';
    this.#runStarted = this.#now();
    this.#lastActivity = this.#runStarted;
    const listFn = async (): Promise<KubeList<any>> => {
      const query: Record<string, string> = {};
      if (spec.fieldSelector !== undefined) query.fieldSelector = spec.fieldSelector;
      if (spec.labelSelector !== undefined) query.labelSelector = spec.labelSelector;
      const list = await client.request<KubeList<any>>('GET', spec.path, { query, timeoutMs: this.#opts.listTimeoutMs ?? 60_000 });
      if (!Array.isArray(list?.items)) throw new Error(`the list of ${spec.path} has no items`);
      for (const item of list.items) slim(item);
      listed = true;
      return list;
    };
    // ListWatch calls watch() right after it applied a list: that is the sync point.
    const watch: WatchTransport = {
      watch: async (path, query, callback, done) => {
        if (!live()) return { abort() {} };
        this.#lastActivity = this.#now();
        if (listed) {
          listed = false;
          this.#listed(lw);
        }
        this.#state = 'watching';
        return client.watch.watch(path, query, (phase, obj, raw) => {
          if (!live()) return;
          this.#lastActivity = this.#now();
          callback(phase, slim(obj), raw);
        }, (err) => {
          if (live()) done(err);
        });
      },
    };
    const lw = new ListWatch<any>(spec.path, watch as never, listFn, false, spec.labelSelector, spec.fieldSelector);
    const guard = (what: string, fn: (obj: KubeObject) => void) => (obj: KubeObject) => {
      if (!live()) return;
      try {
        fn(obj);
      } catch (err) {
        this.#log.error(`${spec.name} informer: ${what} handler threw`, { err });
      }
    };
    lw.on('add', guard('add', handlers.upsert));
    lw.on('update', guard('update', handlers.upsert));
    lw.on('delete', guard('delete', handlers.remove));
    lw.on('error', (err) => {
      if (live()) this.#fail(err);
    });
    this.#current = lw;
    lw.start().catch((err) => {
      if (live()) this.#fail(err);
    });
  }

  #listed(lw: ListWatch<any>): void {
    try {
      this.#opts.handlers.resynced(lw.list() as KubeObject[]);
    } catch (err) {
      this.#log.error(`${this.spec.name} informer: resync handler threw`, { err });
    }
    this.#setError(undefined);
    if (!this.#hasSynced) {
      this.#hasSynced = true;
      this.#log.info(`${this.spec.name} informer synced`, { path: this.spec.path });
      this.#resolveSynced();
    }
  }

  #fail(err: unknown): void {
    if (this.#state === 'closed' || this.#state === 'backoff') return;
    this.#run++; // the failed run's callbacks are now ignored
    const lw = this.#current;
    this.#current = undefined;
    void lw?.stop();
    // A run that stayed up a while was healthy: start the backoff over.
    if (this.#now() - this.#runStarted > 30_000) this.#failures = 0;
    const initial = this.#opts.initialBackoffMs ?? 1000;
    const max = this.#opts.maxBackoffMs ?? 30_000;
    const base = Math.min(max, initial * 2 ** Math.min(this.#failures, 20));
    const delay = Math.round(base * (0.8 + 0.4 * this.#random())); // ±20 %: replicas do not retry in lockstep
    this.#failures++;
    this.#restarts++;
    this.#state = 'backoff';
    this.#setError(`${describeError(err)}; retrying in ${Math.ceil(delay / 1000)}s`);
    this.#log.warn(`${this.spec.name} informer failed; restarting`, { path: this.spec.path, error: describeError(err), delayMs: delay });
    this.#backoffTimer = setTimeout(() => {
      if (this.#state === 'backoff') this.#launch();
    }, delay);
    this.#backoffTimer.unref();
  }

  #checkWatchdog(watchdogMs: number): void {
    if (this.#state !== 'listing' && this.#state !== 'watching') return;
    const quiet = this.#now() - this.#lastActivity;
    if (quiet > watchdogMs) this.#fail(new Error(`watchdog: no list, watch or event for ${Math.round(quiet)} ms`));
  }

  #setError(message: string | undefined): void {
    if (message === this.#lastError) return;
    this.#lastError = message;
    for (const l of [...this.#errorListeners]) l();
  }
}

/**
 * Drops what no consumer reads and what can dwarf the object itself
 * (managedFields, kubectl's last-applied copy) before the library's cache
 * keeps it: every object is held twice (the informer's cache and ours).
 * Mutates a freshly parsed object that nothing else references.
 */
function slim(obj: any): any {
  const meta = obj?.metadata;
  if (meta !== undefined && meta !== null) {
    delete meta.managedFields;
    if (meta.annotations) delete meta.annotations['kubectl.kubernetes.io/last-applied-configuration'];
  }
  return obj;
}
