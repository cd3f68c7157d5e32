// Batching of bursts of events into one action, with a bound on the delay.

/** Hold-off timings: wait for `quietMs` without triggers, but never more than `maxMs` after the first. */
export interface HoldOffTiming {
  readonly quietMs?: number;
  readonly maxMs?: number;
}

/**
 * Coalesces bursts of triggers into one call. Shared by the build loop and the
 * manifest source's reload debounce, so both follow the same timing rules.
 */
export class HoldOff {
  readonly #fn: () => void;
  readonly #quietMs: number;
  readonly #maxMs: number;
  #timer: NodeJS.Timeout | undefined;
  #firstAt = 0;

  constructor(fn: () => void, timing: HoldOffTiming = {}) {
    this.#fn = fn;
    this.#quietMs = timing.quietMs ?? 100;
    this.#maxMs = timing.maxMs ?? 500;
  }

  /** True while a call is scheduled. */
  get pending(): boolean {
    return this.#timer !== undefined;
  }

  /** Schedules the call, or postpones a scheduled one by the quiet time up to the maximum. */
  trigger(): void {
    const now = performance.now();
    if (this.#timer === undefined) this.#firstAt = now;
    else clearTimeout(this.#timer);
    const delay = Math.max(0, Math.min(this.#quietMs, this.#firstAt + this.#maxMs - now));
    this.#timer = setTimeout(() => this.flush(), delay);
  }

  /** Runs a scheduled call now; false if none was scheduled. */
  flush(): boolean {
    if (this.#timer === undefined) return false;
    this.cancel();
    this.#fn();
    return true;
  }

  /** Drops a scheduled call. */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
