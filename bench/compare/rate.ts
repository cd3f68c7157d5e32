// The goal "p99 at 50 % of each one's max rate ≤ 1.5× nginx": each proxy gets
// a fixed request rate, half of its own scenario-1 median, and the latency at
// that rate is compared. wrk cannot hold a rate (wrk2 is not packaged in
// Debian), so the load is h2load in HTTP/1.1 mode (`--h1`) with `--rps`
// (per client) on 50 keep-alive connections; latencies come from its
// per-request log. h2load measures from when a request is sent, not from
// when it was due, so queueing behind a slow response is not counted
// (coordinated omission); at half load queues are short, and the
// comparison is the same for the three.
//
// Pacing. With its clients started together, h2load sends on all 50
// connections at the same instant every 10 ms (h2load.ts): each proxy gets
// a burst of 50 requests, drains it at full speed and idles; the p99 is then
// the time to drain 50 requests, ~50 × the proxy's CPU time per request,
// which is scenario 1's saturated latency again, not latency at half load
// (measured 2026-11-26: docs/performance.md). The goal's runs therefore
// start the clients 1 ms apart (`spread`), the finest h2load allows: ~5
// connections send together every 1 ms. Same rule, connections and share of
// max for the three. One run per proxy with h2load's own pacing is kept
// beside it, and the "together" column shows how bursty each load was.
import { bestSingle } from './throughput.ts';
import { fmt, LABEL, load, workersFor, type Ctx, type Proxy, type Report, type ScenarioOutput } from './context.ts';
import type { GoalResult } from './goals.ts';
import type { Target } from './servers.ts';
import { runH2load, SPREAD_PERIOD_MS, type H2Result } from './h2load.ts';
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
  /** Medians of the runs' p90 and max (absent in results from before 2026-11-26 04:00). */
  p90?: number;
  max?: number;
  failed: number;
  /** 'spread': clients started 1 ms apart; absent in results from before 2026-11-26 04:00 (h2load's own pacing). */
  pacing?: 'spread';
  /** The proxies' runs alternated round by round; absent in results from before 2026-11-26 16:00 (one proxy after the other). */
  interleaved?: true;
  /** Median of the runs' startedTogether (h2load.ts). */
  together?: number;
  /** One run at the same rate with h2load's own pacing (all clients together), for comparison. */
  bursty?: H2Result;
}

/** The goal row: Turnout's p99 over nginx's, each at half its own max. */
export function rateGoals(rows: readonly RateRow[]): GoalResult[] {
  const tn = rows.find((r) => r.kind === 'turnout');
  const ng = rows.find((r) => r.kind === 'nginx');
  if (!tn || !ng) return [];
  const r = tn.p99 / ng.p99;
  // Runs of the same index ran in the same round (halfRate interleaves them).
  const rounds = !tn.interleaved || !ng.interleaved ? [] : tn.runs.slice(0, ng.runs.length).map((x, i) => x.p99 / ng.runs[i]!.p99);
  const short = tn.rps < tn.targetRps * 0.95 ? `Turnout reached ${fmt.int(tn.rps)} of ${fmt.int(tn.targetRps)} req/s` : undefined;
  return [{
    metric: 'p99 at 50 % of each one\'s max rate', goal: '≤ 1.5× nginx',
    measured: `${r.toFixed(2)}× (Turnout ${fmt.ms(tn.p99)} ms at ${fmt.int(tn.targetRps)} req/s, nginx ${fmt.ms(ng.p99)} ms at ${fmt.int(ng.targetRps)} req/s` +
      (rounds.length > 1 ? `; per round ${rounds.map((x) => x.toFixed(2)).join(', ')}×)` : ')'),
    pass: Number.isFinite(r) ? r <= 1.5 : undefined, note: short,
  }];
}

/** The section's Markdown. */
export function rateMarkdown(rows: readonly RateRow[], timing: { seconds: number; warmup: number }): string {
  const ng = rows.find((r) => r.kind === 'nginx');
  if (!rows.some((r) => r.pacing === 'spread')) {
    // A results file from before the pacing change: its own table.
    const old = `h2load --h1 -t1 -c${RATE_CLIENTS} -m1 --rps=RATE/${RATE_CLIENTS} -D${timing.seconds} --warm-up-time=${timing.warmup}`;
    const lines = [`## Latency at ${RATE_SHARE * 100} % of each one's max rate (\`${old}\`, median of the runs)`, '',
      'Max rate = the proxy\'s scenario-1 median (same form, 1 worker). h2load counts latency from when a request is sent (coordinated omission not corrected). h2load\'s own pacing: all 50 connections send together every 10 ms.', '',
      '| target | max req/s | asked req/s | achieved req/s | p50 ms | p99 ms | p99 vs nginx | failed |', '|---|---|---|---|---|---|---|---|'];
    for (const r of rows) {
      lines.push(`| ${r.target} | ${fmt.int(r.maxRps)} | ${fmt.int(r.targetRps)} | ${fmt.int(r.rps)} | ${fmt.ms(r.p50)} | ${fmt.ms(r.p99)} | ${fmt.ratio(r.p99, ng?.p99)} | ${r.failed} |`);
    }
    return lines.join('\n') + '\n';
  }
  const lines = [`## Latency at ${RATE_SHARE * 100} % of each one's max rate (\`${rateLine(timing)}\`, median of the runs)`, '',
    'Max rate = the proxy\'s scenario-1 median (same form, 1 worker). h2load counts latency from when a request is sent (coordinated omission not corrected). ' +
    'Clients start 1 ms apart so that their 10 ms ticks do not coincide; "together" = requests started in the same 100 µs (p99 over requests). ' +
    (rows.every((r) => r.interleaved) ? 'The proxies run side by side and their runs alternate round by round (rounds of the same index are compared in the goal row). ' : 'The proxies ran one after the other. ') +
    'The last columns are one run at the same rate with h2load\'s own pacing (all 50 connections send together every 10 ms), kept for comparison.', '',
    '| target | max req/s | asked req/s | achieved req/s | p50 ms | p90 ms | p99 ms | max ms | p99 vs nginx | together | failed | own pacing: p50 / p99 ms | p99 vs nginx | together |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    const b = r.bursty;
    lines.push(`| ${r.target} | ${fmt.int(r.maxRps)} | ${fmt.int(r.targetRps)} | ${fmt.int(r.rps)} | ${fmt.ms(r.p50)} | ${fmt.ms(r.p90 ?? NaN)} | ${fmt.ms(r.p99)} | ${fmt.ms(r.max ?? NaN)} | ${fmt.ratio(r.p99, ng?.p99)} | ${r.together ?? ''} | ${r.failed} | ` +
      (b ? `${fmt.ms(b.p50)} / ${fmt.ms(b.p99)} | ${fmt.ratio(b.p99, ng?.bursty?.p99)} | ${b.together} |` : ' |  |  |'));
  }
  return lines.join('\n') + '\n';
}

