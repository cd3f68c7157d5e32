// Scenario 5 of issue 8: long-lived connections through 100 changes. For
// each proxy, N HTTP/1.1 keep-alive connections (a request every second) and
// N websockets (a message every second, echoed by ws-backend.ts) stay open
// while the configuration changes every 300 ms through each proxy's reload
// path (as in scenario 4). Counted: connections the proxy dropped (closed
// while the client still wanted them), requests and echoes failed, the
// proxy's processes and the RSS/PSS of its process tree (proctree.ts) before
// the changes, at the peak and after a settling time longer than the old
// workers' 10 s bound. Every socket is closed at the end and checked.
import os from 'node:os';
import path from 'node:path';
import { changeLive, type ProxyKind } from './changes.ts';
import type { GoalResult } from './goals.ts';
import { httpClients, now, wsClients, type ClientCounts } from './long-lived-clients.ts';
import { startHaproxyWs, startNginxWs } from './long-lived-servers.ts';
import { nofileHardLimit, sampleTree, serverRoot, type TreeSample } from './proctree.ts';
import { startTurnout, type Target } from './servers.ts';
import { percentile } from './windows.ts';
import { startWsBackend } from './ws-backend.ts';

/** The plan of the scenario. */
export interface LongLivedPlan {
  /** Connections of each kind (HTTP keep-alive and websocket). */
  connections: number;
  changes: number;
  intervalMs: number;
  /** Seconds after the last change before "after" (old workers are bounded at 10 s). */
  settleSeconds: number;
}

/** Quick: 200 + 200 connections through 20 changes; --full: 1,000 + 1,000 through 100. */
export function longLivedPlan(full: boolean): LongLivedPlan {
  return full ? { connections: 1000, changes: 100, intervalMs: 300, settleSeconds: 12 } : { connections: 200, changes: 20, intervalMs: 300, settleSeconds: 12 };
}

/** A client group's counts without the raw latencies, plus p50/p99 overall and p99 before the changes (connections opening), during them and after. */
export type GroupSummary = Omit<ClientCounts, 'latencies' | 'sentAt'> & { p50: number; p99: number; max: number; dropped: number; p99Before: number; p99During: number; p99After: number };

/** One proxy through the changes. */
export interface LongLivedResult {
  target: string;
  kind: ProxyKind;
  workers: number;
  changes: number;
  intervalMs: number;
  settleSeconds: number;
  lastChangeServed: boolean;
  http: GroupSummary;
  ws: GroupSummary;
  /** Open connections (HTTP, websocket) just before the changes and just before the clients closed them. */
  openBefore: { http: number; ws: number };
  openAtEnd: { http: number; ws: number };
  /** The proxy's process tree: before the changes, the most seen during them and the settling time, and after settling. */
  tree: { before: TreeSample; peak: TreeSample; after: TreeSample };
  /** Every client socket closed at the end. */
  allClosed: boolean;
  loadavg: number[];
}

/** Counts plus latency percentiles (overall; by send time before, during [from, to) and after the changes); drops are idle + busy. */
export function summarize(c: ClientCounts, during: { from: number; to: number }): GroupSummary {
  const { latencies, sentAt, ...rest } = c;
  const p99 = (keep: (at: number) => boolean) => percentile(latencies.filter((_, i) => keep(sentAt[i]!)).sort((a, b) => a - b), 99);
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    ...rest, dropped: c.droppedIdle + c.droppedBusy, p50: percentile(sorted, 50), p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
    p99Before: p99((at) => at < during.from), p99During: p99((at) => at >= during.from && at < during.to), p99After: p99((at) => at >= during.to),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function oneProxy(t: Target, kind: ProxyKind, workers: number, plan: LongLivedPlan): Promise<LongLivedResult> {
  const root = serverRoot(t.port);
  const look = (memory = true): TreeSample => (root === undefined ? { processes: 0, rssKiB: 0, pssKiB: 0, cpuSeconds: 0 } : sampleTree(root, memory));
  const http = httpClients(t.port, plan.connections);
  const ws = wsClients(t.port, plan.connections);
  // Every slot sends within its first second; give them 3 s to be open.
  for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
    await sleep(250);
    if (Date.now() > deadline - 7_000 && http.open() >= plan.connections && ws.open() >= plan.connections) break;
  }
  const openBefore = { http: http.open(), ws: ws.open() };
  const before = look();
  const peak: TreeSample = { ...before };
  const sampler = setInterval(() => {
    const s = look();
    peak.processes = Math.max(peak.processes, s.processes);
    peak.rssKiB = Math.max(peak.rssKiB, s.rssKiB);
    peak.pssKiB = Math.max(peak.pssKiB, s.pssKiB);
    peak.cpuSeconds = s.cpuSeconds;
  }, 250);
  const during = { from: now(), to: Infinity };
  try {
    for (let n = 1; n <= plan.changes; n++) {
      const next = Date.now() + plan.intervalMs;
      await t.change(n);
      await sleep(Math.max(0, next - Date.now()));
    }
    during.to = now();
    const lastChangeServed = await changeLive(t, plan.changes);
    await sleep(plan.settleSeconds * 1000);
    const after = look();
    const openAtEnd = { http: http.open(), ws: ws.open() };
    clearInterval(sampler);
    const [h, w] = [await http.stop(), await ws.stop()];
    const allClosed = http.open() === 0 && ws.open() === 0;
    return {
      target: t.name, kind, workers, changes: plan.changes, intervalMs: plan.intervalMs, settleSeconds: plan.settleSeconds, lastChangeServed,
      http: summarize(h, during), ws: summarize(w, during), openBefore, openAtEnd, tree: { before, peak, after }, allClosed,
      loadavg: os.loadavg().map((x) => Number(x.toFixed(2))),
    };
  } finally {
    clearInterval(sampler);
    await Promise.all([http.stop(), ws.stop()]);
  }
}

