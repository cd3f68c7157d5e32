// The comparison's output: a Markdown report (printed and written next to a
// JSON file in bench/results/) made of each scenario's section and one table
// of every issue-8 goal the run could judge, each with pass or miss.
import os from 'node:os';
import { goalsMarkdown, type GoalResult } from './goals.ts';
import type { WrkResult } from './wrk.ts';

/** Scenario 1 for one target: every repetition and the medians. */
export interface Throughput {
  target: string;
  /** 'reference': the runtime's own limits (reference.ts), shown for scale, never judged. */
  kind: 'direct' | 'nginx' | 'haproxy' | 'turnout' | 'reference';
  workers: number;
  runs: WrkResult[];
  rps: number;
  p50: number;
  p99: number;
  /** CPU µs per request of the server's process group over the measured runs. */
  cpuUsPerReq?: number;
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

/** Scenario 4's Markdown section. */
export function changesMarkdown(changes: readonly UnderChange[]): string {
  if (changes.length === 0) return '';
  const lines = [`## 4. Errors during change (${changes[0]!.rate} changes/s under the same load)`, '',
    '| target | workers | changes | versions served | last change live | requests | failed (sock + non-2xx) | per million | req/s | vs no change |',
    '|---|---|---|---|---|---|---|---|---|---|'];
  for (const c of changes) {
    const e = c.run.errors;
    lines.push(`| ${c.target} | ${c.workers} | ${c.changes} | ${c.versionsSeen ?? ''} | ${c.lastChangeServed ? 'yes' : 'no'} | ${f0(c.run.requests)} | ${c.failed} (c${e.connect} r${e.read} w${e.write} t${e.timeout} + ${c.run.non2xx}) | ${f0(c.perMillion)} | ${f0(c.run.rps)} | ${c.deltaPct >= 0 ? '+' : ''}${c.deltaPct.toFixed(1)} % |`);
  }
  return lines.join('\n') + '\n';
}

/** Scenario 4's goals: no failed request during changes, throughput within 5 % of none (Turnout judged). */
export function changeGoals(changes: readonly UnderChange[]): GoalResult[] {
  const tc = changes.find((c) => c.kind === 'turnout');
  if (!tc) return [];
  return [
    {
      metric: `failed requests during ${tc.rate}/s changes`, goal: '0 per ≥ 10⁶ requests', measured: `${tc.failed} of ${f0(tc.run.requests)}`,
      pass: tc.failed === 0, note: tc.failed === 0 && tc.run.requests < 1e6 ? 'fewer than 10⁶ requests' : undefined,
    },
    { metric: 'throughput during changes', goal: 'within 5 % of none', measured: `${tc.deltaPct.toFixed(1)} %`, pass: tc.deltaPct >= -5 },
  ];
}

/** The whole Markdown report: header, each scenario's section, then one goals table. */
export function markdown(opts: {
  date: string; mode: string; mach: Record<string, unknown>; versions: Record<string, string>;
  sections: readonly string[]; goals: readonly GoalResult[]; notMeasured?: string;
}): string {
  const m = opts.mach;
  const lines = [`# Turnout vs nginx vs HAProxy, ${opts.date} (${opts.mode})`, '',
    `Machine: ${m.host}, ${m.cores} × ${m.cpu}, ${m.memGiB} GiB, ${m.kernel}; load average at start ${(m.loadavgAtStart as number[]).join(' / ')}${m.loadavgAtEnd ? `, at the end ${(m.loadavgAtEnd as number[]).join(' / ')}` : ''}.`,
    `Versions: ${Object.values(opts.versions).join('; ')}. Everything on 127.0.0.1; backend: nginx, 1 worker, 13-byte body.`, ''];
  for (const s of opts.sections) if (s) lines.push(s);
  lines.push('## Issue 8 goals this run can judge', '', goalsMarkdown(opts.goals));
  if (opts.notMeasured) lines.push(`Not measured here: ${opts.notMeasured}`, '');
  return lines.join('\n');
}
