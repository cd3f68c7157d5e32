// The issue-8 goals as data: every scenario module returns the goals it can
// judge, and the report prints them all in one table with pass or miss, so a
// miss is shown next to the passes instead of being left out.

/** One goal judged by one run. `pass` undefined: measured but not judgeable here (e.g. too few requests). */
export interface GoalResult {
  /** The metric, as worded in issue 8 (e.g. "keep-alive req/s, 1 worker each"). */
  readonly metric: string;
  /** The goal (e.g. "≥ 0.8× nginx"). */
  readonly goal: string;
  /** What this run measured, with its unit and the comparison it rests on. */
  readonly measured: string;
  readonly pass: boolean | undefined;
  /** Why a result is partial, or what it is missing. */
  readonly note?: string;
}

/** The goals table, in Markdown. */
export function goalsMarkdown(goals: readonly GoalResult[]): string {
  const lines = ['| metric | goal | measured | result |', '|---|---|---|---|'];
  for (const g of goals) {
    const result = g.pass === undefined ? 'not judged' : g.pass ? 'pass' : '**miss**';
    lines.push(`| ${g.metric} | ${g.goal} | ${g.measured} | ${result}${g.note ? ` (${g.note})` : ''} |`);
  }
  return lines.join('\n') + '\n';
}
