// A proxy's process tree from /proc: how many processes (nginx and HAProxy
// keep old workers alive after a reload until their connections finish or a
// timeout), and their memory. RSS summed over a tree counts pages shared
// after fork once per process, so PSS (smaps_rollup, shared pages divided
// among their users) is summed too: it is the honest total.
import fs from 'node:fs';

/** The fields of /proc/PID/stat the bench uses. */
export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  /** CPU ticks (1/100 s): own user+system, and of waited-for children that exited (old workers, once reaped). */
  ticks: number;
  childTicks: number;
}

/** Parses one /proc/PID/stat line; comm may hold spaces and parentheses, so it ends at the last ')'. */
export function parseStat(line: string): ProcStat {
  const open = line.indexOf('(');
  const close = line.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`not a /proc stat line: ${line.slice(0, 80)}`);
  const rest = line.slice(close + 2).split(' ');
  // Fields 14–17 of stat (utime, stime, cutime, cstime) are rest[11..14].
  const n = (i: number) => Number(rest[i] ?? 0);
  return { pid: Number(line.slice(0, open).trim()), comm: line.slice(open + 1, close), state: rest[0]!, ppid: Number(rest[1]), ticks: n(11) + n(12), childTicks: n(13) + n(14) };
}

/** `root` and all its descendants among `procs` (parent links), root first. */
export function treeOf(procs: readonly ProcStat[], root: number): ProcStat[] {
  const kids = new Map<number, ProcStat[]>();
  for (const p of procs) {
    const list = kids.get(p.ppid);
    if (list) list.push(p); else kids.set(p.ppid, [p]);
  }
  const self = procs.find((p) => p.pid === root);
  if (!self) return [];
  const out: ProcStat[] = [];
  const queue = [self];
  while (queue.length > 0) {
    const p = queue.shift()!;
    out.push(p);
    queue.push(...(kids.get(p.pid) ?? []));
  }
  return out;
}

/** The kB value of `field` ("VmRSS", "Pss") in /proc/PID/status or smaps_rollup text; 0 when absent (zombies, kernel threads). */
export function kibField(text: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/** One look at a tree: its live processes and their memory. */
export interface TreeSample {
  processes: number;
  rssKiB: number;
  pssKiB: number;
  /** CPU seconds used by the tree so far: live processes and the exited ones they reaped. */
  cpuSeconds: number;
}

/** CPU seconds of a tree: every member's own ticks plus those of children it reaped, so an exited worker still counts once. */
export function treeCpuSeconds(tree: readonly ProcStat[]): number {
  return tree.reduce((s, p) => s + p.ticks + p.childTicks, 0) / 100;
}

function read(file: string): string | undefined {
  try { return fs.readFileSync(file, 'utf8'); } catch { return undefined; }
}

/** Every process now (races with exits are skipped). */
export function allProcs(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = read(`/proc/${name}/stat`);
    if (s) out.push(parseStat(s));
  }
  return out;
}

/** The tree of `root` now; zombies are not counted. */
export function sampleTree(root: number, withMemory = true): TreeSample {
  const tree = treeOf(allProcs(), root).filter((p) => p.state !== 'Z');
  let rssKiB = 0;
  let pssKiB = 0;
  if (withMemory) {
    for (const p of tree) {
      rssKiB += kibField(read(`/proc/${p.pid}/status`) ?? '', 'VmRSS');
      pssKiB += kibField(read(`/proc/${p.pid}/smaps_rollup`) ?? '', 'Pss');
    }
  }
  return { processes: tree.length, rssKiB, pssKiB, cpuSeconds: treeCpuSeconds(tree) };
}

/** Hex "0100007F:1F90"-style local port of a /proc/net/tcp line in LISTEN state (0A), with its socket inode. */
export function listeners(procNetTcp: string): Array<{ port: number; inode: number }> {
  const out: Array<{ port: number; inode: number }> = [];
  for (const line of procNetTcp.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== '0A') continue;
    out.push({ port: parseInt(f[1]!.split(':')[1]!, 16), inode: Number(f[9]) });
  }
  return out;
}

/**
 * The pid of this process's child whose tree listens on `port`: the server
 * under test (the bench's Target does not expose its pid). Undefined if none.
 */
export function serverRoot(port: number): number | undefined {
  const inodes = new Set([...listeners(read('/proc/net/tcp') ?? ''), ...listeners(read('/proc/net/tcp6') ?? '')]
    .filter((l) => l.port === port).map((l) => `socket:[${l.inode}]`));
  if (inodes.size === 0) return undefined;
  const procs = allProcs();
  for (const child of procs.filter((p) => p.ppid === process.pid)) {
    for (const p of treeOf(procs, child.pid)) {
      let fds: string[] = [];
      try { fds = fs.readdirSync(`/proc/${p.pid}/fd`); } catch { continue; }
      for (const fd of fds) {
        try { if (inodes.has(fs.readlinkSync(`/proc/${p.pid}/fd/${fd}`))) return child.pid; } catch { /* closed meanwhile */ }
      }
    }
  }
  return undefined;
}

/** The soft and hard open-files limits in /proc/PID/limits text ("Max open files  1024  524288  files"). */
export function parseNofile(limits: string): { soft: number; hard: number } | undefined {
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(limits);
  if (!m) return undefined;
  const n = (x: string) => (x === 'unlimited' ? Infinity : Number(x));
  return { soft: n(m[1]!), hard: n(m[2]!) };
}

/** This process's hard open-files limit: what a child (nginx, HAProxy) may raise its own soft limit to. */
export function nofileHardLimit(): number {
  return parseNofile(read('/proc/self/limits') ?? '')?.hard ?? 1024;
}
