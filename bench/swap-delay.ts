// Event-loop delay during swaps (not a test): a DataPlane serving keep-alive
// load while one-route changes of a 1k or 10k-Ingress table are applied
// (handed over copy-on-write, as the stream client does). Prints the
// event-loop delay p50/p99/max with and without swaps, the request latency
// p99 in both windows, and failures (must be 0).
//
//   node_modules/.bin/node bench/swap-delay.ts
//
// Load and proxy share this process, as they would share the CPU anyway on
// a 2-core machine; the load is bounded (count and time).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import jsonpatch from 'fast-json-patch';
import { compile } from '../controller/compile/builder.ts';
import { inputOf, OPTIONS } from '../controller/compile/fixtures.ts';
import type { CompileOptions } from '../controller/compile/types.ts';
import type { Ingress, KubeObject } from '../controller/k8s/types.ts';
import type { Snapshot } from '../api/snapshot.ts';
import { DataPlane } from '../proxy/apply.ts';
import { applyDelta } from '../proxy/stream/delta.ts';
import { fleet, keyPairs, SECRETS } from './compile.ts';
import { freePort } from '../proxy/testkit.ts';

const SIZES = [1_000, 10_000];
const SWAPS = 20;
const WINDOW_MS = 4_000;


function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? 0;
}

/** Keep-alive GETs to the fleet's first host until `until`; latencies in ms and failures. */
async function load(port: number, host: string, until: number): Promise<{ lat: number[]; failed: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const lat: number[] = [];
  let failed = 0;
  const one = () => new Promise<void>((resolve) => {
    const t0 = performance.now();
    http.get({ host: '127.0.0.1', port, path: '/', headers: { host }, agent }, (res) => {
      res.resume();
      res.on('end', () => { if (res.statusCode === 200) lat.push(performance.now() - t0); else failed++; resolve(); });
    }).on('error', () => { failed++; resolve(); });
  });
  await Promise.all(Array.from({ length: 4 }, async () => { for (let i = 0; i < 200_000 && performance.now() < until; i++) await one(); }));
  agent.destroy();
  return { lat, failed };
}

const backend = http.createServer((req, res) => { req.resume(); res.end('ok'); });
await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
const backendPort = (backend.address() as AddressInfo).port;
const { pairs } = keyPairs(SECRETS);
console.log(`Node ${process.version}; ${SWAPS} one-route swaps in ${WINDOW_MS} ms under 4 keep-alive clients; event-loop delay and request latency in ms\n`);
console.log('routes  window     loop p50  loop p99  loop max   req p99   requests  failed');
for (const n of SIZES) {
  const options: CompileOptions = {
    ...OPTIONS,
    listeners: { http: { protocol: 'http', address: '127.0.0.1', port: await freePort() } },
  };
  // Every Service's endpoints point at the one backend.
  const objs: KubeObject[] = fleet(n, pairs).map((o) => {
    if (o.kind !== 'EndpointSlice') return o;
    const s = structuredClone(o) as KubeObject & { endpoints: Array<{ addresses: string[] }>; ports: Array<{ port: number }> };
    s.endpoints = [{ addresses: ['127.0.0.1'] }];
    s.ports = s.ports.map((p) => ({ ...p, port: backendPort }));
    return s;
  });
  const changed = objs.map((o) => {
    if (o.kind !== 'Ingress' || o.metadata.name !== 'ing-7') return o;
    const c = structuredClone(o) as Ingress;
    c.spec!.rules![0]!.http!.paths[0]!.path = '/v2';
    return c;
  });
  const a = compile(inputOf(objs), options).snapshot;
  const b = compile(inputOf(changed), options, a).snapshot;
  const host = Object.keys(a.virtualHosts).find((h) => h !== 'ing-7.example.com' && h !== '*')!;
  const dp = new DataPlane();
  const first = await dp.apply(structuredClone(a));
  if (!first.ok) throw new Error(`bench: ${first.reason}`);
  const port = options.listeners.http!.port;
  for (const swaps of [false, true]) {
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    const until = performance.now() + WINDOW_MS;
    const running = load(port, host, until);
    if (swaps) {
      for (let i = 0; i < SWAPS && performance.now() < until; i++) {
        const cur = dp.current!;
        const next: Snapshot = cur.version === a.version ? b : a;
        const d = applyDelta(cur, { type: 'delta', base: cur.version, version: next.version, patch: jsonpatch.compare(cur, next) });
        if (!d.ok) throw new Error(`bench: ${d.reason}`);
        const r = await dp.apply(d.candidate);
        if (!r.ok) throw new Error(`bench: ${r.reason}`);
        await new Promise((res) => setTimeout(res, WINDOW_MS / SWAPS / 2));
      }
    }
    const { lat, failed } = await running;
    h.disable();
    const ms = (ns: number) => (ns / 1e6).toFixed(1).padStart(8);
    console.log(`${String(n).padStart(6)}  ${(swaps ? 'swaps' : 'steady').padEnd(8)} ${ms(h.percentile(50))}  ${ms(h.percentile(99))}  ${ms(h.max)}  ${pct(lat, 0.99).toFixed(1).padStart(8)}  ${String(lat.length).padStart(9)}  ${String(failed).padStart(6)}`);
  }
  await dp.close();
}
backend.close();
backend.closeAllConnections();
