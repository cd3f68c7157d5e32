// Scenario 6 of issue 8 (apply → first response on the new version), and the
// proxy-process half of scenario 7 (event-loop delay during swaps under load,
// RSS), through the real path: this process runs the controller's pipeline
// (ObjectCache → BuildLoop → compile → SnapshotStore → StreamServer, wired as
// controller/main.ts wires them) and a real `turnout proxy --workers 0`
// process connects to its stream over loopback.
//
// A change is one Ingress (`bench-change`) whose host becomes
// change-<i>.bench.example.com, upserted into the cache as a source would on a
// watch event. The clock starts at the upsert and stops at the first 200 for
// that host from the proxy (404 before: no such host), polled by one keep-alive
// client in a tight loop bounded by time. The build loop's hold-off is 0 here:
// the default (100 ms of quiet, controller/loop.ts) is a batching choice that
// adds its own delay on top, not work the pipeline does.
//
// The proxy is started with bench/compare/loop-probe.ts preloaded, which
// reports its event-loop delay and RSS; the load is wrk on a host-less route
// to a backend nginx. As deployed, `turnout proxy` restarts itself with its V8
// heap flags (cli/heap.ts; $TURNOUT_HEAP_FLAGS changes them, "" for Node's
// defaults; flags of the same name in TURNOUT_BENCH_PROXY_FLAGS win), so the
// RSS measured is that of the process with them.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { execFileSync } from 'node:child_process';
import { DEFAULT_HEAP_FLAGS } from '../../cli/heap.ts';
import { ObjectCache } from '../../controller/cache.ts';
import { compile } from '../../controller/compile/builder.ts';
import { exactPath, ingress, OPTIONS, prefixPath, rule, service, slice } from '../../controller/compile/fixtures.ts';
import type { CompileOptions } from '../../controller/compile/types.ts';
import type { KubeObject } from '../../controller/k8s/types.ts';
import { BuildLoop } from '../../controller/loop.ts';
import { randomToken } from '../../controller/main.ts';
import { SnapshotStore } from '../../controller/snapshot/store.ts';
import { StreamServer } from '../../controller/stream/server.ts';
import { silentLogger } from '../../lib/log.ts';
import { fleet } from '../compile.ts';
import { cpuMs } from './control-sizes.ts';
import { freePort, get, startServer, waitReady, type Server } from './procs.ts';
import { runWrk, type WrkResult } from './wrk.ts';

/** Scenario 6 at one size, plus what the proxy process showed. Times in ms. */
export interface ApplyRow {
  routes: number;
  /** Changes made: fewer than asked when the time budget ran out. */
  changes: number;
  p50: number;
  p99: number;
  max: number;
  /** Changes not served within the bound (counted as failures, not in the percentiles). */
  timedOut: number;
  /**
   * CPU milliseconds per change, user + system: the proxy process (from
   * /proc/PID/stat) and this process (controller pipeline plus the polling
   * client). Less at the mercy of a busy machine than the latencies.
   */
  cpuPerChange: { proxy: number; controller: number };
  /** Proxy RSS (MB) after the first full snapshot, and after every change. */
  rssAfterFull: number;
  rssAfterChanges: number;
  /** V8 heap in use (MB) at the same two moments: how much of the RSS is live objects. */
  heapAfterFull: number;
  heapAfterChanges: number;
  /** The same after a full GC: the live objects. */
  liveAfterFull: number;
  liveAfterChanges: number;
  loop?: LoopRow;
}

/** Event-loop delay in the proxy (ms) under wrk load, without and with swaps. */
export interface LoopRow {
  steady: { p50: number; p99: number; max: number };
  swaps: { p50: number; p99: number; max: number; count: number };
  wrkSteady: WrkResult;
  wrkSwaps: WrkResult;
  rss: number;
}

interface Probe { p50: number; p99: number; max: number; count: number; rss: number; heapUsed: number; mem?: unknown }

const root = fileURLToPath(new URL('../..', import.meta.url));
const PROBE = fileURLToPath(new URL('loop-probe.mjs', import.meta.url));

/**
 * How the proxy process is started: as deployed, the JavaScript `npm run build`
 * writes to dist/ (built by the caller), or with `fromSource` the TypeScript
 * checkout (Node's type stripper adds ~30 MB of RSS).
 */
function proxyCommand(fromSource: boolean): string[] {
  if (fromSource) return [path.join(root, 'bin/turnout.js')];
  const main = pathToFileURL(path.join(root, 'dist/cli/turnout.js')).href;
  return ['--input-type=module', '-e', `const { main } = await import(${JSON.stringify(main)}); process.exitCode = await main(process.argv.slice(1));`];
}

/** Builds dist/ (`npm run build`: tsc -p tsconfig.build.json), what the proxy process runs. */
export function buildDist(): void {
  execFileSync(path.join(root, 'node_modules/.bin/tsc'), ['-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
}
/** Bound on one change going live: a change slower than this counts as timed out. */
const CHANGE_TIMEOUT_MS = 10_000;
const MB = 1e6;

function changeIngress(i: number): KubeObject {
  return ingress('bench-change', { rules: [rule(`change-${i}.bench.example.com`, prefixPath('/', 'bench-backend'))] });
}

/** One keep-alive GET; status 0 on a socket error. */
function hit(agent: http.Agent, port: number, host: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { host }, agent, timeout: 2_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
  });
}