/** Runs scenario 5 for each proxy kind against its own websocket-capable backend. */
export async function longLivedScenario(opts: { full: boolean; tmp: string; kinds: readonly ProxyKind[]; turnoutWorkers: number; plan?: LongLivedPlan }): Promise<{ results: LongLivedResult[]; goals: GoalResult[] }> {
  const plan = opts.plan ?? longLivedPlan(opts.full);
  // Client sockets, then per proxy about 2 files per connection (client and upstream side).
  if (nofileHardLimit() < 4 * plan.connections + 200) console.error(`scenario 5: the open-files limit (${nofileHardLimit()}) is low for 2 × ${plan.connections} connections; raise it (ulimit -n) or expect connect failures`);
  console.log(`scenario 5: ${plan.connections} keep-alive + ${plan.connections} websocket connections through ${plan.changes} changes every ${plan.intervalMs} ms (load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')})`);
  const backend = await startWsBackend();
  const results: LongLivedResult[] = [];
  try {
    for (const kind of opts.kinds) {
      const dir = path.join(opts.tmp, `long-lived-${kind}`);
      const workers = kind === 'turnout' ? opts.turnoutWorkers : 1;
      const t = kind === 'nginx' ? await startNginxWs(dir, backend.port)
        : kind === 'haproxy' ? await startHaproxyWs(dir, backend.port)
        : await startTurnout(dir, workers, backend.port);
      try {
        const r = await oneProxy(t, kind, workers, plan);
        results.push(r);
        const g = (s: GroupSummary) => `${s.dropped} dropped (${s.droppedIdle} idle, ${s.droppedBusy} busy), ${s.failed} of ${s.requests} failed, p99 ${s.p99.toFixed(2)} ms (before/during/after changes ${[s.p99Before, s.p99During, s.p99After].map((x) => x.toFixed(2)).join('/')})`;
        console.log(`  ${t.name}: http ${g(r.http)}; ws ${g(r.ws)}; processes ${r.tree.before.processes}/${r.tree.peak.processes}/${r.tree.after.processes}, PSS MiB ${[r.tree.before, r.tree.peak, r.tree.after].map((s) => (s.pssKiB / 1024).toFixed(0)).join('/')}${r.allClosed ? '' : ', NOT all sockets closed'}`);
      } finally {
        await t.stop();
      }
    }
  } finally {
    await backend.server.stop();
  }
  // Issue 8 sets no numeric goal for scenario 5; its table is the result.
  return { results, goals: [] };
}

const mib = (k: number) => (k / 1024).toFixed(0);
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');

/** The Markdown section of scenario 5. */
export function longLivedMarkdown(results: readonly LongLivedResult[]): string {
  if (results.length === 0) return '';
  const r0 = results[0]!;
  const lines = [
    `## Long-lived connections through changes (scenario 5)`, '',
    `${r0.http.connections} HTTP/1.1 keep-alive connections (GET / every second) and ${r0.ws.connections} websockets (a message every second, echoed) through ${r0.changes} changes, one every ${r0.intervalMs} ms, then ${r0.settleSeconds} s to settle. Dropped = closed by the proxy while the client wanted the connection (idle: without \`Connection: close\`; busy: with a request or message outstanding); the slot reconnects at its next send.`, '',
    '| target | kind | opened (reconnects) | dropped idle | dropped busy | announced close | requests | failed | p99 ms | p99 before / during / after changes | max ms | ws close codes |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    for (const [name, s] of [['HTTP', r.http], ['websocket', r.ws]] as const) {
      const codes = Object.entries(s.closeCodes).map(([k, v]) => `${k}×${v}`).join(' ');
      lines.push(`| ${r.target} | ${name} | ${s.opened} (${s.opened - s.connections}) | ${s.droppedIdle} | ${s.droppedBusy} | ${name === 'HTTP' ? s.announcedClose : ''} | ${s.requests} | ${s.failed} | ${f2(s.p99)} | ${f2(s.p99Before)} / ${f2(s.p99During)} / ${f2(s.p99After)} | ${f2(s.max)} | ${codes} |`);
    }
  }
  lines.push('', 'The proxy\'s process tree (from /proc): processes, RSS summed over processes (counts pages shared after fork once per process) and PSS (shared pages split: the honest total), before the changes, peak, and after settling; connections open before the changes and at the end.', '',
    '| target | processes before / peak / after | RSS MiB before / peak / after | PSS MiB before / peak / after | CPU s, changes + settling | open before (HTTP + ws) | open at end | last change live | all sockets closed |',
    '|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const t = r.tree;
    lines.push(`| ${r.target} | ${t.before.processes} / ${t.peak.processes} / ${t.after.processes} | ${mib(t.before.rssKiB)} / ${mib(t.peak.rssKiB)} / ${mib(t.after.rssKiB)} | ${mib(t.before.pssKiB)} / ${mib(t.peak.pssKiB)} / ${mib(t.after.pssKiB)} | ${(t.after.cpuSeconds - t.before.cpuSeconds).toFixed(2)} | ${r.openBefore.http} + ${r.openBefore.ws} | ${r.openAtEnd.http} + ${r.openAtEnd.ws} | ${r.lastChangeServed ? 'yes' : '**no**'} | ${r.allClosed ? 'yes' : '**no**'} |`);
  }
  lines.push('', '"Before" includes each HTTP connection\'s first request, which waits for its TCP connect while all of them open within one second (a websocket sends its first message a second after opening).');
  return lines.join('\n') + '\n';
}
