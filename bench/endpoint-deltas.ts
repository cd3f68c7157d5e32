// What one endpoint change costs the proxy at 10k routes (not a test): the
// most frequent change in a real cluster (EndpointSlice churn: a pod replaced,
// one cluster's endpoints rewritten), against a one-host change for scale.
//
//   node_modules/.bin/node bench/endpoint-deltas.ts [--change=endpoints|hosts] [--deltas=200] [--n=10000] [--tree=DIR] [--no-overlays]
//
// The parent compiles bench/compile.ts's fleet, then makes `deltas` snapshots,
// each from the previous one: `endpoints` replaces one endpoint of one cluster
// (a different cluster each time, spread over the map), `hosts` renames one
// virtual host. It writes the full snapshot message and the delta messages to
// a temporary file and starts a child process that is only a proxy: a
// DataPlane (from DIR's checkout with --tree, to measure another build on the
// same messages) applies the full snapshot, then each delta as the stream
// client does (parse, applyDelta with overlays; --no-overlays: plain
// copies, as the worker supervisor's client makes; DataPlane.apply), timed in CPU
// (process.cpuUsage) per delta. Printed: median and p90 CPU ms per delta over
// the deltas after the first 4, RSS and heap after the last delta (no forced
// GC: what the process holds), then after a forced GC, with the load average.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { noteMapCopy } from '../api/snapshot.ts';
import type { Cluster, Snapshot } from '../api/snapshot.ts';
import { deepFreeze, sealSnapshot } from '../api/version.ts';
import { compile } from '../controller/compile/builder.ts';
import { inputOf, OPTIONS } from '../controller/compile/fixtures.ts';
import type { CompileOptions } from '../controller/compile/types.ts';
import { SnapshotStore } from '../controller/snapshot/store.ts';
import { keyPairs, SECRETS } from './compile.ts';
import { frozenFleet } from './compare/control-sizes.ts';
import { freePort } from './compare/procs.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
/** Bound on the child (a bench must never hang). */
const CHILD_TIMEOUT_MS = 600_000;
const SKIP = 4;

interface Messages { readonly full: string; readonly deltas: readonly string[] }
interface ChildResult { readonly cpu: number[]; readonly rss: number; readonly heap: number; readonly rssGc: number; readonly heapGc: number; readonly rssFull: number }

if (process.argv.includes('--proxy')) await proxyChild(arg('proxy-file', ''), arg('tree', path.join(here, '..')));
else await parent();

/** The copy of `map` with `edit` applied, recorded as a copy writing `keys` (as the compiler's copies are). */
function copyWith<T>(map: Readonly<Record<string, T>>, keys: string[], edit: (m: Record<string, T>) => void): Record<string, T> {
  const out = { ...map };
  edit(out);
  noteMapCopy(out, map, new Set(keys));
  return out;
}

