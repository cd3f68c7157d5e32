// Per-request deadlines on one coarse sweep instead of Node timers
// (exchange.ts: the wait for response headers and the body idle bound).
//
// Why not setTimeout per request: a proxied request made two Node timers and
// cleared both, and under load the requests of one event-loop turn end
// together, so each timer list (one per duration) emptied and was created
// again every turn: a `delete` on the lists' map, a priority-queue insert and
// a libuv timer re-armed, besides two Timeout objects and two closures per
// request. Taking those two timers out of a keep-alive run cut the proxy's
// CPU per request by ~13 % (docs/performance.md, "Timers per request").
//
// Here a request is one slot in an array (inflight.ts Slots, written in
// place) and one interval ticks every TICK_MS while any slot is held: each
// tick calls tick(now) on every holder, which compares its own deadlines with
// `now`. A deadline thus fires up to one tick late, never early. The interval
// stops after a tick that finds nothing held, so an idle proxy has no timer;
// under load it runs on, and a turn whose requests all end does not stop it.
// A tick costs one call per request in flight: at 10k long-lived requests,
// ~400k calls per second, well under 1 % of a core.
import { Slots } from './inflight.ts';

/** What the sweep calls: compares its deadlines with `now` (performance.now() ms) and acts on the due ones. */
export interface Ticking {
  tick(now: number): void;
}

/** The sweep's period: the most a deadline can fire late. */
export const TICK_MS = 25;

/** Holders of deadlines and the interval that ticks them (one per process: `deadlines`). */
export class Sweep {
  readonly #held = new Slots<Ticking>();
  readonly #tickMs: number;
  #interval: NodeJS.Timeout | undefined;

  constructor(tickMs = TICK_MS) {
    this.#tickMs = tickMs;
  }

  /** Ticks `t` from now on; returns the slot to give to remove() once. */
  add(t: Ticking): number {
    // Unref'd: a deadline never keeps a process alive by itself (its request's sockets do).
    this.#interval ??= setInterval(this.#sweep, this.#tickMs).unref();
    return this.#held.add(t);
  }

  /** Stops ticking a slot add() returned (a second remove is ignored). */
  remove(slot: number): void {
    this.#held.remove(slot);
  }

  /** Holders being ticked (tests). */
  get size(): number {
    return this.#held.size;
  }

  /** The interval is set (tests: it must stop when nothing is held). */
  get running(): boolean {
    return this.#interval !== undefined;
  }

  readonly #sweep = (): void => {
    if (this.#held.size === 0) {
      clearInterval(this.#interval);
      this.#interval = undefined;
      return;
    }
    const now = performance.now();
    // A holder may remove itself (or others) while ticked: Slots iterates
    // the array in place, and an emptied slot is skipped.
    for (const t of this.#held) {
      try {
        t.tick(now);
      } catch {
        // A holder's failure must not stop the others' deadlines; holders
        // catch their own errors (exchange.ts answers the client).
      }
    }
  };
}

/** The process's sweep for request deadlines. */
export const deadlines = new Sweep();
