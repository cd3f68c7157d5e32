// Scenario 4 of issue 8, errors during change: the keep-alive load of
// scenario 1 (wrk, 50 connections) while the configuration really changes 1,
// 10 or 100 times a second (nginx: a new location + SIGHUP, what `nginx -s
// reload` sends; HAProxy: a new rule + SIGUSR2 to the master; Turnout: a
// rewritten manifest through its real controller in `turnout local`), next to
// a run of the same length on the same instance without changes. Counted:
// wrk's socket errors and non-2xx, the probe's failures (probe.ts), kernel
// counters around each run (nstat.ts; the bench's own namespace as root), processes seen, and the
// probe's p99 inside vs outside the window after each change (windows.ts).
// A run without changes follows too: the machine is shared, and the two show
// the drift. Each (proxy, rate) gets a fresh instance, so 100 reloads/s of nginx do not
// leave workers behind for the next run.
import os from 'node:os';
import path from 'node:path';
import { PROXIES, type Bars } from './context.ts';
import type { GoalResult } from './goals.ts';
import { SHORT, diffCounters, readNstat } from './nstat.ts';
import { runProbe } from './probe.ts';
import { get } from './procs.ts';
import { sampleTree, serverRoot } from './proctree.ts';
import { startHaproxy, startNginxProxy, startTurnout, type Target } from './servers.ts';
import { splitByWindows, stats, windowMs, type LatencyStats } from './windows.ts';
import { failures, runWrk, type WrkResult } from './wrk.ts';

/** The proxies compared. */
export type ProxyKind = 'nginx' | 'haproxy' | 'turnout';

/** One timed run under load, with or without changes. */
export interface LoadRun {
  rate: number;
  seconds: number;
  /** Changes triggered, and the rate actually achieved. */
  changes: number;
  achievedRate: number;
  wrk: WrkResult;
  probe: { requests: number; failed: number; late: number; opened: number; all: LatencyStats; inside?: LatencyStats; outside?: LatencyStats };
  /** Width of the change window, ms (0 without changes). */
  windowMs: number;
  /** Kernel counter differences over the run (system-wide); undefined without nstat. */
  nstat?: Record<string, number>;
  /** Processes in the proxy's tree: least and most seen (sampled every 200 ms). */
  processes: { min: number; max: number };
  /** Distinct versions Turnout reported while changing (its manifest reload coalesces bursts). */
  versionsSeen?: number;
  /** The last change answered as configured within 5 s. */
  lastChangeServed?: boolean;
  requests: number;
  failed: number;
  /** CPU seconds of the proxy's process tree over the run, and per request (µs): the cost of changes without the noise of req/s. */
  cpuSeconds: number;
  cpuUsPerRequest: number;
  /** The machine's load average at the end of the run (it is shared). */
  loadavg: number[];
}

/** One proxy at one change rate: the change run and its baseline on the same instance. */
export interface ChangeResult {
  target: string;
  kind: ProxyKind;
  workers: number;
  rate: number;
  /** Runs without changes before and after the change run (the machine is shared: drift shows as a gap between them). */
  baseline: LoadRun;
  baselineAfter: LoadRun;
  changed: LoadRun;
  /** wrk req/s during changes relative to the mean of the two runs without, percent (negative = lost). */
  deltaPct: number;
  perMillion: number;
}

/** The plan of the scenario. */
export interface ChangesPlan {
  rates: number[];
  warmup: number;
  baseSeconds: number;
  changeSeconds: number;
  /** Turnout's 10/s and 100/s runs are made long enough for this many requests (capped at maxSeconds). */
  minRequests: number;
  maxSeconds: number;
}

/** Quick: 10/s for 8 s; --full: 1, 10 and 100/s, with ≥ 10⁶ requests through Turnout at 10 and 100/s. */
export function changesPlan(full: boolean): ChangesPlan {
  return full
    ? { rates: [1, 10, 100], warmup: 2, baseSeconds: 15, changeSeconds: 20, minRequests: 1_300_000, maxSeconds: 300 }
    : { rates: [10], warmup: 2, baseSeconds: 8, changeSeconds: 8, minRequests: 0, maxSeconds: 8 };
}

const CONNECTIONS = 50;
const PROBE_RATE = 1000;
const PROBE_CONNECTIONS = 8;
const mono = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls GET /bench-change-n until it answers as configured (bounded): the change was real and went live. */
export async function changeLive(t: Target, n: number, timeoutMs = 5_000): Promise<boolean> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline;) {
    if ((await get(t.port, `/bench-change-${n}`).catch(() => ({ status: 0 }))).status === t.changedStatus) return true;
    await sleep(100);
  }
  return false;
}

