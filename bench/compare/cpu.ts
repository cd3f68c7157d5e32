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