async function parent(): Promise<void> {
  const change = arg('change', 'endpoints');
  if (change !== 'endpoints' && change !== 'hosts') throw new Error('--change=endpoints|hosts');
  const n = Number(arg('n', '10000'));
  const count = Math.min(Math.max(Number(arg('deltas', '200')), SKIP + 1), 2_000);
  const tree = path.resolve(arg('tree', path.join(here, '..')));
  const options: CompileOptions = { ...OPTIONS, listeners: { http: { ...OPTIONS.listeners.http!, address: '127.0.0.1', port: await freePort() } } };
  let prev: Snapshot = compile(inputOf(frozenFleet(n, keyPairs(SECRETS).pairs)), options).snapshot;
  const store = new SnapshotStore();
  store.publish(prev);
  const full = store.encode(store.full(prev));
  const clusterKeys = Object.keys(prev.clusters);
  const hostKeys = Object.keys(prev.virtualHosts);
  const deltas: string[] = [];
  for (let i = 0; i < count; i++) {
    const { version: _v, ...rest } = prev;
    let next: Snapshot;
    if (change === 'endpoints') {
      // A different cluster each time: one endpoint replaced by a new address (a pod restarted).
      const key = clusterKeys[(i * 7919) % clusterKeys.length]!;
      const old = prev.clusters[key]!;
      const [gone] = Object.keys(old.endpoints);
      const endpoints = { ...old.endpoints };
      delete endpoints[gone!];
      const address = `10.${200 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
      endpoints[`${address}:8080`] = { address, port: 8080 };
      const cluster = deepFreeze({ ...old, endpoints }) as Cluster;
      next = sealSnapshot({ ...rest, clusters: copyWith(prev.clusters, [key], (m) => { m[key] = cluster; }) });
    } else {
      // A host renamed (scenario 6's change): a different host each time.
      const j = (i * 7919) % hostKeys.length;
      const from = hostKeys[j]!;
      const to = `r${i}-${from}`;
      hostKeys[j] = to;
      next = sealSnapshot({ ...rest, virtualHosts: copyWith(prev.virtualHosts, [from, to], (m) => { m[to] = m[from]!; delete m[from]; }) });
    }
    store.publish(next);
    const msg = store.delta(prev.version, next);
    if (msg.type !== 'delta') throw new Error('bench: the store sent a full snapshot');
    deltas.push(store.encode(msg));
    prev = next;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'turnout-eps-'));
  const file = path.join(dir, 'messages.json');
  try {
    writeFileSync(file, JSON.stringify({ full, deltas } satisfies Messages));
    const result = await runChild(file, tree);
    const steady = result.cpu.slice(SKIP).sort((a, b) => a - b);
    const q = (p: number) => steady[Math.min(steady.length - 1, Math.floor(p * steady.length))]!;
    const mb = (x: number) => (x / 2 ** 20).toFixed(1);
    console.log(`${tree}${process.argv.includes('--no-overlays') ? ' (no overlays)' : ''}: ${n} routes, ${count} ${change} deltas (one ${change === 'endpoints' ? 'cluster\'s endpoint replaced' : 'host renamed'} each), load average ${load()}`);
    console.log(`  proxy CPU per delta (parse + applyDelta + DataPlane.apply), ms: median ${q(0.5).toFixed(2)}, p90 ${q(0.9).toFixed(2)}, max ${steady.at(-1)!.toFixed(2)} (deltas ${SKIP + 1}..${count})`);
    const slowest = result.cpu.map((ms, i) => [i + 1, ms] as const).slice(SKIP).sort((a, b) => b[1] - a[1]).slice(0, 5);
    console.log(`  slowest deltas (number: ms): ${slowest.map(([i, ms]) => `${i}: ${ms.toFixed(1)}`).join(', ')}`);
    console.log(`  RSS MB after the full snapshot ${mb(result.rssFull)}; after the deltas ${mb(result.rss)} (heap used ${mb(result.heap)}); after a forced GC ${mb(result.rssGc)} (heap used ${mb(result.heapGc)})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The proxy in its own process, so its RSS is its own; its result as JSON on stdout. */
function runChild(file: string, tree: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const flags = process.argv.includes('--no-overlays') ? ['--no-overlays'] : [];
    const child = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--proxy', `--proxy-file=${file}`, `--tree=${tree}`, ...flags], { stdio: ['ignore', 'pipe', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    const stop = () => child.kill('SIGKILL');
    process.once('SIGINT', stop);
    let out = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      process.off('SIGINT', stop);
      if (code !== 0) reject(new Error(`bench: proxy child exited with ${code}`));
      else resolve(JSON.parse(out) as ChildResult);
    });
  });
}

async function proxyChild(file: string, tree: string): Promise<void> {
  const { DataPlane } = await import(path.join(tree, 'proxy/apply.ts')) as typeof import('../proxy/apply.ts');
  const { applyDelta } = await import(path.join(tree, 'proxy/stream/delta.ts')) as typeof import('../proxy/stream/delta.ts');
  const { parseControllerMessage } = await import(path.join(tree, 'api/stream.ts')) as typeof import('../api/stream.ts');
  const gc = (globalThis as { gc?: () => void }).gc!;
  let messages: Messages | undefined = JSON.parse(readFileSync(file, 'utf8')) as Messages;
  const plane = new DataPlane();
  const cpu: number[] = [];
  const overlays = !process.argv.includes('--no-overlays');
  try {
    const first = parseControllerMessage(messages.full);
    if (first.type !== 'snapshot') throw new Error('bench: not a full snapshot');
    const full = await plane.apply(first.snapshot);
    if (!full.ok) throw new Error(`bench: full apply refused: ${full.code} ${full.reason}`);
    const deltas = messages.deltas;
    messages = undefined;
    gc();
    const rssFull = process.memoryUsage().rss;
    for (const text of deltas) {
      const c = process.cpuUsage();
      const msg = parseControllerMessage(text);
      if (msg.type !== 'delta') throw new Error('bench: not a delta');
      const r = applyDelta(plane.current, msg, { overlays });
      if (!r.ok) throw new Error(`bench: applyDelta: ${r.reason}`);
      const out = await plane.apply(r.candidate);
      if (!out.ok) throw new Error(`bench: delta refused: ${out.code} ${out.reason}`);
      const d = process.cpuUsage(c);
      cpu.push((d.user + d.system) / 1000);
    }
    const { rss, heapUsed: heap } = process.memoryUsage();
    gc();
    const after = process.memoryUsage();
    process.stdout.write(JSON.stringify({ cpu, rss, heap, rssGc: after.rss, heapGc: after.heapUsed, rssFull } satisfies ChildResult));
  } finally {
    await plane.close();
  }
}
