// What every scenario module of the comparison gets (the plan, the backend,
// a way to start and stop proxies that are cleaned up on failure) and what it
// gives back (rows, goals, a report section, chart bars), so compare.ts is a
// list of scenarios and the report one goals table.
import os from 'node:os';
import { majorFaultsSinceLast, stealSinceLast } from './cpu.ts';
import path from 'node:path';
import type { GoalResult } from './goals.ts';
import type { Kind, StartOptions, Target } from './servers.ts';

/** Durations of one scenario's measurement: a warm-up, then `reps` runs of `seconds`, median. */
export interface Timing {
  readonly warmup: number;
  readonly seconds: number;
  readonly reps: number;
}

/** The proxies in the order they are reported. */
export const PROXIES = ['nginx', 'haproxy', 'turnout'] as const;
/** A compared proxy (not the backend). */
export type Proxy = (typeof PROXIES)[number];

/** Shared state of one bench run, handed to each scenario. */
export interface Ctx {
  readonly full: boolean;
  /** Worker counts to run (1, then 2 with --full). */
  readonly workers: readonly number[];
  /** Timing of the added scenarios (1b, 2, 3, rate), shorter than scenario 1's. */
  readonly timing: Timing;
  readonly tmp: string;
  readonly backend: Target;
  /** --only: the proxies to run. */
  readonly proxies: readonly Proxy[];
  /** --hosts=10,50000: scenario 3's table sizes instead of the mode's (the first is the reference). */
  readonly hostCounts?: readonly number[];
  /** --turnout-workers=N: Turnout's form forced for every scenario after 1. */
  readonly turnoutOverride?: number;
  /** Turnout's --workers value for the single-core slot (the faster of 0 and 1 in scenario 1). */
  turnoutSingle: number;
  /** Starts a proxy in a fresh folder, tracked so it is stopped on failure. */
  start(kind: Proxy, workers: number, opts?: StartOptions): Promise<Target>;
  /** Tracks a target started otherwise (a reference server), so it is stopped on failure. */
  track(t: Promise<Target>): Promise<Target>;
  stop(t: Target): Promise<void>;
}

/** A bar group of the chart: one scenario, req/s per proxy (1 worker each). */
export interface Bars {
  readonly label: string;
  readonly values: Partial<Record<Proxy, number>>;
}

/** What a scenario module returns: its rows (for the JSON), goals, Markdown section and chart bars. */
export interface ScenarioOutput<Row> {
  readonly id: string;
  readonly rows: Row[];
  readonly goals: GoalResult[];
  /** Markdown: a `## title` section. */
  readonly markdown: string;
  readonly bars: Bars[];
}

/** What a scenario's pure report function derives from its rows (also when re-rendering a results JSON). */
export type Report = Pick<ScenarioOutput<unknown>, 'goals' | 'markdown' | 'bars'>;

/**
 * The load average as printed next to every figure (the machine is shared),
 * and since the previous line the CPU time the hypervisor stole and the
 * machine's major page faults (cpu.ts).
 */
export function load(): string {
  const steal = stealSinceLast();
  const faults = majorFaultsSinceLast();
  return `load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}${steal === undefined ? '' : `, steal ${steal.toFixed(1)} %`}${faults === undefined ? '' : `, major faults ${faults}`}`;
}

/** Turnout's --workers for a worker slot: the single-core form for 1, else the count itself. */
export function workersFor(ctx: Ctx, kind: Kind, w: number): number {
  return kind === 'turnout' && w === 1 ? ctx.turnoutSingle : w;
}

let seq = 0;
/** A fresh folder name for a started server (every start gets its own config and logs). */
export function dirFor(tmp: string, name: string): string {
  return path.join(tmp, `${name}-${++seq}`);
}

/** Number formatting shared by the report sections. */
export const fmt = {
  int: (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a'),
  ms: (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a'),
  ratio: (a: number, b: number | undefined) => (b && Number.isFinite(a) ? `${(a / b).toFixed(2)}×` : 'n/a'),
  us: (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x.toFixed(1) : 'n/a'),
  pct: (x: number) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(1)} %` : 'n/a'),
};

/** Proxy display names, for tables and the chart. */
export const LABEL: Record<Proxy, string> = { nginx: 'nginx', haproxy: 'HAProxy', turnout: 'Turnout' };
