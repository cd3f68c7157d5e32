// `npm run bench`: Turnout's proxy side by side with nginx and HAProxy on this
// machine, in the same run (issue 8, first part). Not a test.
//
//   node_modules/.bin/node bench/compare.ts [--full] [--install] [--no-write] [--only=nginx,haproxy,turnout]
//                                           [--scenarios=keepalive,changes,long-lived]
//
// A backend nginx (1 worker, 13-byte body) and, in front of it, each proxy in
// turn with 1 worker (and 2 with --full): nginx (keep-alive upstream pool),
// HAProxy (master-worker, keep-alive), Turnout (`turnout local`, in-process
// and with 1 worker process). Scenario 1: wrk keep-alive throughput and
// p50/p99, warm-up then several runs, median; direct-to-backend is the
// ceiling. Scenario 4 (compare/changes.ts): the same load while the
// configuration really changes 1, 10 or 100 times a second. Scenario 5
// (compare/long-lived.ts): long-lived keep-alive and websocket connections
// through 100 changes. Quick mode ~3 + 3 minutes; --full ~10 + 10 minutes plus
// Turnout's ≥ 10⁶-request change runs.
// Every server runs on 127.0.0.1 on a free port and is killed at the end,
// on failure and on Ctrl-C (bench/compare/procs.ts).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { atExit } from './compare/procs.ts';
import { rmSync } from 'node:fs';
import { changesMarkdown, changesScenario, type ChangeResult } from './compare/changes.ts';
import { goalsMarkdown, type GoalResult } from './compare/goals.ts';
import { longLivedMarkdown, longLivedScenario, type LongLivedResult } from './compare/long-lived.ts';
import { machine, markdown, median, type Throughput } from './compare/report.ts';
import { startBackend, startHaproxy, startNginxProxy, startTurnout, type Target } from './compare/servers.ts';
import { aptCommand, install, missingTools, versions } from './compare/tools.ts';
import { failures, runWrk } from './compare/wrk.ts';

const argv = new Set(process.argv.slice(2));
const full = argv.has('--full');
const plan = full
  ? { warmup: 3, seconds: 10, reps: 5, workers: [1, 2], changeSeconds: 20 }
  : { warmup: 2, seconds: 4, reps: 3, workers: [1], changeSeconds: 8 };
// --only=turnout,nginx: a subset of the proxies (the direct ceiling always runs).
const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7).split(',');
const CONNECTIONS = 50;
// --scenarios=keepalive,changes,long-lived: a subset of the scenarios (default: all).
const scenarios = process.argv.find((a) => a.startsWith('--scenarios='))?.slice(12).split(',');
const want = (s: string) => !scenarios || scenarios.includes(s);

process.env.PATH = `${process.env.PATH}:/usr/sbin:/sbin`;
let missing = missingTools();
if (missing.length > 0 && argv.has('--install')) { install(missing); missing = missingTools(); }
if (missing.length > 0) {
  console.error(`missing: ${missing.join(', ')}\ninstall them with:  sudo ${aptCommand(missing)}\n(or run this with --install as root)`);
  process.exit(2);
}

const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'turnout-bench-'));
atExit(() => rmSync(tmp, { recursive: true, force: true }));
const mach = machine();
const started: Target[] = [];
const track = async (t: Promise<Target>) => { const x = await t; started.push(x); return x; };
const stop = async (t: Target) => { await t.stop(); started.splice(started.indexOf(t), 1); };
const wrkLine = `wrk -t1 -c${CONNECTIONS} -d${plan.seconds}s --latency`;
const url = (t: Target) => `http://127.0.0.1:${t.port}/`;

async function throughput(t: Target, kind: Throughput['kind'], workers: number): Promise<Throughput> {
  await runWrk(url(t), { connections: CONNECTIONS, seconds: plan.warmup });
  const runs = [];
  for (let i = 0; i < plan.reps; i++) runs.push(await runWrk(url(t), { connections: CONNECTIONS, seconds: plan.seconds }));
  const r: Throughput = { target: t.name, kind, workers, runs, rps: median(runs.map((x) => x.rps)), p50: median(runs.map((x) => x.p50)), p99: median(runs.map((x) => x.p99)) };
  console.log(`  ${t.name}: ${Math.round(r.rps)} req/s (runs ${runs.map((x) => Math.round(x.rps)).join(', ')}), p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, failed ${runs.reduce((s, x) => s + failures(x), 0)}`);
  return r;
}

