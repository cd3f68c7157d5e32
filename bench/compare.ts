// `npm run bench`: Turnout's proxy side by side with nginx and HAProxy on this
// machine, in the same run (issue 8). Not a test.
//
//   node_modules/.bin/node bench/compare.ts [--full] [--install] [--no-write] [--only=nginx,haproxy,turnout]
//                                           [--scenarios=1b,2,3,rate,4,5,6] (scenario 1 always runs)
//                                           [--turnout-workers=0|1]       (Turnout's single-core form after scenario 1)
//                                           [--turnout-engine=node|net]   (Turnout's --http1-engine, every scenario)
//                                           [--hosts=10,50000]            (scenario 3's table sizes)
//                                           [--host-netns]                (stay in the host's network namespace)
//
// A backend nginx (1 worker, 13-byte body) and, in front of it, each proxy in
// turn with 1 worker (and 2 with --full): nginx, HAProxy, Turnout (`turnout
// local`). Each scenario is a module of bench/compare/ returning its rows,
// goals, report section and chart bars:
//   1  keep-alive HTTP/1.1, wrk (throughput.ts)    1b HTTP/2 over TLS, h2load (h2.ts)
//   2  Connection: close churn (churn.ts)          3  10 → 50k hosts, random Host (hosts.ts)
//   p99 at 50 % of max rate, h2load --rps (rate.ts)
//   4  errors during 1, 10, 100 changes/s (changes.ts)   5  long-lived connections through changes (long-lived.ts)
//   6, 7  apply → serving, snapshot sizes, swaps (control-plane.ts)
// Scenario 1 also runs reference servers (reference.ts), the runtime's own
// limits: Node answering by itself, a minimal Node proxy on undici, a
// net-level Node proxy on llhttp, and a TCP byte pipe.
// Quick mode ≈ 10 minutes (9.5 measured 2026-11-26 04:49); --full ≈ 37 (36 measured before the reference rows; on 2 cores, 8 of them Turnout's 10⁶-request change runs). Every server runs on 127.0.0.1 on a
// free port and is killed at the end, on failure and on Ctrl-C (compare/procs.ts).
// Writes bench/results/<date>.{md,json,svg} and copies the chart to docs/bench.svg.
import fs from 'node:fs/promises';
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { churn } from './compare/churn.ts';
import { dirFor, load, PROXIES, type Ctx, type Proxy, type ScenarioOutput } from './compare/context.ts';
import { http2 } from './compare/h2.ts';
import { hostScale } from './compare/hosts.ts';
import { atExit } from './compare/procs.ts';
import { halfRate } from './compare/rate.ts';
import { changesScenario, type ChangeResult } from './compare/changes.ts';
import { longLivedScenario, type LongLivedResult } from './compare/long-lived.ts';
import { rerunInPrivateNetns } from './compare/netns.ts';
import { machine } from './compare/report.ts';
import { renderResults, stamp, type ResultsFile } from './compare/results.ts';
import { startBackend, startProxy, turnoutEngine, type Target } from './compare/servers.ts';
import { bestSingle, CONNECTIONS, keepAlive, keepAliveTiming } from './compare/throughput.ts';
import { aptCommand, install, missingTools, versions } from './compare/tools.ts';
import { controlPlane, type ControlPlaneResult } from './compare/control-plane.ts';
import { failures, runWrk } from './compare/wrk.ts';
import { machineStat, stealPercent } from './compare/cpu.ts';

const argv = new Set(process.argv.slice(2));
const full = argv.has('--full');
const timing = full ? { warmup: 2, seconds: 5, reps: 3 } : { warmup: 1, seconds: 3, reps: 3 };
// --only=turnout,nginx: a subset of the proxies (the direct ceiling always runs).
const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7).split(',');
// --scenarios=1,1b,2,3,rate,4: a subset of the scenarios (1 always runs: the others need its figures).
const pick = process.argv.find((a) => a.startsWith('--scenarios='))?.slice(12).split(',');
const runs = (s: string) => !pick || pick.includes(s);
// --turnout-workers=1: Turnout's form in the single-core slot of the added scenarios (default: the faster in scenario 1).
// --hosts=10,50000: scenario 3's table sizes (default: 10 and 10k; --full 10, 1k, 10k, 50k).
const hostSizes = process.argv.find((a) => a.startsWith('--hosts='))?.slice(8).split(',').map(Number);
const turnoutWorkers = process.argv.find((a) => a.startsWith('--turnout-workers='))?.slice(18);
// --turnout-engine=node: Turnout's HTTP/1.1 engine in every scenario (servers.ts reads it from the environment; default Turnout's).
const engineFlag = process.argv.find((a) => a.startsWith('--turnout-engine='))?.slice(17);
if (engineFlag !== undefined) process.env.BENCH_TURNOUT_ENGINE = engineFlag;

process.env.PATH = `${process.env.PATH}:/usr/sbin:/sbin`;
let missing = missingTools();
if (missing.length > 0 && argv.has('--install')) { install(missing); missing = missingTools(); }
if (missing.length > 0) {
  console.error(`missing: ${missing.join(', ')}\ninstall them with:  sudo ${aptCommand(missing)}\n(or run this with --install as root)`);
  process.exit(2);
}
// As root the run moves into its own network namespace, so kernel counters count the bench alone (netns.ts).
if (!argv.has('--host-netns')) {
  const code = await rerunInPrivateNetns();
  if (code !== undefined) process.exit(code);
}