async function probe(port: number, what: '/' | '/reset' | '/gc' = '/'): Promise<Probe> {
  const p = JSON.parse((await get(port, what, 10_000)).body) as Probe;
  // TURNOUT_BENCH_MEM=1: where the proxy's RSS is (V8 spaces, external, the kernel's split), per probe.
  if (process.env.TURNOUT_BENCH_MEM === '1') console.log(`  proxy memory (${what}): ${JSON.stringify(p.mem, (_k, v: unknown) => typeof v === 'number' ? Math.round(v / 1e5) / 10 : v)}`);
  return p;
}

/** User + system CPU milliseconds of a process so far, from /proc/PID/stat (Linux). */
function procCpuMs(pid: number): number {
  try {
    // Fields after the ")" that ends the command name: utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 1000 / CLK_TCK;
  } catch {
    return NaN;
  }
}
/** Clock ticks per second of /proc times: 100 on every Linux this runs on (getconf CLK_TCK). */
const CLK_TCK = 100;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.ceil(s.length * p) - 1)]!;
}

/**
 * Runs scenario 6 at `n` Ingresses (plus the bench's own three objects) with
 * `changes` changes; with `loopSeconds` > 0, then the event-loop windows.
 */
export async function applyToServing(opts: {
  n: number; changes: number; pairs: ReadonlyArray<{ cert: string; key: string }>; backendPort: number; dir: string;
  loopSeconds: number; swapEveryMs: number; budgetMs: number; fromSource: boolean; log?: (line: string) => void;
}): Promise<ApplyRow> {
  const log = opts.log ?? (() => {});
  const [httpPort, httpsPort, adminPort, probePort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const options: CompileOptions = {
    ...OPTIONS,
    listeners: {
      http: { ...OPTIONS.listeners.http!, address: '127.0.0.1', port: httpPort },
      https: { ...OPTIONS.listeners.https!, address: '127.0.0.1', port: httpsPort },
    },
  };
  const objs: KubeObject[] = [
    ...fleet(opts.n, opts.pairs),
    service('bench-backend', [{ name: 'http', port: 80, targetPort: opts.backendPort }]),
    slice('bench-backend', ['127.0.0.1'], { ports: [{ name: 'http', port: opts.backendPort }] }),
    // Host-less: the "*" host, which wrk's Host: 127.0.0.1:port lands on.
    ingress('bench-load', { rules: [rule(undefined, exactPath('/bench-load', 'bench-backend'))] }),
    changeIngress(0),
  ];
  const cache = new ObjectCache();
  cache.batch(() => { for (const o of objs) cache.upsert(o); });
  const store = new SnapshotStore();
  const loop = new BuildLoop({ cache, compile, options, store, holdOff: { quietMs: 0, maxMs: 0 }, log: silentLogger });
  const token = randomToken();
  const stream = new StreamServer({ store, token, host: '127.0.0.1', port: 0, log: silentLogger });
  let proxy: Server | undefined;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const streamPort = await stream.listen();
    loop.start();
    await loop.firstSnapshot();
    const tokenFile = path.join(opts.dir, `token-${opts.n}`);
    await writeFile(tokenFile, token, { mode: 0o600 });
    proxy = startServer(`turnout proxy (${opts.n} Ingresses)`, process.execPath, [
      // e.g. TURNOUT_BENCH_PROXY_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/p" to profile the proxy.
      ...(process.env.TURNOUT_BENCH_PROXY_FLAGS?.split(' ').filter(Boolean) ?? []),
      '--expose-gc', '--import', PROBE, ...proxyCommand(opts.fromSource), 'proxy', '--controller', `ws://127.0.0.1:${streamPort}`,
      // TURNOUT_BENCH_PROXY_WORKERS=N: a worker supervisor with N workers (its CPU per change is the supervisor's; RSS the supervisor's).
      '--token-file', tokenFile, '--workers', process.env.TURNOUT_BENCH_PROXY_WORKERS ?? '0', '--admin-port', String(adminPort), '--log-level', 'warn', '--drain-timeout', '2s',
    ], { ...process.env, TURNOUT_BENCH_PROBE_PORT: String(probePort) });
    await waitReady(proxy, httpPort, '/bench-load', 200, 60_000);
    const afterFull = await probe(probePort);
    const liveAfterFull = (await probe(probePort, '/gc')).heapUsed / MB;
    const rssAfterFull = afterFull.rss / MB;

    const times: number[] = [];
    let timedOut = 0;
    const proxyCpu0 = procCpuMs(proxy.child.pid!);
    const cpu0 = process.cpuUsage();
    const stopAt = performance.now() + opts.budgetMs;
    let done = 0;
    for (let i = 1; i <= opts.changes && performance.now() < stopAt; i++, done++) {
      const host = `change-${i}.bench.example.com`;
      const t0 = performance.now();
      cache.upsert(changeIngress(i));
      let status = 0;
      while (performance.now() - t0 < CHANGE_TIMEOUT_MS && (status = await hit(agent, httpPort, host)) !== 200);
      if (status === 200) times.push(performance.now() - t0);
      else {
        timedOut++;
        const s = stream.sessions()[0];
        log(`  change ${i} not served within ${CHANGE_TIMEOUT_MS} ms (last status ${status}; proxy acked ${s?.ackedVersion}, last NACK ${s?.lastNack?.code ?? 'none'})`);
      }
    }
    const cpuPerChange = { proxy: (procCpuMs(proxy.child.pid!) - proxyCpu0) / Math.max(1, done), controller: cpuMs(cpu0) / Math.max(1, done) };
    const afterChanges = await probe(probePort);
    const liveAfterChanges = (await probe(probePort, '/gc')).heapUsed / MB;
    const rssAfterChanges = afterChanges.rss / MB;
    const row: ApplyRow = {
      routes: opts.n, changes: done, p50: pct(times, 0.5), p99: pct(times, 0.99), max: Math.max(...times),
      timedOut, rssAfterFull, rssAfterChanges, cpuPerChange, heapAfterFull: afterFull.heapUsed / MB, heapAfterChanges: afterChanges.heapUsed / MB, liveAfterFull, liveAfterChanges,
    };
    const heap = process.env.TURNOUT_HEAP_FLAGS ?? DEFAULT_HEAP_FLAGS;
    log(`  ${opts.n} Ingresses (proxy heap flags: ${heap === '' ? "Node's defaults" : heap}${process.env.TURNOUT_BENCH_PROXY_FLAGS ? `; node flags ${process.env.TURNOUT_BENCH_PROXY_FLAGS}` : ''}): apply → serving p50 ${row.p50.toFixed(1)} ms, p99 ${row.p99.toFixed(1)} ms, max ${row.max.toFixed(1)} ms over ${times.length} changes (${timedOut} timed out); CPU per change: proxy ${cpuPerChange.proxy.toFixed(1)} ms, controller+poller ${cpuPerChange.controller.toFixed(1)} ms; proxy RSS ${rssAfterFull.toFixed(0)} → ${rssAfterChanges.toFixed(0)} MB (V8 heap in use ${row.heapAfterFull.toFixed(0)} → ${row.heapAfterChanges.toFixed(0)} MB, live after a GC ${liveAfterFull.toFixed(0)} → ${liveAfterChanges.toFixed(0)} MB)`);

    if (opts.loopSeconds > 0) {
      const url = `http://127.0.0.1:${httpPort}/bench-load`;
      await runWrk(url, { connections: 8, seconds: 1 });
      await probe(probePort, '/reset');
      const wrkSteady = await runWrk(url, { connections: 8, seconds: opts.loopSeconds });
      const steady = await probe(probePort, '/reset');
      // Swaps: a change every swapEveryMs while wrk runs (each waits for the previous to be acked).
      const load = runWrk(url, { connections: 8, seconds: opts.loopSeconds });
      const until = performance.now() + (opts.loopSeconds - 0.3) * 1000;
      let swaps = 0;
      for (let i = done + 1; performance.now() < until; i++) {
        const t0 = performance.now();
        cache.upsert(changeIngress(i));
        // Until the proxy acked a snapshot with the new host (bounded).
        const acked = await new Promise<boolean>((resolve) => {
          const check = () => {
            const cur = store.current;
            if (cur?.virtualHosts[`change-${i}.bench.example.com`] !== undefined && stream.sessions()[0]?.ackedVersion === cur.version) resolve(true);
            else if (performance.now() - t0 > CHANGE_TIMEOUT_MS) resolve(false);
            else setTimeout(check, 2);
          };
          check();
        });
        if (acked) swaps++;
        const rest = opts.swapEveryMs - (performance.now() - t0);
        if (rest > 0) await new Promise((resolve) => setTimeout(resolve, rest));
      }
      const wrkSwaps = await load;
      const during = await probe(probePort);
      row.loop = {
        steady: { p50: steady.p50, p99: steady.p99, max: steady.max },
        swaps: { p50: during.p50, p99: during.p99, max: during.max, count: swaps },
        wrkSteady, wrkSwaps, rss: during.rss / MB,
      };
      log(`  event loop under load (wrk -c8 ${opts.loopSeconds} s): steady p99 ${steady.p99.toFixed(1)} ms (max ${steady.max.toFixed(1)}), with ${swaps} swaps p99 ${during.p99.toFixed(1)} ms (max ${during.max.toFixed(1)}); request p99 ${wrkSteady.p99.toFixed(1)} → ${wrkSwaps.p99.toFixed(1)} ms; RSS ${row.loop.rss.toFixed(0)} MB`);
    }
    return row;
  } finally {
    agent.destroy();
    loop.close();
    await proxy?.stop();
    await stream.close();
  }
}
