// `--workers N`: the proxy's supervisor. It holds the controller stream (the
// stream client sees it as its SnapshotApplier) and N worker processes
// (worker.ts) serve traffic, each with its own DataPlane bound to the same
// ports with SO_REUSEPORT. Why reusePort rather than node:cluster: see
// docs/workers.md.
//
// A snapshot is applied in two phases so every worker serves the same
// version: prepare it in all workers (validate, build, bind new listeners),
// then commit in all and ACK; if any worker refuses (or does not answer in
// time), abort in all and NACK with that worker's reason. Workers in step get
// a JSON patch from the version they serve (diffSnapshots: the maps the
// stream client's delta copied name the keys it wrote, and subtrees shared
// with the served snapshot are skipped, so it costs what changed); others the
// whole snapshot (its overlays, stream/overlay.ts, copied plain: a Proxy
// cannot be structured-cloned).
//
// A worker that dies is forked again (backoff 1 s doubling to 30 s) and gets
// the current snapshot before it binds anything; its siblings keep serving.
// close() asks every worker to drain and waits for them to exit.
import { fork, type ChildProcess } from 'node:child_process';
import { diffSnapshots } from '../api/diff.ts';
import type { Snapshot } from '../api/snapshot.ts';
import { deepFreeze } from '../api/version.ts';
import type { Logger } from '../lib/log.ts';
import type { DataPlaneStatus } from './apply.ts';
import type { ApplyOutcome, SnapshotApplier } from './applier.ts';
import { ApplyCode } from './errors.ts';
import { withoutOverlays } from './stream/overlay.ts';
import type { FromWorker, ToWorker, WorkerConfig } from './worker-protocol.ts';

// worker.ts next to this file when run from source, worker.js in the built package (dist/).
const WORKER_ENTRY = new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url);

/** Options of WorkerSet. */
export interface WorkerSetOptions {
  readonly count: number;
  readonly config: WorkerConfig;
  readonly log: Logger;
  /** Node flags of the worker processes: the heap settings of cli/heap.ts. Default none. */
  readonly execArgv?: readonly string[];
  /** How long a worker may take to prepare (or commit) a snapshot before it is counted as failed and restarted. Default 60 s. */
  readonly prepareTimeoutMs?: number;
}

/** A reply awaited from one worker. */
interface Waiter {
  readonly type: FromWorker['type'];
  readonly resolve: (msg: FromWorker) => void;
}

/** One worker process and its replies. */
class Worker {
  readonly child: ChildProcess;
  readonly index: number;
  /** The version it serves (committed), undefined before its first commit. */
  version: string | undefined;
  readonly started = Date.now();
  readonly #waiters = new Map<number, Waiter>();
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;

  constructor(index: number, config: WorkerConfig, execArgv: readonly string[]) {
    this.index = index;
    // Only the flags asked for: not this process's own (a --cpu-prof or --import meant for it).
    this.child = fork(WORKER_ENTRY, [JSON.stringify(config)], { serialization: 'advanced', execArgv: [...execArgv], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const ready = Promise.withResolvers<void>();
    this.ready = ready.promise;
    this.exited = new Promise((resolve) => this.child.once('exit', () => {
      ready.reject(new Error(`worker ${index} exited before it was ready`));
      for (const w of this.#waiters.values()) w.resolve({ type: 'prepared', seq: -1, ok: false, code: ApplyCode.WORKER_FAILED, reason: `worker ${index} exited` });
      this.#waiters.clear();
      resolve();
    }));
    this.ready.catch(() => {});
    this.child.on('message', (msg: FromWorker) => {
      if (msg.type === 'ready') { ready.resolve(); return; }
      const w = this.#waiters.get(msg.seq);
      if (w !== undefined && w.type === msg.type) {
        this.#waiters.delete(msg.seq);
        w.resolve(msg);
      }
    });
  }

  /** Sends `msg` and resolves with the worker's reply of `type`, or a failure after `timeoutMs` or on exit. */
  request(msg: ToWorker & { seq: number }, type: FromWorker['type'], timeoutMs: number): Promise<FromWorker> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(msg.seq);
        resolve({ type: 'prepared', seq: msg.seq, ok: false, code: ApplyCode.WORKER_FAILED, reason: `worker ${this.index} did not answer ${msg.type} within ${timeoutMs} ms` });
        this.child.kill('SIGKILL'); // restarted with the current snapshot
      }, timeoutMs);
      this.#waiters.set(msg.seq, { type, resolve: (m) => { clearTimeout(timer); resolve(m); } });
      const fail = (why: string) => {
        this.#waiters.get(msg.seq)?.resolve({ type: 'prepared', seq: msg.seq, ok: false, code: ApplyCode.WORKER_FAILED, reason: `worker ${this.index}: ${why}` });
        this.#waiters.delete(msg.seq);
      };
      if (!this.child.connected) { fail('not connected'); return; }
      this.child.send(msg, (err) => {
        if (err) fail(err.message);
      });
    });
  }
}