/**
 * Runs the fixed-rate load for each proxy (1 worker; Turnout in its faster
 * single-core form). The proxies run side by side, idle but for the one
 * measured, and their runs are interleaved round by round (the order rotated
 * each round): the machine's drift over minutes then reaches every proxy
 * alike instead of whichever ran last (today's runs put nginx's own p99
 * anywhere in 0.8–2.3 ms, proxies measured one after the other).
 */
export async function halfRate(ctx: Ctx, keepAlive: readonly Throughput[]): Promise<ScenarioOutput<RateRow>> {
  const { timing } = ctx;
  const { warmup, seconds, reps } = timing;
  console.log(`goal p99 at ${RATE_SHARE * 100} % of max: ${rateLine(timing)}, median of ${reps}, proxies interleaved [${load()}]`);
  const plans: { kind: Proxy; workers: number; maxRps: number; targetRps: number }[] = [];
  for (const kind of ctx.proxies) {
    const workers = workersFor(ctx, kind, 1);
    const max = keepAlive.find((r) => r.kind === kind && r.workers === workers) ?? bestSingle(keepAlive, kind);
    if (max) plans.push({ kind, workers, maxRps: max.rps, targetRps: max.rps * RATE_SHARE });
  }
  const started: Target[] = [];
  const runs: H2Result[][] = plans.map(() => []);
  const bursty: (H2Result | undefined)[] = plans.map(() => undefined);
  const options = (i: number) => ({ url: `http://127.0.0.1:${started[i]!.port}/`, clients: RATE_CLIENTS, streams: 1, seconds, warmup, rate: plans[i]!.targetRps, h1: true });
  try {
    for (const p of plans) started.push(await ctx.start(p.kind, p.workers));
    for (let rep = 0; rep < reps; rep++) {
      for (let k = 0; k < plans.length; k++) {
        const i = (rep + k) % plans.length;
        runs[i]!.push(await runH2load({ ...options(i), spread: true }));
      }
    }
    for (let i = 0; i < plans.length; i++) bursty[i] = await runH2load(options(i));
  } finally {
    for (const t of started) await ctx.stop(t);
  }
  const rows = plans.map((p, i): RateRow => {
    const rs = runs[i]!;
    return {
      kind: p.kind, target: started[i]!.name, workers: p.workers, maxRps: p.maxRps, targetRps: p.targetRps, runs: rs, rps: median(rs.map((x) => x.rps)),
      p50: median(rs.map((x) => x.p50)), p99: median(rs.map((x) => x.p99)), failed: rs.reduce((s, x) => s + x.failed, 0),
      p90: median(rs.map((x) => x.p90)), max: median(rs.map((x) => x.max)), pacing: 'spread', interleaved: true, together: median(rs.map((x) => x.together)), bursty: bursty[i],
    };
  });
  for (const r of rows) {
    const b = r.bursty!;
    console.log(`  ${LABEL[r.kind]} (${r.target}): asked ${Math.round(r.targetRps)} req/s, got ${Math.round(r.rps)}, p50 / p90 / p99 / max ${fmt.ms(r.p50)} / ${fmt.ms(r.p90!)} / ${fmt.ms(r.p99)} / ${fmt.ms(r.max!)} ms ` +
      `(p99 per round ${r.runs.map((x) => fmt.ms(x.p99)).join(', ')}), together ${r.together}, failed ${r.failed}; h2load's own pacing: p50 ${fmt.ms(b.p50)} ms, p99 ${fmt.ms(b.p99)} ms, together ${b.together} [${load()}]`);
  }
  return { id: 'halfRate', rows, ...rateReport(rows, timing) };
}

/** The command line shown in the report. */
export function rateLine(timing: { seconds: number; warmup: number }): string {
  return `h2load --h1 -t1 -c${RATE_CLIENTS} -m1 --rps=RATE/${RATE_CLIENTS} -r1 --rate-period=${SPREAD_PERIOD_MS}ms -n RATE×${timing.seconds}, after a ${timing.warmup} s warm-up run`;
}

/** The half-rate goal and section from its rows (pure: also used to re-render a results file). */
export function rateReport(rows: readonly RateRow[], timing: { seconds: number; warmup: number }): Report {
  return { goals: rateGoals(rows), markdown: rateMarkdown(rows, timing), bars: [] };
}
