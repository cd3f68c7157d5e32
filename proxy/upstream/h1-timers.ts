// The timers of one upstream connection (h1-connection.ts), kept off the
// per-request path: Node timer objects are created once per connection and
// refreshed, never one per request.
// - Idle: when a connection is parked, the time is noted; a timer already
//   pending checks it when it fires and waits for the rest (a timer insert per
//   request showed in profiles). It is re-armed only when a Keep-Alive hint
//   made the idle time shorter than what the pending timer waits for.
// - Request: the wait for response headers (headersTimeout) or between body
//   chunks (bodyTimeout); forward.ts sets both to 0 (its Exchange has its
//   own), mirror.ts sets them. A timer left pending by a previous request
//   fires into mode NONE and does nothing.

/** What the request timer counts. */
export const WAIT = { NONE: 0, HEADERS: 1, BODY: 2 } as const;

/** What the timers report to (the connection). */
export interface TimerOwner {
  /** The idle time passed with the connection still idle. */
  idleExpired(): void;
  /** The request timer expired in `mode` (WAIT.HEADERS or WAIT.BODY). */
  waitExpired(mode: number): void;
}

/** The idle and request timers of one connection. */
export class ConnectionTimers {
  readonly #owner: TimerOwner;
  #idle: NodeJS.Timeout | undefined;
  #idleTimerMs = 0;
  #idleArmed = false;
  /** The current idle period: since when, how long (performance.now() ms). */
  #idleSince = 0;
  #idleMs = 0;
  #idleFiresAt = 0;
  #wait: NodeJS.Timeout | undefined;
  #waitTimerMs = 0;
  /** What the request timer counts now (WAIT). */
  mode: number = WAIT.NONE;

  constructor(owner: TimerOwner) {
    this.#owner = owner;
  }

  /** The connection became idle and may stay so `ms`. */
  parked(ms: number): void {
    const now = performance.now();
    this.#idleSince = now;
    this.#idleMs = ms;
    if (!this.#idleArmed || this.#idleFiresAt > now + ms) this.#armIdle(ms);
  }

  /** Counts `mode` for `ms` (0: nothing counts). */
  wait(mode: number, ms: number): void {
    if (ms <= 0) {
      this.mode = WAIT.NONE;
      return;
    }
    this.mode = mode;
    this.#wait = rearm(this.#wait, this.#waitTimerMs, ms, this.#onWait);
    this.#waitTimerMs = ms;
  }

  /** Progress on what is counted in `mode`: the count starts again. */
  progress(mode: number): void {
    if (this.mode === mode) this.#wait?.refresh();
  }

  /** The connection closed. */
  clear(): void {
    this.mode = WAIT.NONE;
    clearTimeout(this.#idle);
    clearTimeout(this.#wait);
  }

  #armIdle(ms: number): void {
    this.#idleArmed = true;
    this.#idleFiresAt = performance.now() + ms;
    this.#idle = rearm(this.#idle, this.#idleTimerMs, ms, this.#onIdle);
    this.#idleTimerMs = ms;
  }

  readonly #onIdle = (): void => {
    this.#idleArmed = false;
    const left = this.#idleSince + this.#idleMs - performance.now();
    if (left <= 1) this.#owner.idleExpired();
    else this.#armIdle(Math.ceil(left));
  };

  readonly #onWait = (): void => {
    if (this.mode !== WAIT.NONE) this.#owner.waitExpired(this.mode);
  };
}

/**
 * `timer` restarted when it already runs for `ms` (no new timer in the list),
 * else a new unref'd one for `ms`, the old one cleared.
 */
function rearm(timer: NodeJS.Timeout | undefined, timerMs: number, ms: number, fn: () => void): NodeJS.Timeout {
  if (timer !== undefined && timerMs === ms) return timer.refresh();
  clearTimeout(timer);
  return setTimeout(fn, ms).unref();
}