const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'turnout-bench-'));
atExit(() => rmSync(tmp, { recursive: true, force: true }));
const mach = machine();
const stat0 = machineStat();
const started: Target[] = [];
const track = async (t: Promise<Target>) => { const x = await t; started.push(x); return x; };
const stop = async (t: Target) => { await t.stop(); started.splice(started.indexOf(t), 1); };

const outputs: ScenarioOutput<unknown>[] = [];
const t0 = performance.now();
let controlPlaneResult: ControlPlaneResult | undefined;
let changes: ChangeResult[] | undefined;
let longLived: LongLivedResult[] | undefined;
try {
  console.log(`bench: ${full ? 'full' : 'quick'} mode, ${os.cpus().length} cores, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const backend = await track(startBackend(path.join(tmp, 'backend')));
  const ctx: Ctx = {
    full, timing, tmp, backend, workers: full ? [1, 2] : [1], turnoutSingle: 1, hostCounts: hostSizes,
    turnoutOverride: turnoutWorkers === undefined ? undefined : Number(turnoutWorkers),
    proxies: PROXIES.filter((p) => !only || only.includes(p)),
    start: (kind: Proxy, workers: number, opts = {}) => track(startProxy(kind, dirFor(tmp, `${kind}-${workers}`), workers, backend.port, opts)),
    track,
    stop,
  };
  const ka = await keepAlive(ctx);
  if (turnoutWorkers !== undefined) ctx.turnoutSingle = Number(turnoutWorkers);
  outputs.push(ka);
  const tp = ka.rows;
  // A scenario that throws is reported and the next one still runs (the results are then not written).
  const attempt = async (id: string, fn: () => Promise<ScenarioOutput<unknown>>) => {
    if (!runs(id)) return;
    try { outputs.push(await fn()); } catch (err) {
      console.error(`scenario ${id} failed: ${(err as Error).stack ?? err}`);
      process.exitCode = 1;
    }
  };
  await attempt('1b', () => http2(ctx));
  await attempt('2', () => churn(ctx));
  await attempt('rate', () => halfRate(ctx, tp));
  await attempt('3', () => hostScale(ctx));
  // Scenarios 4 and 5 start their own instances (nginx and HAProxy with their reload set-ups), Turnout in its best single-core form.
  const kinds = ctx.proxies;
  if (runs('4')) changes = (await changesScenario({ full, tmp, backendPort: backend.port, kinds, turnoutWorkers: ctx.turnoutSingle })).results;
  if (runs('5')) longLived = (await longLivedScenario({ full, tmp, kinds, turnoutWorkers: ctx.turnoutSingle })).results;
  if (runs('6') && (!only || only.includes('turnout'))) controlPlaneResult = await controlPlane({ full, backendPort: backend.port, dir: tmp }); // scenarios 6 and 7
  await stop(backend);
} catch (err) {
  console.error(`bench failed: ${(err as Error).stack ?? err}`);
  process.exitCode = 1;
} finally {
  for (const t of [...started].reverse()) await t.stop().catch(() => {});
  await fs.rm(tmp, { recursive: true, force: true });
}

if (outputs.length > 0) {
  const now = new Date();
  mach.loadavgAtEnd = os.loadavg().map((x) => Number(x.toFixed(2)));
  const stat1 = machineStat();
  // CPU time the hypervisor gave other guests during the run, percent of the machine's (cpu.ts).
  const steal = stat0 && stat1 ? stealPercent(stat0, stat1) : undefined;
  if (steal !== undefined) mach.stealPercent = Number(steal.toFixed(2));
  mach.minutes = Number(((performance.now() - t0) / 60_000).toFixed(1));
  const scenarios = { ...Object.fromEntries(outputs.map((o) => [o.id, o.rows])), changes, longLived } as ResultsFile['scenarios'];
  const file: ResultsFile = {
    date: now.toISOString(), mode: full ? 'full' : 'quick', machine: mach,
    versions: { ...versions(), turnoutEngine: `Turnout --http1-engine ${turnoutEngine()}` }, keepAliveTiming: keepAliveTiming(full), timing,
    connections: CONNECTIONS, scenarios, controlPlane: controlPlaneResult,
  };
  const { md, svg, goals } = renderResults(file);
  file.goals = goals;
  const date = stamp(file.date);
  console.log(`\n${md}`);
  if (!argv.has('--no-write') && process.exitCode !== 1) {
    const dir = fileURLToPath(new URL('results/', import.meta.url));
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, `${date}.md`), md);
    await fs.writeFile(path.join(dir, `${date}.svg`), svg);
    await fs.copyFile(path.join(dir, `${date}.svg`), fileURLToPath(new URL('../docs/bench.svg', import.meta.url)));
    await fs.writeFile(path.join(dir, `${date}.json`), JSON.stringify(file, null, 2) + '\n');
    console.log(`written: bench/results/${date}.md, .json and .svg; docs/bench.svg [${load()}]`);
  }
}
