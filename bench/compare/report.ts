// The comparison's output: a Markdown table (printed and written next to a
// JSON file in bench/results/) with ratios to nginx and HAProxy, and the
// issue-8 goals this run can judge, each with pass or miss.
import os from 'node:os';
import type { WrkResult } from './wrk.ts';

/** Scenario 1 for one target: every repetition and the medians. */
export interface Throughput {
  target: string;
  kind: 'direct' | 'nginx' | 'haproxy' | 'turnout';
  workers: number;
  runs: WrkResult[];
  rps: number;
  p50: number;
  p99: number;
}

/** Scenario 4 for one target: load while the configuration changes `rate` times a second. */
export interface UnderChange {
  target: string;
  kind: Throughput['kind'];
  workers: number;
  rate: number;
  changes: number;
  /** Distinct versions the proxy reported while changing (Turnout only: its reload coalesces bursts). */
  versionsSeen?: number;
  /** The last change answered as configured within 5 s (a 204 route for nginx/HAProxy, a 503 one for Turnout). */
  lastChangeServed: boolean;
  run: WrkResult;
  failed: number;
  perMillion: number;
  /** Throughput relative to the same target's scenario-1 median, in percent (negative = lost). */
  deltaPct: number;
}

/** Median of a non-empty list. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The machine, for the results file: figures from another machine are not comparable. */
export function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    host: os.hostname(),
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    loadavgAtStart: os.loadavg().map((x) => Number(x.toFixed(2))),
  };
}

const f0 = (x: number) => Math.round(x).toLocaleString('en-US');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
const ratio = (a: number, b: number | undefined) => (b ? `${(a / b).toFixed(2)}×` : 'n/a');

/** The Markdown report. */
export function markdown(opts: {
  date: string; mode: string; mach: Record<string, unknown>; versions: Record<string, string>;
  wrk: string; throughput: Throughput[]; changes: UnderChange[];
}): string {
  const { throughput: tp, changes } = opts;
  const best = (kind: Throughput['kind'], workers: number) =>
    tp.filter((t) => t.kind === kind && t.workers === workers).sort((a, b) => b.rps - a.rps)[0];
  const lines: string[] = [];
  const m = opts.mach;
  lines.push(`# Turnout vs nginx vs HAProxy, ${opts.date} (${opts.mode})`, '',
    `Machine: ${m.host}, ${m.cores} × ${m.cpu}, ${m.memGiB} GiB, ${m.kernel}; load average at start ${(m.loadavgAtStart as number[]).join(' / ')}.`,
    `Versions: ${Object.values(opts.versions).join('; ')}. Everything on 127.0.0.1; backend: nginx, 1 worker, 13-byte body.`, '',
    `## Keep-alive throughput (\`${opts.wrk}\`, median of the runs)`, '',
    '| target | workers | req/s | vs nginx | vs HAProxy | p50 ms | p99 ms | runs (req/s) |',
    '|---|---|---|---|---|---|---|---|');
  for (const t of tp) {
    const w = Math.max(1, t.workers);
    lines.push(`| ${t.target} | ${t.workers} | ${f0(t.rps)} | ${t.kind === 'direct' ? '' : ratio(t.rps, best('nginx', w)?.rps)} | ${t.kind === 'direct' ? '' : ratio(t.rps, best('haproxy', w)?.rps)} | ${f2(t.p50)} | ${f2(t.p99)} | ${t.runs.map((r) => f0(r.rps)).join(', ')} |`);
  }
  if (changes.length > 0) {
    lines.push('', `## Errors during change (${changes[0]!.rate} changes/s under the same load)`, '',
      '| target | workers | changes | versions served | last change live | requests | failed (sock + non-2xx) | per million | req/s | vs no change |',
      '|---|---|---|---|---|---|---|---|---|---|');
    for (const c of changes) {
      const e = c.run.errors;
      lines.push(`| ${c.target} | ${c.workers} | ${c.changes} | ${c.versionsSeen ?? ''} | ${c.lastChangeServed ? 'yes' : 'no'} | ${f0(c.run.requests)} | ${c.failed} (c${e.connect} r${e.read} w${e.write} t${e.timeout} + ${c.run.non2xx}) | ${f0(c.perMillion)} | ${f0(c.run.rps)} | ${c.deltaPct >= 0 ? '+' : ''}${c.deltaPct.toFixed(1)} % |`);
    }
  }
  lines.push('', '## Issue 8 goals this run can judge', '', '| goal | measured | result |', '|---|---|---|');
  const tn = tp.filter((t) => t.kind === 'turnout' && t.workers <= 1).sort((a, b) => b.rps - a.rps)[0];
  const ng = best('nginx', 1);
  if (tn && ng) {
    const r = tn.rps / ng.rps;
    lines.push(`| keep-alive req/s, 1 worker, ≥ 0.8× nginx (milestone ≥ 0.5×) | ${r.toFixed(2)}× (${tn.target}) | ${r >= 0.8 ? 'pass' : r >= 0.5 ? 'miss (milestone met)' : 'miss'} |`);
  }
  const tc = changes.find((c) => c.kind === 'turnout');
  if (tc) {
    lines.push(`| failed requests during ${tc.rate}/s changes: 0 per ≥ 10⁶ | ${tc.failed} of ${f0(tc.run.requests)} | ${tc.failed === 0 ? (tc.run.requests >= 1e6 ? 'pass' : 'pass (fewer than 10⁶ requests)') : 'miss'} |`);
    lines.push(`| throughput during changes within 5 % of none | ${tc.deltaPct.toFixed(1)} % | ${tc.deltaPct >= -5 ? 'pass' : 'miss'} |`);
  }
  lines.push('', 'Not measured here: HTTP/2 (h2load), Connection: close churn, routing-table scale, apply→serving latency (scenarios 4 and 5 follow in their own sections).');
  return lines.join('\n') + '\n';
}
