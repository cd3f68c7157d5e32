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
// client in a tight loop bounded by time.
//
// Then the same number of endpoint changes, the commonest change in a cluster
// (every rollout): the EndpointSlice of Service `bench-eps` moves its one
// endpoint between two small servers in this process, on two ports of
// 127.0.0.1, each answering its own name; the clock stops at the first answer
// from the new one. The build loop takes the endpoint fast path there, as
// controller/main.ts wires it. The build loop's hold-off is 0 here:
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
import { recompileEndpoints } from '../../controller/compile/endpoints.ts';
import { exactPath, ingress, OPTIONS, prefixPath, rule, service, slice } from '../../controller/compile/fixtures.ts';
import type { CompileOptions } from '../../controller/compile/types.ts';
import type { EndpointSlice, KubeObject } from '../../controller/k8s/types.ts';
import { BuildLoop } from '../../controller/loop.ts';
import { randomToken } from '../../controller/main.ts';
import { SnapshotStore } from '../../controller/snapshot/store.ts';
import { StreamServer } from '../../controller/stream/server.ts';
import { silentLogger } from '../../lib/log.ts';
import { fleet } from '../compile.ts';
import { cpuMs } from './control-sizes.ts';
import { freePort, get, startServer, waitReady, type Server } from './procs.ts';
import { runWrk, type WrkResult } from './wrk.ts';

/** How fast a run of changes went live, and what each cost. Times in ms. */
export interface ChangeLatency {
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
}

/** Scenario 6 at one size (its host renames), plus what the proxy process showed. */
export interface ApplyRow extends ChangeLatency {
  routes: number;
  /** Proxy RSS (MB) after the first full snapshot, and after every change (endpoint changes too). */
  rssAfterFull: number;
  rssAfterChanges: number;
  /** V8 heap in use (MB) at the same two moments: how much of the RSS is live objects. */
  heapAfterFull: number;
  heapAfterChanges: number;
  /** The same after a full GC: the live objects. */
  liveAfterFull: number;
  liveAfterChanges: number;
  loop?: LoopRow;
  /** The endpoint changes (absent in results before 2026-11-26 late evening). */
  endpoints?: ChangeLatency;
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

/** The Service whose endpoint moves, and the host that reaches it. */
const EPS = 'bench-eps';
const EPS_HOST = 'eps.bench.example.com';

/** The slice of `bench-eps` with its one endpoint on 127.0.0.1:`port`. */
function epsSlice(port: number): KubeObject {
  return slice(EPS, ['127.0.0.1'], { ports: [{ name: 'http', port }] }) as EndpointSlice;
}

/** One keep-alive GET: its status (0 on a socket error) and body. */
function hit(agent: http.Agent, port: number, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { host }, agent, timeout: 2_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, body: '' }));
  });
}

/** A server on 127.0.0.1 answering every request with `name`: where an endpoint change points. */
async function namedServer(name: string): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => { req.resume(); res.end(name); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as import('node:net').AddressInfo).port,
    close: () => { server.closeAllConnections(); return new Promise((resolve) => server.close(() => resolve())); },
  };
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
  const targets = [await namedServer('a'), await namedServer('b')];
  const objs: KubeObject[] = [
    ...fleet(opts.n, opts.pairs),
    service(EPS, [{ name: 'http', port: 80, targetPort: targets[0]!.port }]),
    epsSlice(targets[0]!.port),
    ingress(EPS, { rules: [rule(EPS_HOST, prefixPath('/', EPS))] }),
    service('bench-backend', [{ name: 'http', port: 80, targetPort: opts.backendPort }]),
    slice('bench-backend', ['127.0.0.1'], { ports: [{ name: 'http', port: opts.backendPort }] }),
    // Host-less: the "*" host, which wrk's Host: 127.0.0.1:port lands on.
    ingress('bench-load', { rules: [rule(undefined, exactPath('/bench-load', 'bench-backend'))] }),
    changeIngress(0),
  ];
  const cache = new ObjectCache();
  cache.batch(() => { for (const o of objs) cache.upsert(o); });
  const store = new SnapshotStore();
  const loop = new BuildLoop({
    cache, compile, compileEndpoints: (input, previous) => recompileEndpoints(input, previous), options, store, holdOff: { quietMs: 0, maxMs: 0 }, log: silentLogger,
  });
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

    const hosts = await timeChanges({
      what: 'change', count: opts.changes, stopAt: performance.now() + opts.budgetMs, proxyPid: proxy.child.pid!, log,
      change: (i) => cache.upsert(changeIngress(i)),
      poll: async (i) => {
        const { status } = await hit(agent, httpPort, `change-${i}.bench.example.com`);
        return status === 200 ? undefined : `last status ${status}`;
      },
      context: () => { const s = stream.sessions()[0]; return `proxy acked ${s?.ackedVersion}, last NACK ${s?.lastNack?.code ?? 'none'}`; },
    });
    const endpoints = await endpointChanges({ agent, httpPort, count: hosts.changes, stopAt: performance.now() + opts.budgetMs, cache, targets, proxyPid: proxy.child.pid!, log });
    const afterChanges = await probe(probePort);
    const liveAfterChanges = (await probe(probePort, '/gc')).heapUsed / MB;
    const rssAfterChanges = afterChanges.rss / MB;
    const row: ApplyRow = {
      routes: opts.n, ...hosts, rssAfterFull, rssAfterChanges, endpoints, heapAfterFull: afterFull.heapUsed / MB, heapAfterChanges: afterChanges.heapUsed / MB, liveAfterFull, liveAfterChanges,
    };
    const heap = process.env.TURNOUT_HEAP_FLAGS ?? DEFAULT_HEAP_FLAGS;
    const e = endpoints;
    log(`  ${opts.n} Ingresses (proxy heap flags: ${heap === '' ? "Node's defaults" : heap}${process.env.TURNOUT_BENCH_PROXY_FLAGS ? `; node flags ${process.env.TURNOUT_BENCH_PROXY_FLAGS}` : ''}): apply → serving p50 ${row.p50.toFixed(1)} ms, p99 ${row.p99.toFixed(1)} ms, max ${row.max.toFixed(1)} ms over ${row.changes} changes (${row.timedOut} timed out); CPU per change: proxy ${row.cpuPerChange.proxy.toFixed(1)} ms, controller+poller ${row.cpuPerChange.controller.toFixed(1)} ms; endpoint changes: p50 ${e.p50.toFixed(1)} ms, p99 ${e.p99.toFixed(1)} ms, max ${e.max.toFixed(1)} ms over ${e.changes} (${e.timedOut} timed out), CPU per change proxy ${e.cpuPerChange.proxy.toFixed(1)} ms, controller+poller ${e.cpuPerChange.controller.toFixed(1)} ms; proxy RSS ${rssAfterFull.toFixed(0)} → ${rssAfterChanges.toFixed(0)} MB (V8 heap in use ${row.heapAfterFull.toFixed(0)} → ${row.heapAfterChanges.toFixed(0)} MB, live after a GC ${liveAfterFull.toFixed(0)} → ${liveAfterChanges.toFixed(0)} MB)`);

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
      for (let i = hosts.changes + 1; performance.now() < until; i++) {
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
    for (const t of targets) await t.close();
  }
}