/** The supervisor's view of its workers; see the top of the file. */
export class WorkerSet implements SnapshotApplier {
  readonly #opts: WorkerSetOptions;
  readonly #log: Logger;
  readonly #timeoutMs: number;
  readonly #workers: Array<Worker | undefined>;
  #current: Snapshot | undefined;
  #appliedAt: Date | undefined;
  /** The last status of each worker, by index. */
  readonly #status = new Map<number, DataPlaneStatus>();
  #queue: Promise<unknown> = Promise.resolve();
  #seq = 0;
  #closing = false;

  private constructor(opts: WorkerSetOptions) {
    this.#opts = opts;
    this.#log = opts.log;
    this.#timeoutMs = opts.prepareTimeoutMs ?? 60_000;
    this.#workers = new Array(opts.count).fill(undefined);
  }

  /** Forks `count` workers and waits until each is ready for its first snapshot. */
  static async start(opts: WorkerSetOptions): Promise<WorkerSet> {
    const set = new WorkerSet(opts);
    await Promise.all(set.#workers.map((_, i) => set.#spawn(i, 0)));
    return set;
  }

  /** The snapshot every worker serves (the stream's delta base). */
  get current(): Snapshot | undefined {
    return this.#current;
  }

  /**
   * Admin's view: the version every worker serves, the first worker's
   * listeners and counts (the same in all), pools and long-lived connections
   * summed, as of the last apply.
   */
  status(): DataPlaneStatus {
    const all = [...this.#status.values()];
    const first = all[0];
    const sum = (f: (s: DataPlaneStatus) => number) => all.reduce((n, s) => n + f(s), 0);
    return {
      version: this.#current?.version,
      appliedAt: this.#appliedAt,
      listeners: first?.listeners ?? {},
      counts: first?.counts,
      upstreamPools: sum((s) => s.upstreamPools),
      longLived: { open: sum((s) => s.longLived.open), orphaned: sum((s) => s.longLived.orphaned), drained: sum((s) => s.longLived.drained) },
    };
  }

  /** See SnapshotApplier.apply: ACK once every worker serves the candidate. */
  apply(candidate: unknown): Promise<ApplyOutcome> {
    const run = this.#queue.then(() => this.#apply(candidate));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #apply(candidate: unknown): Promise<ApplyOutcome> {
    const version = typeof candidate === 'object' && candidate !== null ? (candidate as { version?: unknown }).version : undefined;
    if (typeof version !== 'string') return { ok: false, code: ApplyCode.SNAPSHOT_INVALID, reason: 'a snapshot needs a string version' };
    if (this.#closing) return { ok: false, version, code: ApplyCode.APPLIER_CLOSED, reason: 'the proxy is shutting down' };
    const workers = this.#workers.filter((w): w is Worker => w !== undefined);
    if (workers.length === 0) return { ok: false, version, code: ApplyCode.WORKER_FAILED, reason: 'no worker is running' };
    const started = performance.now();
    const seq = ++this.#seq;
    const base = this.#current;
    let delta: ToWorker | undefined;
    let full: ToWorker | undefined;
    const messageFor = (w: Worker): ToWorker => {
      if (base === undefined || w.version !== base.version) return full ??= { type: 'prepare', seq, snapshot: withoutOverlays(candidate as Snapshot) };
      delta ??= { type: 'prepare', seq, base: base.version, version, patch: diffSnapshots(base, candidate as Snapshot) };
      return delta;
    };
    const replies = await Promise.all(workers.map((w) => w.request({ ...messageFor(w), seq } as ToWorker & { seq: number }, 'prepared', this.#timeoutMs)));
    const refused = replies.findIndex((r) => r.type !== 'prepared' || !r.ok);
    if (refused !== -1) {
      await Promise.all(workers.map((w, i) => (replies[i]?.type === 'prepared' && replies[i].ok ? w.request({ type: 'abort', seq }, 'aborted', this.#timeoutMs) : undefined)));
      const r = replies[refused] as Extract<FromWorker, { type: 'prepared'; ok: false }>;
      return { ok: false, version, code: r.code, reason: workers.length > 1 ? `worker ${workers[refused]!.index}: ${r.reason}` : r.reason };
    }
    await Promise.all(workers.map(async (w) => {
      const c = await w.request({ type: 'commit', seq }, 'committed', this.#timeoutMs);
      if (c.type === 'committed') w.version = c.version;
    }));
    this.#current = deepFreeze(candidate as Snapshot);
    this.#appliedAt = new Date();
    this.#log.info('snapshot served by every worker', { version, workers: workers.length, ms: Math.round(performance.now() - started) });
    // For admin only: not worth delaying the ACK for.
    void Promise.all(workers.map((w) => this.#refreshStatus(w)));
    return { ok: true, version };
  }

  async #refreshStatus(w: Worker): Promise<void> {
    const r = await w.request({ type: 'status', seq: ++this.#seq }, 'status', this.#timeoutMs);
    if (r.type === 'status') this.#status.set(w.index, r.status);
  }

  /** Forks worker `i`; once ready, brings it to the current snapshot (under the apply queue). */
  async #spawn(i: number, backoffMs: number): Promise<void> {
    const w = new Worker(i, this.#opts.config, this.#opts.execArgv ?? []);
    this.#workers[i] = w;
    void w.exited.then(() => this.#onExit(w, backoffMs));
    await w.ready;
    if (this.#current === undefined) return;
    const catchUp = this.#queue.then(async () => {
      const seq = ++this.#seq;
      const p = await w.request({ type: 'prepare', seq, snapshot: withoutOverlays(this.#current!) }, 'prepared', this.#timeoutMs);
      if (p.type === 'prepared' && p.ok) {
        const c = await w.request({ type: 'commit', seq }, 'committed', this.#timeoutMs);
        if (c.type === 'committed') w.version = c.version;
        this.#log.info('worker restarted and serving', { worker: i, version: w.version });
      } else if (p.type === 'prepared' && !p.ok) {
        this.#log.error('restarted worker refused the current snapshot', { worker: i, code: p.code, reason: p.reason });
      }
    });
    this.#queue = catchUp.catch(() => undefined);
    await catchUp;
  }

  #onExit(w: Worker, backoffMs: number): void {
    if (this.#workers[w.index] === w) this.#workers[w.index] = undefined;
    if (this.#closing) return;
    // A worker that lived a minute starts over at 1 s.
    const next = Date.now() - w.started > 60_000 ? 1_000 : Math.min(30_000, Math.max(1_000, backoffMs * 2));
    this.#log.error('worker exited; restarting', { worker: w.index, code: w.child.exitCode, signal: w.child.signalCode, inMs: next });
    setTimeout(() => {
      if (!this.#closing) this.#spawn(w.index, next).catch((err: Error) => this.#log.error('worker restart failed', { worker: w.index, err: err.message }));
    }, next).unref();
  }

  /** Worker pids, for tests and admin. */
  pids(): number[] {
    return this.#workers.flatMap((w) => (w?.child.pid === undefined ? [] : [w.child.pid]));
  }

  /** Asks every worker to drain (stop accepting, finish, exit); resolves once all exited, killing any left after `graceMs`. */
  async close(graceMs: number): Promise<void> {
    this.#closing = true;
    await this.#queue;
    const workers = this.#workers.filter((w): w is Worker => w !== undefined);
    for (const w of workers) if (w.child.connected) w.child.send({ type: 'drain' } satisfies ToWorker);
    const timer = setTimeout(() => { for (const w of workers) w.child.kill('SIGKILL'); }, graceMs);
    await Promise.all(workers.map((w) => w.exited));
    clearTimeout(timer);
  }
}
