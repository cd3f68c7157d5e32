// The build loop: cache change → hold-off → compile → publish. Like Contour's
// event loop, changes are batched with a hold-off (100 ms of quiet, at most
// 500 ms after the first change) so a burst of events (a deploy touching many
// EndpointSlices, a relist) costs one compile, yet no change waits longer than
// the maximum.
import type { Snapshot } from '../api/snapshot.ts';
import { SnapshotValidationError } from '../api/validate.ts';
import type { ObjectCache } from './cache.ts';
import type { CompileFn, CompileInput, CompileOptions, CompileResult } from './compile/types.ts';
import { TurnoutError } from './errors.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import type { SnapshotStore } from './snapshot/store.ts';
import { HoldOff, type HoldOffTiming } from './holdoff.ts';

/** Options of BuildLoop. */
export interface BuildLoopOptions {
  readonly cache: ObjectCache;
  /** The compiler (controller/compile), or a stand-in in tests. */
  readonly compile: CompileFn;
  /**
   * The endpoint fast path (compile/endpoints.ts), used when only
   * EndpointSlices changed since the last successful build; it may decline
   * (undefined), and then `compile` runs.
   */
  readonly compileEndpoints?: (input: CompileInput, previous: CompileResult) => CompileResult | undefined;
  readonly options: CompileOptions;
  readonly store: SnapshotStore;
  /** Defaults to Contour's 100 ms quiet / 500 ms max. */
  readonly holdOff?: HoldOffTiming;
  /** Called after every successful compile with its conditions (for logs and the status writer). */
  readonly onResult?: (result: CompileResult) => void;
  readonly log?: Logger;
}

/**
 * Compiles the cache into snapshots and publishes new versions. A compile that
 * throws, or yields an invalid snapshot, is a bug: it is logged and the last
 * good snapshot keeps being served (Skipper's rule: the last successful update
 * stays until the next successful one).
 */
export class BuildLoop {
  readonly #opts: BuildLoopOptions;
  readonly #log: Logger;
  readonly #holdOff: HoldOff;
  readonly #first: Promise<Snapshot>;
  #resolveFirst!: (snapshot: Snapshot) => void;
  #rejectFirst!: (err: Error) => void;
  #unsubscribe: (() => void) | undefined;
  #builds = 0;
  #fastBuilds = 0;
  #failures = 0;
  /** Kinds changed since the last build started. */
  #dirtyKinds = new Set<string>();
  /** The last successful compile, the base of the endpoint fast path. */
  #lastResult: CompileResult | undefined;
  #lastError: TurnoutError | undefined;

  constructor(opts: BuildLoopOptions) {
    this.#opts = opts;
    this.#log = opts.log ?? createLogger({ level: 'warn' });
    this.#holdOff = new HoldOff(() => this.#build(), opts.holdOff);
    this.#first = new Promise((resolve, reject) => {
      this.#resolveFirst = resolve;
      this.#rejectFirst = reject;
    });
    // Nobody may be waiting; a failed first build must not become an unhandled rejection.
    this.#first.catch(() => {});
  }

  /**
   * Builds now and then on every cache change. Call it only once every source
   * is synced: building from a half-filled cache would publish a snapshot with
   * routes missing.
   */
  start(): void {
    if (this.#unsubscribe !== undefined) return;
    this.#unsubscribe = this.#opts.cache.onChange((change) => {
      for (const key of change.keys) this.#dirtyKinds.add(key.slice(0, key.indexOf('/')));
      this.#holdOff.trigger();
    });
    this.#build();
  }

  /**
   * Resolves with the first snapshot this loop (or anyone) published: for local
   * mode and tests. Rejects when the first build fails, since nothing could be
   * served and start-up must not wait forever.
   */
  firstSnapshot(): Promise<Snapshot> {
    const current = this.#opts.store.current;
    if (current !== undefined) this.#resolveFirst(current);
    return this.#first;
  }

  /** Runs a pending (held-off) build immediately; false if none was pending. */
  flush(): boolean {
    return this.#holdOff.flush();
  }

  /** Counters for metrics and tests. `lastError` is cleared by the next successful build. */
  stats(): { builds: number; fastBuilds: number; failures: number; lastError: TurnoutError | undefined } {
    return { builds: this.#builds, fastBuilds: this.#fastBuilds, failures: this.#failures, lastError: this.#lastError };
  }

  /** Stops reacting to changes; a pending build is dropped. */
  close(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#holdOff.cancel();
  }

  #build(): void {
    const { cache, compile, options, store, onResult } = this.#opts;
    const previous = store.current;
    const generation = cache.generation;
    this.#builds++;
    const endpointsOnly = this.#dirtyKinds.size > 0 && [...this.#dirtyKinds].every((k) => k === 'EndpointSlice');
    this.#dirtyKinds = new Set();
    // The fast path builds on the last good result (#fail forgets it: that
    // result may predate the failed build's changes, so a full build follows).
    const base = endpointsOnly && this.#lastResult?.snapshot.version === previous?.version ? this.#lastResult : undefined;
    let result: CompileResult;
    try {
      const input = cache.inputs();
      const fast = base !== undefined ? this.#opts.compileEndpoints?.(input, base) : undefined;
      if (fast !== undefined) this.#fastBuilds++;
      result = fast ?? compile(input, options, previous);
    } catch (err) {
      this.#fail('BUILD_COMPILE_FAILED', 'compile failed; keeping the last snapshot', err, generation);
      return;
    }
    if (onResult !== undefined) {
      try {
        onResult(result);
      } catch (err) {
        this.#log.error('the compile result listener threw', { err });
      }
    }
    const snapshot = result.snapshot;
    if (snapshot.version !== previous?.version) {
      try {
        store.publish(snapshot);
        this.#log.info('published snapshot', { version: snapshot.version, previous: previous?.version, generation });
      } catch (err) {
        // A subscriber that throws does not undo the publish; only a refused snapshot is a build failure.
        if (store.current !== snapshot) {
          const code = err instanceof SnapshotValidationError ? 'BUILD_SNAPSHOT_INVALID' : 'BUILD_COMPILE_FAILED';
          this.#fail(code, 'compiled snapshot refused; keeping the last snapshot', err, generation);
          return;
        }
        this.#log.error('a snapshot subscriber threw', { err, version: snapshot.version });
      }
    }
    this.#lastError = undefined;
    this.#lastResult = result;
    if (store.current !== undefined) this.#resolveFirst(store.current);
  }

  #fail(code: 'BUILD_COMPILE_FAILED' | 'BUILD_SNAPSHOT_INVALID', message: string, err: unknown, generation: number): void {
    this.#failures++;
    this.#lastResult = undefined;
    this.#lastError = new TurnoutError(code, `${message}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    this.#log.error(this.#lastError.message, { code, generation, err });
    if (this.#opts.store.current === undefined) this.#rejectFirst(this.#lastError);
  }
}
