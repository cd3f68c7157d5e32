// Kernel TCP counters around a run, from `nstat` (iproute2): listen-queue
// drops and overflows, aborts and resets. They count every socket of the
// network namespace: the bench's alone when it runs in its own (netns.ts, as
// root), else the whole machine's, other benchmarks and tests included; so the
// bench reads them before and after each run (also the run without changes)
// and reports the difference next to that noise floor.
import { spawnSync } from 'node:child_process';

/** The counters reported, in nstat's names. */
export const COUNTERS = [
  'TcpExtListenDrops', 'TcpExtListenOverflows', 'TcpExtTCPAbortOnClose', 'TcpExtTCPAbortOnData',
  'TcpExtTCPAbortOnTimeout', 'TcpExtTCPAbortOnLinger', 'TcpExtTCPAbortOnMemory', 'TcpOutRsts', 'TcpEstabResets',
  'TcpAttemptFails', 'TcpExtTCPReqQFullDrop', 'TcpExtTCPMigrateReqSuccess', 'TcpExtTCPMigrateReqFailure',
] as const;

/** Short column names for the Markdown tables. */
export const SHORT: Record<string, string> = {
  TcpExtListenDrops: 'ListenDrops', TcpExtListenOverflows: 'ListenOverflows', TcpExtTCPAbortOnClose: 'AbortOnClose',
  TcpExtTCPAbortOnData: 'AbortOnData', TcpOutRsts: 'OutRsts', TcpEstabResets: 'EstabResets',
};

/** Parses `nstat -asz` output ("Name value rate" lines, "#kernel" header) into name → value. */
export function parseNstat(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z][\w]*)\s+(\d+)\s/.exec(line + ' ');
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** after − before for the reported counters (a counter missing on either side is left out). */
export function diffCounters(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of COUNTERS) {
    if (before[k] !== undefined && after[k] !== undefined) out[k] = after[k]! - before[k]!;
  }
  return out;
}

/**
 * Absolute counters now: `nstat -a` (absolute, ignores the history file),
 * `-s` (leaves the history file alone for other users), `-z` (zeros too).
 * Undefined when nstat is missing.
 */
export function readNstat(): Record<string, number> | undefined {
  const r = spawnSync('nstat', ['-asz'], { encoding: 'utf8', timeout: 5_000 });
  if (r.status !== 0 || !r.stdout) return undefined;
  return parseNstat(r.stdout);
}