async function loadRun(t: Target, kind: ProxyKind, rate: number, seconds: number, tmp: string): Promise<LoadRun> {
  const root = serverRoot(t.port);
  const cpu = () => (root === undefined ? NaN : sampleTree(root, false).cpuSeconds);
  const cpu0 = cpu();
  const procs = { min: Infinity, max: 0 };
  const look = () => {
    if (root === undefined) return;
    const n = sampleTree(root, false).processes;
    procs.min = Math.min(procs.min, n);
    procs.max = Math.max(procs.max, n);
  };
  look();
  const sampler = setInterval(look, 200);
  const before = readNstat();
  const triggers: number[] = [];
  const versions = new Set<string>();
  let n = 0;
  let busy = false;
  let polling = false;
  const t0 = Date.now();
  const wrkP = runWrk(`http://127.0.0.1:${t.port}/`, { connections: CONNECTIONS, seconds });
  const probeP = runProbe(t.port, { rate: PROBE_RATE, seconds, connections: PROBE_CONNECTIONS, outFile: path.join(tmp, `probe-${process.pid}-${t.port}-${rate}.bin`) });
  const changer = rate > 0 ? setInterval(() => {
    const elapsed = Date.now() - t0;
    if (busy || elapsed > (seconds - 0.5) * 1000 || n >= Math.floor((elapsed / 1000) * rate) + 1) return;
    busy = true;
    n++;
    triggers.push(mono());
    t.change(n).catch((err) => console.error(`  ${t.name}: change ${n} failed: ${(err as Error).message}`)).finally(() => { busy = false; });
  }, Math.max(1, Math.min(20, 250 / rate))) : undefined;
  const poller = rate > 0 && kind === 'turnout' ? setInterval(() => {
    if (polling) return;
    polling = true;
    t.version().then((v) => { if (v !== undefined) versions.add(v); }).finally(() => { polling = false; });
  }, 250) : undefined;
  const [wrk, probe] = await Promise.all([wrkP, probeP]);
  clearInterval(changer);
  clearInterval(poller);
  clearInterval(sampler);
  while (busy || polling) await sleep(10);
  const after = readNstat();
  const cpuSeconds = cpu() - cpu0;
  const elapsed = (Date.now() - t0) / 1000;
  let lastChangeServed: boolean | undefined;
  if (rate > 0) {
    lastChangeServed = await changeLive(t, n);
    if (!lastChangeServed) console.error(`  ${t.name}: change ${n} not live after 5 s; its output:\n${t.output().slice(-1500)}`);
    if (kind === 'turnout') { const v = await t.version(); if (v !== undefined) versions.add(v); }
  }
  const width = windowMs(rate);
  const split = rate > 0 ? splitByWindows(probe.samples, triggers, width) : undefined;
  const all = stats(probe.samples);
  const requests = wrk.requests + probe.samples.length;
  const failed = failures(wrk) + all.failed;
  return {
    rate, seconds, changes: n, achievedRate: n / Math.max(elapsed - 0.5, 1), wrk,
    probe: { requests: probe.samples.length, failed: all.failed, late: probe.late, opened: probe.opened, all, inside: split && stats(split.inside), outside: split && stats(split.outside) },
    windowMs: width,
    nstat: before && after ? diffCounters(before, after) : undefined,
    processes: { min: Number.isFinite(procs.min) ? procs.min : 0, max: procs.max },
    versionsSeen: kind === 'turnout' && rate > 0 ? versions.size : undefined,
    lastChangeServed, requests, failed, cpuSeconds, cpuUsPerRequest: (cpuSeconds / requests) * 1e6,
    loadavg: os.loadavg().map((x) => Number(x.toFixed(2))),
  };
}

function describe(r: LoadRun): string {
  const p = r.probe;
  const lat = r.rate > 0 ? `probe p99 in/out ${p.inside!.p99.toFixed(2)}/${p.outside!.p99.toFixed(2)} ms` : `probe p99 ${p.all.p99.toFixed(2)} ms`;
  const k = r.nstat ? ` nstat ${Object.entries(SHORT).map(([name, s]) => `${s} ${r.nstat![name] ?? '?'}`).join(' ')}` : '';
  return `${r.rate}/s (load ${r.loadavg[0]}): ${r.changes} changes, ${r.requests} requests, ${r.failed} failed, ${Math.round(r.wrk.rps)} req/s, ${r.cpuUsPerRequest.toFixed(1)} µs CPU/request, ${lat}, processes ${r.processes.min}–${r.processes.max}${k}`;
}

