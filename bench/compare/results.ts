// The results file (bench/results/<date>.json) and everything derived from it:
// the Markdown report and the SVG chart are rendered from the JSON's rows by
// the scenarios' pure report functions, so a report or chart change can be
// applied to a past run (bench/compare/render.ts) without measuring again.
import { barChart, stack } from './chart.ts';
import { churnReport, type ChurnRow } from './churn.ts';
import { controlPlaneGoals, controlPlaneMarkdown, type ControlPlaneResult } from './control-plane.ts';
import type { Report, Timing } from './context.ts';
import type { GoalResult } from './goals.ts';
import { h2Report, type H2Row } from './h2.ts';
import { hostsReport, type HostsRow } from './hosts.ts';
import { rateReport, type RateRow } from './rate.ts';
import { changesBars, changesGoals, changesMarkdown, type ChangeResult } from './changes.ts';
import { longLivedMarkdown, type LongLivedResult } from './long-lived.ts';
import { markdown, type Throughput } from './report.ts';
import { keepAliveReport } from './throughput.ts';

/** The JSON written by every run: every run of every scenario, and what it ran on. */
export interface ResultsFile {
  /** ISO time of the end of the run. */
  date: string;
  mode: 'quick' | 'full';
  machine: Record<string, unknown>;
  versions: Record<string, string>;
  /** Timing of scenarios 1b, 2, 3 and the half-rate latency. */
  timing: Timing;
  scenarios: {
    keepAlive?: Throughput[];
    http2?: H2Row[];
    churn?: ChurnRow[];
    hosts?: HostsRow[];
    halfRate?: RateRow[];
    /** Scenario 4 (changes.ts). */
    changes?: ChangeResult[];
    /** Scenario 5 (long-lived.ts). */
    longLived?: LongLivedResult[];
  };
  /** Scenarios 6 and 7 (control-plane.ts). */
  controlPlane?: ControlPlaneResult;
  goals?: GoalResult[];
  [extra: string]: unknown;
}

/** The file-name stamp of a run: 2026-11-26T01:03:12Z → 2026-11-26-0103. */
export function stamp(iso: string): string {
  return iso.slice(0, 16).replace('T', '-').replace(':', '');
}

/** The scenarios a run left out (--scenarios=, --only=), so a partial report says so. */
function pickedNote(s: ResultsFile['scenarios'], control: boolean): string | undefined {
  const missing = [
    [s.http2, '1b HTTP/2'], [s.churn, '2 Connection: close churn'], [s.hosts, '3 host scale'], [s.halfRate, 'p99 at half rate'],
    [s.changes, '4 errors during change'], [s.longLived, '5 long-lived connections'], [control || undefined, '6–7 control path'],
  ].filter(([x]) => x === undefined).map(([, name]) => name as string);
  return missing.length > 0 ? `${missing.join('; ')} (not run this time).` : undefined;
}

/** The report, the chart and the goals of a results file, in scenario order (1, 1b, 2, 3, half rate, 4, 5, 6–7). */
export function renderResults(file: ResultsFile): { md: string; svg: string; goals: GoalResult[] } {
  const full = file.mode === 'full';
  const s = file.scenarios;
  const parts: Report[] = [];
  if (s.keepAlive) parts.push(keepAliveReport(s.keepAlive, full));
  if (s.http2) parts.push(h2Report(s.http2, file.timing));
  if (s.churn) parts.push(churnReport(s.churn, file.timing.seconds));
  if (s.hosts) parts.push(hostsReport(s.hosts, full, file.timing.seconds));
  if (s.halfRate) parts.push(rateReport(s.halfRate, file.timing));
  const cp = file.controlPlane;
  const goals = [...parts.flatMap((p) => p.goals), ...changesGoals(s.changes ?? []), ...(cp ? controlPlaneGoals(cp) : [])];
  const date = stamp(file.date);
  const mode = full ? '--full' : 'quick';
  const md = markdown({
    date, mode, mach: file.machine, versions: file.versions, goals,
    sections: [...parts.map((p) => p.markdown), changesMarkdown(s.changes ?? [], file.machine.netns === 'private' ? 'private' : 'host'), longLivedMarkdown(s.longLived ?? []), ...(cp ? [controlPlaneMarkdown(cp, false)] : [])],
    notMeasured: pickedNote(s, !!cp),
  });
  const start = (file.machine.loadavgAtStart as number[] | undefined)?.[0];
  const end = (file.machine.loadavgAtEnd as number[] | undefined)?.[0];
  const where = `${date} (${mode}), ${file.machine.cores} shared cores, load average ${start ?? '?'} at start, ${end ?? '?'} at end; client and backend on the same cores`;
  const panels = [barChart(parts.flatMap((p) => p.bars), 'Turnout vs nginx vs HAProxy: req/s, 1 worker each', where)];
  const changed = changesBars(s.changes ?? []);
  if (changed.length > 0) {
    panels.push(barChart(changed, 'Failed requests during configuration changes, 1 worker each', `${date} (${mode}): nginx -s reload, HAProxy master-worker SIGUSR2, Turnout a new snapshot`,
      { label: 'failed per million requests (lower is better)', unit: 'failed per million' }));
  }
  const svg = panels.length === 1 ? panels[0]! : stack(panels);
  return { md, svg, goals };
}