const tp: Throughput[] = [];
let changes: ChangeResult[] = [];
let longLived: LongLivedResult[] = [];
const goals: GoalResult[] = [];
try {
  console.log(`bench: ${full ? 'full' : 'quick'} mode, ${os.cpus().length} cores, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const backend = await track(startBackend(path.join(tmp, 'backend')));
  if (want('keepalive')) {
    console.log(`scenario 1: keep-alive throughput (${wrkLine}, ${plan.warmup} s warm-up, median of ${plan.reps})`);
    tp.push(await throughput(backend, 'direct', 1));
    type Maker = [Throughput['kind'], number, () => Promise<Target>];
    const makers = (w: number): Maker[] => {
      const list: Maker[] = [
        ['nginx', w, () => startNginxProxy(path.join(tmp, `nginx-${w}`), w, backend.port)],
        ['haproxy', w, () => startHaproxy(path.join(tmp, `haproxy-${w}`), w, backend.port)],
      ];
      // --workers 0 (in-process) is the other single-core form of Turnout.
      if (w === 1) list.push(['turnout', 0, () => startTurnout(path.join(tmp, 'turnout-0'), 0, backend.port)]);
      list.push(['turnout', w, () => startTurnout(path.join(tmp, `turnout-${w}`), w, backend.port)]);
      return list;
    };
    for (const w of plan.workers) {
      for (const [kind, workers, make] of makers(w)) {
        if (only && !only.includes(kind)) continue;
        const t = await track(make());
        tp.push(await throughput(t, kind, workers));
        await stop(t);
      }
    }
  }
  const single = (kind: Throughput['kind']) => tp.filter((x) => x.kind === kind && x.workers <= 1).sort((a, b) => b.rps - a.rps)[0];
  const kinds = (['nginx', 'haproxy', 'turnout'] as const).filter((k) => !only || only.includes(k));
  // Turnout in its best single-core form from scenario 1; --workers 1 when scenario 1 did not run.
  const turnoutWorkers = single('turnout')?.workers ?? 1;
  if (want('changes')) {
    const r = await changesScenario({ full, tmp, backendPort: backend.port, kinds, turnoutWorkers });
    changes = r.results;
    goals.push(...r.goals);
  }
  if (want('long-lived')) {
    const r = await longLivedScenario({ full, tmp, kinds, turnoutWorkers });
    longLived = r.results;
    goals.push(...r.goals);
  }
  await stop(backend);
} catch (err) {
  console.error(`bench failed: ${(err as Error).stack ?? err}`);
  process.exitCode = 1;
} finally {
  for (const t of [...started].reverse()) await t.stop().catch(() => {});
  await fs.rm(tmp, { recursive: true, force: true });
}

if (tp.length > 0 || changes.length > 0 || longLived.length > 0) {
  const now = new Date();
  const date = now.toISOString().slice(0, 16).replace('T', '-').replace(':', '');
  const vers = versions();
  const head = `# Turnout vs nginx vs HAProxy, ${date} (${full ? '--full' : 'quick'}, scenarios ${scenarios?.join(', ') ?? 'all'})\n\nMachine: ${JSON.stringify(mach)}; versions: ${Object.values(vers).join('; ')}.\n`;
  const md = (tp.length === 0 ? head : markdown({ date, mode: full ? '--full' : 'quick', mach, versions: vers, wrk: wrkLine, throughput: tp, changes: [] })) +
    ['', changesMarkdown(changes), longLivedMarkdown(longLived), goals.length > 0 ? `## Issue 8 goals (scenarios 4 and 5)\n\n${goalsMarkdown(goals)}` : ''].filter((x) => x !== '').join('\n');
  console.log(`\n${md}`);
  if (!argv.has('--no-write') && process.exitCode !== 1) {
    const dir = fileURLToPath(new URL('results/', import.meta.url));
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, `${date}.md`), md);
    await fs.writeFile(path.join(dir, `${date}.json`), JSON.stringify({ date: now.toISOString(), mode: full ? 'full' : 'quick', machine: mach, versions: vers, plan, connections: CONNECTIONS, throughput: tp, changes, longLived, goals }, null, 2) + '\n');
    console.log(`written: bench/results/${date}.md and .json`);
  }
}
