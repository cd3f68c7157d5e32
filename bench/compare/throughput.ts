// Scenario 1: HTTP/1.1 keep-alive throughput and p50/p99 with wrk, direct to
// the backend (the ceiling) and through each proxy with 1 worker (Turnout both
// in-process and with one worker process) and, with --full, 2, all measured
// in rounds (rounds.ts). Its medians are also the "max rate" the fixed-rate
// scenario takes half of.
import { fmt, load, PROXIES, type Ctx, type Proxy, type Report, type ScenarioOutput } from './context.ts';
import type { GoalResult } from './goals.ts';
import { median, type Throughput } from './report.ts';
import { turnoutEngine, type Target } from './servers.ts';
import { failures, runWrk, type WrkResult } from './wrk.ts';
import { measureGroup, pairedRatio, type RoundRuns } from './rounds.ts';
import { startReference } from './reference.ts';

/** wrk's connections in scenarios 1, 2 and 4 (as in issue 8's measurements). */
export const CONNECTIONS = 50;

/** Scenario 1's own timing (longer than the added scenarios': it is the headline figure). */
export function keepAliveTiming(full: boolean): { warmup: number; seconds: number; reps: number } {
  return full ? { warmup: 3, seconds: 10, reps: 5 } : { warmup: 2, seconds: 4, reps: 3 };
}

/** Scenario 1's row of one target from its runs (in round order) and the CPU they cost. */
function throughputRow(t: Target, kind: Throughput['kind'], workers: number, { runs, cpuMs }: RoundRuns<WrkResult>): Throughput {
  const cpuUsPerReq = cpuMs * 1000 / runs.reduce((s, x) => s + x.requests, 0);
  const r: Throughput = { target: t.name, kind, workers, runs, rps: median(runs.map((x) => x.rps)), p50: median(runs.map((x) => x.p50)), p99: median(runs.map((x) => x.p99)), cpuUsPerReq, inRounds: true };
  console.log(`  ${t.name}: ${Math.round(r.rps)} req/s (runs ${runs.map((x) => Math.round(x.rps)).join(', ')}), p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ${fmt.us(cpuUsPerReq)} µs CPU/req, failed ${runs.reduce((s, x) => s + failures(x), 0)}`);
  return r;
}

/** The best single-core row of a kind (Turnout: the faster of --workers 0 and 1). */
export function bestSingle(rows: readonly Throughput[], kind: Throughput['kind']): Throughput | undefined {
  return rows.filter((x) => x.kind === kind && x.workers <= 1).sort((a, b) => b.rps - a.rps)[0];
}

/** The keep-alive goal: Turnout's best single-core req/s against nginx's (milestone 0.5×, goal 0.8×). */
export function keepAliveGoals(rows: readonly Throughput[]): GoalResult[] {
  const tn = bestSingle(rows, 'turnout');
  const ng = bestSingle(rows, 'nginx');
  if (!tn || !ng) return [];
  const r = tn.rps / ng.rps;
  // Rows measured in rounds (rounds.ts) also give the ratio round by round.
  const paired = tn.inRounds && ng.inRounds ? pairedRatio(tn.runs, ng.runs) : undefined;
  return [{
    metric: 'keep-alive req/s, 1 worker each', goal: '≥ 0.8× nginx (milestone ≥ 0.5×)',
    measured: `${r.toFixed(2)}× (${tn.target} ${fmt.int(tn.rps)} vs nginx ${fmt.int(ng.rps)})${paired === undefined ? '' : `; per round ${paired.toFixed(2)}× (median)`}`,
    pass: r >= 0.8, note: r >= 0.8 ? undefined : r >= 0.5 ? 'milestone met' : 'milestone missed',
  }];
}

/** Scenario 1's Markdown table: median req/s, ratios to nginx and HAProxy at the same worker count. */
export function keepAliveMarkdown(rows: readonly Throughput[], wrkLine: string): string {
  const best = (kind: Throughput['kind'], w: number) => rows.filter((t) => t.kind === kind && t.workers === w).sort((a, b) => b.rps - a.rps)[0];
  const lines = [`## 1. Keep-alive throughput, HTTP/1.1 (\`${wrkLine}\`, median of the runs${rows.some((t) => t.inRounds) ? '; all servers measured in rounds, one run each per round' : ''})`, '',
    '| target | workers | req/s | vs nginx | vs HAProxy | p50 ms | p99 ms | CPU µs/req | runs (req/s) |', '|---|---|---|---|---|---|---|---|---|'];
  for (const t of rows) {
    const w = Math.max(1, t.workers);
    const d = t.kind === 'direct';
    lines.push(`| ${t.target} | ${t.workers} | ${fmt.int(t.rps)} | ${d ? '' : fmt.ratio(t.rps, best('nginx', w)?.rps)} | ${d ? '' : fmt.ratio(t.rps, best('haproxy', w)?.rps)} | ${fmt.ms(t.p50)} | ${fmt.ms(t.p99)} | ${fmt.us(t.cpuUsPerReq)} | ${t.runs.map((r) => fmt.int(r.rps)).join(', ')} |`);
  }
  return lines.join('\n') + '\n';
}

