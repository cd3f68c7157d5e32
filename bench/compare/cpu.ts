// CPU time of a server's whole process group (master and workers) from
// /proc/PID/stat, so a figure is also given as CPU microseconds per request:
// on a shared 2-core machine req/s moves with the neighbours' load, CPU per
// request much less (the helper notes ask for it when comparing).
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of utime/stime (USER_HZ: 100 on Linux). */
export const CLK_TCK = 100;

/** utime + stime in ticks and the process group, from one /proc/PID/stat line (the name may contain spaces and parentheses). */
export function parseStat(line: string): { pgrp: number; ticks: number } | undefined {
  const end = line.lastIndexOf(')');
  if (end < 0) return undefined;
  // Fields after the name: state(3) ppid(4) pgrp(5) … utime(14) stime(15); here index 0 is field 3.
  const f = line.slice(end + 2).split(' ');
  const pgrp = Number(f[2]);
  const ticks = Number(f[11]) + Number(f[12]);
  return Number.isFinite(pgrp) && Number.isFinite(ticks) ? { pgrp, ticks } : undefined;
}

/** CPU milliseconds used so far by the live processes of group `pgid` (Linux; 0 elsewhere). */
export function groupCpuMs(pgid: number): number {
  let ticks = 0;
  let pids: string[];
  try { pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d)); } catch { return 0; }
  for (const pid of pids) {
    let line: string;
    try { line = readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { continue; }
    const s = parseStat(line);
    if (s && s.pgrp === pgid) ticks += s.ticks;
  }
  return (ticks * 1000) / CLK_TCK;
}

/** Runs `fn` and returns its result with the CPU ms the group `pgid` spent meanwhile. */
export async function withCpu<T>(pgid: number | undefined, fn: () => Promise<T>): Promise<{ value: T; cpuMs: number }> {
  const before = pgid ? groupCpuMs(pgid) : 0;
  const value = await fn();
  return { value, cpuMs: pgid ? groupCpuMs(pgid) - before : NaN };
}

/** The machine's CPU ticks (all cores) from /proc/stat's first line: steal and the total; undefined off Linux. */
export function parseProcStat(text: string): { steal: number; total: number } | undefined {
  const first = text.split('\n', 1)[0] ?? '';
  if (!first.startsWith('cpu ')) return undefined;
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
  const f = first.trim().split(/\s+/).slice(1, 9).map(Number);
  if (f.length < 8 || f.some((x) => !Number.isFinite(x))) return undefined;
  return { steal: f[7]!, total: f.reduce((a, b) => a + b, 0) };
}

let lastStat = machineStat();

/** The machine's steal and total CPU ticks now (/proc/stat). */
export function machineStat(): { steal: number; total: number } | undefined {
  try { return parseProcStat(readFileSync('/proc/stat', 'utf8')); } catch { return undefined; }
}

/**
 * Percent of the machine's CPU time stolen by the hypervisor since the
 * previous call (on a VM, other guests running on our cores): a run that
 * suddenly costs more CPU per request with steal up measured the host, not
 * the proxy. undefined where /proc/stat has no steal.
 */
export function stealSinceLast(): number | undefined {
  const now = machineStat();
  const prev = lastStat;
  lastStat = now;
  return now && prev ? stealPercent(prev, now) : undefined;
}

/** Percent of the machine's CPU time stolen between two machineStat() readings; undefined when no tick passed. */
export function stealPercent(from: { steal: number; total: number }, to: { steal: number; total: number }): number | undefined {
  return to.total > from.total ? (100 * (to.steal - from.steal)) / (to.total - from.total) : undefined;
}

/** Major page faults of the whole machine so far (/proc/vmstat pgmajfault); undefined off Linux. */
export function majorFaults(): number | undefined {
  try {
    const m = /^pgmajfault (\d+)$/m.exec(readFileSync('/proc/vmstat', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch { return undefined; }
}

let lastFaults = majorFaults();

/**
 * Major page faults on the machine since the previous call: a run that
 * suddenly costs more per request with these up had code or data paged back
 * in (this VM runs DAMON with a pageout scheme), which the proxy did not cause.
 */
export function majorFaultsSinceLast(): number | undefined {
  const now = majorFaults();
  const prev = lastFaults;
  lastFaults = now;
  return now === undefined || prev === undefined ? undefined : now - prev;
}