/** Runs scenario 4 for each proxy kind and rate of the plan; returns raw results and the goals it judges. */
export async function changesScenario(opts: { full: boolean; tmp: string; backendPort: number; kinds: readonly ProxyKind[]; turnoutWorkers: number; plan?: ChangesPlan }): Promise<{ results: ChangeResult[]; goals: GoalResult[] }> {
  const plan = opts.plan ?? changesPlan(opts.full);
  const results: ChangeResult[] = [];
  console.log(`scenario 4: errors during ${plan.rates.join(', ')} changes/s (wrk -t1 -c${CONNECTIONS} + a ${PROBE_RATE} req/s probe; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')})`);
  for (const kind of opts.kinds) {
    for (const rate of plan.rates) {
      const dir = path.join(opts.tmp, `changes-${kind}-${rate}`);
      const workers = kind === 'turnout' ? opts.turnoutWorkers : 1;
      const t = kind === 'nginx' ? await startNginxProxy(dir, 1, opts.backendPort)
        : kind === 'haproxy' ? await startHaproxy(dir, 1, opts.backendPort)
        : await startTurnout(dir, workers, opts.backendPort);
      try {
        await runWrk(`http://127.0.0.1:${t.port}/`, { connections: CONNECTIONS, seconds: plan.warmup });
        const baseline = await loadRun(t, kind, 0, plan.baseSeconds, opts.tmp);
        console.log(`  ${t.name} none: ${describe(baseline)}`);
        // Enough seconds for minRequests at the baseline's rate (Turnout at 10 and 100/s in --full).
        const perSecond = baseline.requests / baseline.seconds;
        const seconds = kind === 'turnout' && rate >= 10 && plan.minRequests > 0
          ? Math.min(plan.maxSeconds, Math.max(plan.changeSeconds, Math.ceil(plan.minRequests / perSecond) + 2))
          : plan.changeSeconds;
        const changed = await loadRun(t, kind, rate, seconds, opts.tmp);
        console.log(`  ${t.name} ${describe(changed)}`);
        const baselineAfter = await loadRun(t, kind, 0, plan.baseSeconds, opts.tmp);
        console.log(`  ${t.name} none, after: ${describe(baselineAfter)}`);
        results.push({
          target: t.name, kind, workers, rate, baseline, baselineAfter, changed,
          deltaPct: (changed.wrk.rps / ((baseline.wrk.rps + baselineAfter.wrk.rps) / 2) - 1) * 100,
          perMillion: (changed.failed / changed.requests) * 1e6,
        });
      } finally {
        await t.stop();
      }
    }
  }
  return { results, goals: changesGoals(results) };
}