/** The endpoint changes of scenario 6 (see the top of this file): `count` of them, or fewer when `stopAt` comes first. */
async function endpointChanges(o: {
  agent: http.Agent; httpPort: number; count: number; stopAt: number; cache: ObjectCache;
  targets: ReadonlyArray<{ port: number }>; proxyPid: number; log: (line: string) => void;
}): Promise<ChangeLatency> {
  const names = ['a', 'b'];
  // Served by the first target before the first change.
  const first = await hit(o.agent, o.httpPort, EPS_HOST);
  if (first.body !== names[0]) throw new Error(`bench: ${EPS_HOST} answered ${first.status} ${JSON.stringify(first.body.slice(0, 80))} before any endpoint change, not "${names[0]}"`);
  return timeChanges({
    what: 'endpoint change', count: o.count, stopAt: o.stopAt, proxyPid: o.proxyPid, log: o.log,
    change: (i) => o.cache.upsert(epsSlice(o.targets[i % 2]!.port)),
    poll: async (i) => {
      const { body } = await hit(o.agent, o.httpPort, EPS_HOST);
      return body === names[i % 2] ? undefined : `last answer ${JSON.stringify(body.slice(0, 80))}`;
    },
  });
}

/**
 * Makes up to `count` changes one after the other (fewer when `stopAt`
 * comes first), each timed from `change(i)` to the first `poll(i)` that finds
 * it served (undefined; else what it saw), polled in a tight loop bounded by
 * CHANGE_TIMEOUT_MS; a change not served by then is counted and logged.
 */
async function timeChanges(o: {
  what: string; count: number; stopAt: number; proxyPid: number; log: (line: string) => void;
  change: (i: number) => void; poll: (i: number) => Promise<string | undefined>; context?: () => string;
}): Promise<ChangeLatency> {
  const times: number[] = [];
  let timedOut = 0;
  let done = 0;
  const proxyCpu0 = procCpuMs(o.proxyPid);
  const cpu0 = process.cpuUsage();
  for (let i = 1; i <= o.count && performance.now() < o.stopAt; i++, done++) {
    const t0 = performance.now();
    o.change(i);
    let seen: string | undefined = 'nothing yet';
    while (performance.now() - t0 < CHANGE_TIMEOUT_MS && (seen = await o.poll(i)) !== undefined);
    if (seen === undefined) times.push(performance.now() - t0);
    else {
      timedOut++;
      o.log(`  ${o.what} ${i} not served within ${CHANGE_TIMEOUT_MS} ms (${seen}${o.context ? `; ${o.context()}` : ''})`);
    }
  }
  return {
    changes: done, p50: pct(times, 0.5), p99: pct(times, 0.99), max: Math.max(...times), timedOut,
    cpuPerChange: { proxy: (procCpuMs(o.proxyPid) - proxyCpu0) / Math.max(1, done), controller: cpuMs(cpu0) / Math.max(1, done) },
  };
}
