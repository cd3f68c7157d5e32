// The goal "p99 at 50 % of each one's max rate ≤ 1.5× nginx": each proxy gets
// a fixed request rate, half of its own scenario-1 median, and the latency at
// that rate is compared. wrk cannot hold a rate (wrk2 is not packaged in
// Debian), so the load is h2load in HTTP/1.1 mode (`--h1`) with `--rps`
// (per client) on 50 keep-alive connections; latencies come from its
// per-request log. h2load measures from when a request is sent, not from
// when it was due, so queueing behind a slow response is not counted
// (coordinated omission); at half load queues are short, and the
// comparison is the same for the three.
import { bestSingle } from './throughput.ts';
import { fmt, LABEL, load, workersFor, type Ctx, type Proxy, type Report, type ScenarioOutput } from './context.ts';
import type { GoalResult } from './goals.ts';
import { runH2load, type H2Result } from './h2load.ts';
import { median, type Throughput } from './report.ts';

/** Connections of the fixed-rate load (as wrk's -c50). */
export const RATE_CLIENTS = 50;
/** The share of each proxy's max rate the latency is measured at. */
export const RATE_SHARE = 0.5;

/** One proxy at half its max rate. */
export interface RateRow {
  kind: Proxy;
  target: string;
  workers: number;
  /** Scenario 1's median req/s for the same form of the proxy. */
  maxRps: number;
  targetRps: number;
  runs: H2Result[];
  /** Achieved req/s (median). */
  rps: number;
  p50: number;
  p99: number;
  failed: number;
}

/** The goal row: Turnout's p99 over nginx's, each at half its own max. */
export function rateGoals(rows: readonly RateRow[]): GoalResult[] {
  const tn = rows.find((r) => r.kind === 'turnout');
  const ng = rows.find((r) => r.kind === 'nginx');
  if (!tn || !ng) return [];
  const r = tn.p99 / ng.p99;
  const short = tn.rps < tn.targetRps * 0.95 ? `Turnout reached ${fmt.int(tn.rps)} of ${fmt.int(tn.targetRps)} req/s` : undefined;
  return [{
    metric: 'p99 at 50 % of each one\'s max rate', goal: '≤ 1.5× nginx',
    measured: `${r.toFixed(2)}× (Turnout ${fmt.ms(tn.p99)} ms at ${fmt.int(tn.targetRps)} req/s, nginx ${fmt.ms(ng.p99)} ms at ${fmt.int(ng.targetRps)} req/s)`,
    pass: Number.isFinite(r) ? r <= 1.5 : undefined, note: short,
  }];
}

/** The section's Markdown. */
export function rateMarkdown(rows: readonly RateRow[], line: string): string {
  const ng = rows.find((r) => r.kind === 'nginx');
  const lines = [`## Latency at ${RATE_SHARE * 100} % of each one's max rate (\`${line}\`, median of the runs)`, '',
    'Max rate = the proxy\'s scenario-1 median (same form, 1 worker). h2load counts latency from when a request is sent (coordinated omission not corrected).', '',
    '| target | max req/s | asked req/s | achieved req/s | p50 ms | p99 ms | p99 vs nginx | failed |', '|---|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    lines.push(`| ${r.target} | ${fmt.int(r.maxRps)} | ${fmt.int(r.targetRps)} | ${fmt.int(r.rps)} | ${fmt.ms(r.p50)} | ${fmt.ms(r.p99)} | ${fmt.ratio(r.p99, ng?.p99)} | ${r.failed} |`);
  }
  return lines.join('\n') + '\n';
}

/** Runs the fixed-rate load for each proxy (1 worker; Turnout in its faster single-core form). */
export async function halfRate(ctx: Ctx, keepAlive: readonly Throughput[]): Promise<ScenarioOutput<RateRow>> {
  const { timing } = ctx;
  const { warmup, seconds, reps } = timing;
  const line = rateLine(timing);
  console.log(`goal p99 at ${RATE_SHARE * 100} % of max: ${line}, median of ${reps} [${load()}]`);
  const rows: RateRow[] = [];
  for (const kind of ctx.proxies) {
    const workers = workersFor(ctx, kind, 1);
    const max = keepAlive.find((r) => r.kind === kind && r.workers === workers) ?? bestSingle(keepAlive, kind);
    if (!max) continue;
    const targetRps = max.rps * RATE_SHARE;
    const t = await ctx.start(kind, workers);
    const runs: H2Result[] = [];
    try {
      for (let i = 0; i < reps; i++) {
        runs.push(await runH2load({ url: `http://127.0.0.1:${t.port}/`, clients: RATE_CLIENTS, streams: 1, seconds, warmup, rate: targetRps, h1: true }));
      }
    } finally { await ctx.stop(t); }
    const r: RateRow = {
      kind, target: t.name, workers, maxRps: max.rps, targetRps, runs, rps: median(runs.map((x) => x.rps)),
      p50: median(runs.map((x) => x.p50)), p99: median(runs.map((x) => x.p99)), failed: runs.reduce((s, x) => s + x.failed, 0),
    };
    rows.push(r);
    console.log(`  ${LABEL[kind]} (${t.name}): asked ${Math.round(targetRps)} req/s, got ${Math.round(r.rps)}, p50 ${fmt.ms(r.p50)} ms, p99 ${fmt.ms(r.p99)} ms, failed ${r.failed} [${load()}]`);
  }
  return { id: 'halfRate', rows, ...rateReport(rows, timing) };
}

/** The command line shown in the report. */
export function rateLine(timing: { seconds: number; warmup: number }): string {
  return `h2load --h1 -t1 -c${RATE_CLIENTS} -m1 --rps=RATE/${RATE_CLIENTS} -D${timing.seconds} --warm-up-time=${timing.warmup}`;
}

/** The half-rate goal and section from its rows (pure: also used to re-render a results file). */
export function rateReport(rows: readonly RateRow[], timing: { seconds: number; warmup: number }): Report {
  return { goals: rateGoals(rows), markdown: rateMarkdown(rows, rateLine(timing)), bars: [] };
}