/**
 * Runs scenario 1 and sets ctx.turnoutSingle. The single-core servers (the
 * backend direct, the references, each proxy with 1 worker, Turnout in both
 * forms and on its other engine) are started together and measured in rounds
 * (rounds.ts), then the 2-worker ones (--full) the same way.
 */
export async function keepAlive(ctx: Ctx): Promise<ScenarioOutput<Throughput>> {
  const timing = keepAliveTiming(ctx.full);
  const wrkLine = `wrk -t1 -c${CONNECTIONS} -d${timing.seconds}s --latency`;
  console.log(`scenario 1: keep-alive throughput (${wrkLine}, ${timing.warmup} s warm-up, median of ${timing.reps} rounds) [${load()}]`);
  const rows: Throughput[] = [];
  const url = (t: Target) => `http://127.0.0.1:${t.port}/`;
  for (const w of ctx.workers) {
    const measured = await measureGroup<Throughput['kind'], WrkResult>(ctx, async (push) => {
      if (w === ctx.workers[0]) {
        push({ t: ctx.backend, kind: 'direct', workers: 1 });
        // The runtime's own limits next to Turnout: Node answering by itself, a minimal Node proxy,
        // it with a lean backend client, a net-level one, and a byte pipe (reference.ts).
        if (ctx.proxies.includes('turnout')) {
          for (const kind of ['node-hello', 'node-proxy', 'node-hybrid', 'node-raw', 'node-pipe'] as const) {
            push({ t: await ctx.track(startReference(kind, ctx.backend.port)), kind: 'reference', workers: 1 });
          }
        }
      }
      for (const kind of ctx.proxies) {
        // --workers 0 (in-process) is the other single-core form of Turnout.
        for (const workers of kind === 'turnout' && w === 1 ? [0, 1] : [w]) push({ t: await ctx.start(kind, workers), kind, workers });
      }
      // Turnout's other HTTP/1.1 engine, 1 worker: engines are compared within one run.
      if (w === 1 && ctx.proxies.includes('turnout')) {
        push({ t: await ctx.start('turnout', 1, { engine: turnoutEngine() === 'net' ? 'node' : 'net' }), kind: 'turnout', workers: 1 });
      }
    }, timing.reps,
    (t, first) => runWrk(url(t), { connections: CONNECTIONS, seconds: first ? timing.warmup : 1 }),
    (t) => runWrk(url(t), { connections: CONNECTIONS, seconds: timing.seconds }));
    for (const m of measured) rows.push(throughputRow(m.t, m.kind, m.workers, m));
  }
  const tn = bestSingle(rows, 'turnout');
  if (tn) ctx.turnoutSingle = tn.workers;
  return { id: 'keepAlive', rows, ...keepAliveReport(rows, ctx.full) };
}

/** Scenario 1's goal, section and bars (best single-core form of each) from its rows (pure: also used to re-render a results file). */
export function keepAliveReport(rows: readonly Throughput[], full: boolean): Report {
  const timing = keepAliveTiming(full);
  const values: Partial<Record<Proxy, number>> = {};
  for (const kind of PROXIES) { const b = bestSingle(rows, kind); if (b) values[kind] = b.rps; }
  // The bar is Turnout's best single-core row, which may be the other engine's: say so under it.
  const engine = /--http1-engine (\w+)/.exec(bestSingle(rows, 'turnout')?.target ?? '')?.[1];
  return {
    goals: keepAliveGoals(rows), markdown: keepAliveMarkdown(rows, `wrk -t1 -c${CONNECTIONS} -d${timing.seconds}s --latency`),
    bars: [{ label: engine === undefined ? 'HTTP/1.1 keep-alive' : `HTTP/1.1 keep-alive\n(Turnout: ${engine} engine)`, values }],
  };
}
