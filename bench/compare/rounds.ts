// Measuring several servers in rounds instead of one after another. This
// machine's speed drifts by 30–50 % over minutes, and not the same way for
// every process (docs/performance.md, "slow mode"): measured one after the
// other, nginx could meet a fast minute and Turnout a slow one, and the
// ratio between them would say more about the minute than about either.
// In rounds, every server runs once per round (the order rotated from round
// to round), so each one's median is taken over the same minutes, and a
// ratio can be taken per round (pairedRatio) as scenario 3 does for tables.
import { load, type Ctx } from './context.ts';
import { groupCpuMs } from './cpu.ts';
import { median } from './report.ts';
import type { Target } from './servers.ts';

/** One server's runs in round order, with the CPU its process group spent during them. */
export interface RoundRuns<R> {
  readonly runs: R[];
  /** CPU ms of the group over the measured runs only (warm-ups excluded); NaN without a pid. */
  readonly cpuMs: number;
}

/** What is measured: a started server with its process group (pid). */
export interface RoundTarget {
  readonly pid?: number;
}

/**
 * Warms every target up once (`warm`), then runs `reps` rounds: in each, every
 * target gets `warm` again (a short one: the others ran meanwhile, and idle
 * keep-alive connections may have closed) and one measured `run`. Returns the
 * runs per target, in the targets' order. `onRound` hears each round begin (progress lines).
 */
export async function inRounds<T extends RoundTarget, R>(
  targets: readonly T[], reps: number, warm: (t: T, first: boolean) => Promise<unknown>, run: (t: T) => Promise<R>,
  onRound: (round: number) => void = () => {},
): Promise<RoundRuns<R>[]> {
  for (const t of targets) await warm(t, true);
  const runs = targets.map(() => [] as R[]);
  const cpu = targets.map(() => 0);
  for (let round = 0; round < reps; round++) {
    onRound(round);
    for (const i of rotated(targets.length, round)) {
      const t = targets[i]!;
      await warm(t, false);
      const before = t.pid ? groupCpuMs(t.pid) : 0;
      runs[i]!.push(await run(t));
      cpu[i]! += t.pid ? groupCpuMs(t.pid) - before : NaN;
    }
  }
  return targets.map((_, i) => ({ runs: runs[i]!, cpuMs: cpu[i]! }));
}

/** One server of a scenario's group, with what its row says of it. */
export interface Member<K> {
  readonly t: Target;
  readonly kind: K;
  readonly workers: number;
}

/**
 * A scenario's servers measured in rounds: `add` starts them and hands each
 * to `push` (every one is stopped afterwards, also on a failure, except the
 * shared backend), then inRounds with a progress line per round. Returns
 * each member with its runs, in the order pushed.
 */
export async function measureGroup<K, R>(
  ctx: Ctx, add: (push: (m: Member<K>) => void) => Promise<void>, reps: number,
  warm: (t: Target, first: boolean) => Promise<unknown>, run: (t: Target) => Promise<R>,
): Promise<Array<Member<K> & RoundRuns<R>>> {
  const group: Member<K>[] = [];
  try {
    await add((m) => group.push(m));
    console.log(`  ${group.length} servers started`);
    const results = await inRounds(group.map((g) => g.t), reps, warm, run, (round) => console.log(`  round ${round + 1} of ${reps} [${load()}]`));
    return group.map((g, i) => ({ ...g, ...results[i]! }));
  } finally {
    for (const g of group) if (g.t !== ctx.backend) await ctx.stop(g.t);
  }
}

/** Indexes 0..n-1 starting at `round` mod n: each target leads a round in turn. */
export function rotated(n: number, round: number): number[] {
  return Array.from({ length: n }, (_, k) => (k + round) % n);
}

/**
 * Median over rounds of a's rate / b's rate in the same round: the steadier
 * ratio when both were measured in rounds (undefined when the run counts differ).
 */
export function pairedRatio(a: readonly { rps: number }[], b: readonly { rps: number }[]): number | undefined {
  if (a.length === 0 || a.length !== b.length) return undefined;
  return median(a.map((x, i) => x.rps / b[i]!.rps));
}
