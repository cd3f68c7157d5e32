// The comparison's output: a Markdown report (printed and written next to a
// JSON file in bench/results/) made of each scenario's section and one table
// of every issue-8 goal the run could judge, each with pass or miss.
import os from 'node:os';
import { netnsScope } from './netns.ts';
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
  /** Measured in rounds with the scenario's other servers (rounds.ts): runs[i] ran in round i for all of them. */
  inRounds?: boolean;
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
    netns: netnsScope(),
  };
}

/** The whole Markdown report: header, each scenario's section, then one goals table. */
export function markdown(opts: {
  date: string; mode: string; mach: Record<string, unknown>; versions: Record<string, string>;
  sections: readonly string[]; goals: readonly GoalResult[]; notMeasured?: string;
}): string {
  const m = opts.mach;
  const lines = [`# Turnout vs nginx vs HAProxy, ${opts.date} (${opts.mode})`, '',
    `Machine: ${m.host}, ${m.cores} × ${m.cpu}, ${m.memGiB} GiB, ${m.kernel}; load average at start ${(m.loadavgAtStart as number[]).join(' / ')}${m.loadavgAtEnd ? `, at the end ${(m.loadavgAtEnd as number[]).join(' / ')}` : ''}${m.stealPercent !== undefined ? `; CPU time stolen by the hypervisor over the run ${m.stealPercent} %` : ''}.`,
    `Versions: ${Object.values(opts.versions).join('; ')}. Everything on 127.0.0.1${m.netns === 'private' ? ' in the bench\'s own network namespace' : ''}; backend: nginx, 1 worker, 13-byte body.`, ''];
  for (const s of opts.sections) if (s) lines.push(s);
  lines.push('## Issue 8 goals this run can judge', '', goalsMarkdown(opts.goals));
  if (opts.notMeasured) lines.push(`Not measured here: ${opts.notMeasured}`, '');
  return lines.join('\n');
}
