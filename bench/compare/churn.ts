// Scenario 2: `Connection: close` churn. wrk sends `Connection: close`, so
// every request opens a new TCP connection and the proxy closes it after the
// answer: accept, parse, route and close on every request. req/s, p99 and
// failures per proxy (and direct to the backend as the ceiling).
import { fmt, load, workersFor, type Ctx, type Proxy, type Report, type ScenarioOutput } from './context.ts';
import type { GoalResult } from './goals.ts';
import { median } from './report.ts';
import type { Kind, Target } from './servers.ts';
import { CONNECTIONS } from './throughput.ts';
import { failures, runWrk, type WrkResult } from './wrk.ts';
import { measureGroup, type RoundRuns } from './rounds.ts';
import { startReference } from './reference.ts';

/** The header that turns keep-alive off. */
export const CLOSE_HEADER = 'Connection: close';

/** One target's scenario-2 result. */
export interface ChurnRow {
  target: string;
  kind: Kind;
  workers: number;
  runs: WrkResult[];
  rps: number;
  p50: number;
  p99: number;
  /** Socket errors + non-2xx over all runs. */
  failed: number;
  requests: number;
  /** CPU µs per request of the target's process group over the runs. */
  cpuUsPerReq: number;
  /** Measured in rounds with the scenario's other servers (rounds.ts). */
  inRounds?: boolean;
}

/** Scenario 2's row of one target from its runs (in round order) and the CPU they cost. */
function churnRow(t: Target, kind: Kind, workers: number, { runs, cpuMs }: RoundRuns<WrkResult>): ChurnRow {
  const requests = runs.reduce((s, x) => s + x.requests, 0);
  const r: ChurnRow = {
    target: t.name, kind, workers, runs, rps: median(runs.map((x) => x.rps)), p50: median(runs.map((x) => x.p50)),
    p99: median(runs.map((x) => x.p99)), failed: runs.reduce((s, x) => s + failures(x), 0), requests, cpuUsPerReq: cpuMs * 1000 / requests, inRounds: true,
  };
  console.log(`  ${t.name}: ${Math.round(r.rps)} req/s (runs ${runs.map((x) => Math.round(x.rps)).join(', ')}), p99 ${fmt.ms(r.p99)} ms, ${fmt.us(r.cpuUsPerReq)} µs CPU/req, failed ${r.failed} of ${r.requests}`);
  return r;
}

/** Scenario 2's Markdown section. */
export function churnMarkdown(rows: readonly ChurnRow[], line: string): string {
  const nginx = (w: number) => rows.find((r) => r.kind === 'nginx' && r.workers === w)?.rps;
  const lines = [`## 2. \`Connection: close\` churn (\`${line}\`, median of the runs${rows.some((r) => r.inRounds) ? '; servers measured in rounds' : ''})`, '',
    '| target | workers | req/s | vs nginx | p50 ms | p99 ms | CPU µs/req | failed / requests | runs (req/s) |', '|---|---|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    lines.push(`| ${r.target} | ${r.workers} | ${fmt.int(r.rps)} | ${r.kind === 'direct' ? '' : fmt.ratio(r.rps, nginx(Math.max(1, r.workers)))} | ${fmt.ms(r.p50)} | ${fmt.ms(r.p99)} | ${fmt.us(r.cpuUsPerReq)} | ${r.failed} / ${fmt.int(r.requests)} | ${r.runs.map((x) => fmt.int(x.rps)).join(', ')} |`);
  }
  return lines.join('\n') + '\n';
}

/** Scenario 2's goal rows: the issue sets no bar for churn, so the ratio is reported, and any failure is a miss. */
export function churnGoals(rows: readonly ChurnRow[]): GoalResult[] {
  const tn = rows.find((r) => r.kind === 'turnout' && r.workers <= 1);
  const ng = rows.find((r) => r.kind === 'nginx' && r.workers === 1);
  if (!tn) return [];
  return [{
    metric: '`Connection: close` churn, 1 worker each', goal: 'no failed request (req/s: no goal in issue 8)',
    measured: `${tn.failed} failed of ${fmt.int(tn.requests)}; ${fmt.int(tn.rps)} req/s${ng ? ` = ${fmt.ratio(tn.rps, ng.rps)} nginx` : ''}`,
    pass: tn.failed === 0,
  }];
}

/** Runs scenario 2: direct, the references and each proxy, measured in rounds per worker count (rounds.ts). */
export async function churn(ctx: Ctx): Promise<ScenarioOutput<ChurnRow>> {
  const { warmup, seconds, reps } = ctx.timing;
  const line = churnLine(seconds);
  console.log(`scenario 2: Connection: close churn (${line}, median of ${reps} rounds) [${load()}]`);
  const rows: ChurnRow[] = [];
  const opts = { connections: CONNECTIONS, headers: [CLOSE_HEADER] };
  const url = (t: Target) => `http://127.0.0.1:${t.port}/`;
  for (const w of ctx.workers) {
    const measured = await measureGroup<Kind, WrkResult>(ctx, async (push) => {
      if (w === ctx.workers[0]) {
        push({ t: ctx.backend, kind: 'direct', workers: 1 });
        // Node answering by itself and a minimal Node proxy: what a new connection costs the runtime.
        if (ctx.proxies.includes('turnout')) {
          for (const kind of ['node-hello', 'node-proxy'] as const) push({ t: await ctx.track(startReference(kind, ctx.backend.port)), kind: 'reference', workers: 1 });
        }
      }
      for (const kind of ctx.proxies) {
        const workers = workersFor(ctx, kind, w);
        push({ t: await ctx.start(kind, workers), kind, workers });
      }
    }, reps,
    (t, first) => runWrk(url(t), { ...opts, seconds: first ? warmup : 1 }),
    (t) => runWrk(url(t), { ...opts, seconds }));
    for (const m of measured) rows.push(churnRow(m.t, m.kind, m.workers, m));
  }
  return { id: 'churn', rows, ...churnReport(rows, seconds) };
}

/** The command line shown in the report. */
export function churnLine(seconds: number): string {
  return `wrk -t1 -c${CONNECTIONS} -d${seconds}s --latency -H '${CLOSE_HEADER}'`;
}

/** Scenario 2's goals, section and bars from its rows (pure: also used to re-render a results file). */
export function churnReport(rows: readonly ChurnRow[], seconds: number): Report {
  const values: Partial<Record<Proxy, number>> = {};
  for (const r of rows) if (r.kind !== 'direct' && r.kind !== 'reference' && r.workers <= 1) values[r.kind] = r.rps;
  return { goals: churnGoals(rows), markdown: churnMarkdown(rows, churnLine(seconds)), bars: [{ label: 'Connection: close', values }] };
}