const f0 = (x: number) => Math.round(x).toLocaleString('en-US');
const f2 = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x.toFixed(2) : 'n/a');
const pct = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)} %`;

/**
 * The chart's second panel: failed requests per million during each change
 * rate, per proxy (single-core runs, pooled when a rate ran more than once).
 */
export function changesBars(results: readonly ChangeResult[]): Bars[] {
  const rates = [...new Set(results.map((r) => r.rate))].sort((a, b) => a - b);
  return rates.map((rate) => {
    const values: Bars['values'] = {};
    for (const kind of PROXIES) {
      const runs = results.filter((r) => r.rate === rate && r.kind === kind && r.workers <= 1);
      const requests = runs.reduce((n, r) => n + r.changed.requests, 0);
      if (requests > 0) values[kind] = (runs.reduce((n, r) => n + r.changed.failed, 0) / requests) * 1e6;
    }
    return { label: `${rate} change${rate === 1 ? '' : 's'}/s`, values };
  });
}

/** The issue-8 goals scenario 4 judges, for Turnout: no failed request at 10 and 100/s (over ≥ 10⁶), throughput within 5 %. */
export function changesGoals(results: readonly ChangeResult[]): GoalResult[] {
  const goals: GoalResult[] = [];
  for (const r of results.filter((x) => x.kind === 'turnout')) {
    if (r.rate >= 10) {
      const c = r.changed;
      goals.push({
        metric: `failed requests during ${r.rate}/s changes (${r.target})`, goal: '0 per ≥ 10⁶ requests',
        measured: `${c.failed} of ${f0(c.requests)} (${f0(r.perMillion)} per million)`,
        pass: c.failed > 0 ? false : c.requests >= 1e6 ? true : undefined,
        note: c.failed === 0 && c.requests < 1e6 ? `0 failed but only ${f0(c.requests)} requests; --full runs ≥ 10⁶` : undefined,
      });
    }
    goals.push({
      metric: `throughput during ${r.rate}/s changes (${r.target})`, goal: 'within 5 % of none',
      measured: `${pct(r.deltaPct)} (${f0(r.changed.wrk.rps)} vs ${f0(r.baseline.wrk.rps)} before and ${f0(r.baselineAfter.wrk.rps)} after, req/s)`,
      pass: r.deltaPct >= -5,
    });
  }
  return goals;
}

/** The Markdown section of scenario 4 (two tables: failures and throughput; latency, kernel counters, processes). */
export function changesMarkdown(results: readonly ChangeResult[], netns: 'private' | 'host' = 'host'): string {
  if (results.length === 0) return '';
  const lines = [
    '## Errors during change (scenario 4)', '',
    `wrk -t1 -c${CONNECTIONS} plus a ${PROBE_RATE} req/s probe (${PROBE_CONNECTIONS} keep-alive connections), without changes, with changes, and without again, on the same instance; the throughput change is against the mean of the two runs without. Failed = wrk socket errors (connect/read/write/timeout) + non-2xx/3xx + failed probe requests.`, '',
    '| target | changes/s (achieved) | s | requests | failed (wrk c/r/w/t + non-2xx; probe) | per million | req/s none before, after → during | Δ vs mean | proxy CPU µs/request none → during | last change live | versions served | load average (1 min) before, during, after |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const c = r.changed;
    const e = c.wrk.errors;
    lines.push(`| ${r.target} | ${r.rate} (${c.achievedRate.toFixed(1)}) | ${c.seconds} | ${f0(c.requests)} | ${c.failed} (${e.connect}/${e.read}/${e.write}/${e.timeout} + ${c.wrk.non2xx}; ${c.probe.failed}) | ${f0(r.perMillion)} | ${f0(r.baseline.wrk.rps)}, ${f0(r.baselineAfter.wrk.rps)} → ${f0(c.wrk.rps)} | ${pct(r.deltaPct)} | ${f2(r.baseline.cpuUsPerRequest)} → ${f2(c.cpuUsPerRequest)} | ${c.lastChangeServed ? 'yes' : '**no**'} | ${c.versionsSeen ?? ''} | ${[r.baseline, c, r.baselineAfter].map((x) => x.loadavg[0]).join(', ')} |`);
  }
  const counters = Object.keys(SHORT);
  lines.push('', `Probe latency (ms, successful requests): p99 without changes, and with changes inside the window after each change (200 ms, at most half the period) and outside it. Kernel counters: differences over the run, ${netns === 'private' ? "in the bench's own network namespace (its sockets only)" : "**system-wide** (other processes on the machine count too)"}, without changes → with changes. Processes: the proxy's process tree, least–most seen. "Sent late": probe requests that found all its connections busy and left > 5 ms after their slot (when most are, the probe was closed-loop on its 8 connections: the proxy could not keep up with 1,000 req/s on top of wrk).`, '',
    `| target | changes/s | window ms | probe sent late | p99 none | p99 inside | p99 outside | max inside | ${counters.map((k) => SHORT[k]).join(' | ')} | processes none | processes during |`,
    `|---|---|---|---|---|---|---|---|${counters.map(() => '---|').join('')}---|---|`);
  for (const r of results) {
    const c = r.changed;
    const k = (name: string) => `${r.baseline.nstat?.[name] ?? 'n/a'} → ${c.nstat?.[name] ?? 'n/a'}`;
    lines.push(`| ${r.target} | ${r.rate} | ${c.windowMs} | ${f0(c.probe.late)} of ${f0(c.probe.requests)} | ${f2(r.baseline.probe.all.p99)} | ${f2(c.probe.inside?.p99)} (n=${c.probe.inside?.n ?? 0}) | ${f2(c.probe.outside?.p99)} (n=${c.probe.outside?.n ?? 0}) | ${f2(c.probe.inside?.max)} | ${counters.map(k).join(' | ')} | ${r.baseline.processes.min}–${r.baseline.processes.max} | ${c.processes.min}–${c.processes.max} |`);
  }
  return lines.join('\n') + '\n';
}
