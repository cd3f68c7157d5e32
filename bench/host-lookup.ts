// The route stage's cost per request against the number of hosts (not a
// test): RoutingTable.match plus the route fields decide() reads next, for N
// hosts of one Prefix "/" route each (scenario 3's shape), a random host per
// request (a fresh string, as the parser makes), and a rolling 16 MB memory
// sweep between requests, which is what a request's own allocation does to
// the CPU caches (without it every table fits in cache and all sizes cost
// the same). Thread CPU time, the sweep-only loop subtracted; median of RUNS.
//
//   node_modules/.bin/node bench/host-lookup.ts [10,10000,50000] [runs]
//   node_modules/.bin/node bench/host-lookup.ts 10,10000 7 /path/to/other/checkout   (A/B)
//
// Measured 2026-11-26 (load 3–5), ns per request at 10 / 10k / 50k hosts:
// before ac7f331 204–245 / 1,082–1,423 / 2,378–2,541; after 191–273 /
// 458–541 / 1,073–1,400 (docs/performance.md, "Host-table scale").
import path from 'node:path';
import { fileURLToPath } from 'node:url';
const [sizesArg, runsArg, rootArg] = process.argv.slice(2);
const root = rootArg ?? fileURLToPath(new URL('..', import.meta.url));
const { routeKey } = await import(path.join(root!, 'api/snapshot.ts'));
const { sealSnapshot } = await import(path.join(root!, 'api/version.ts'));
const { buildTable } = await import(path.join(root!, 'proxy/routing/table.ts'));
const { UpstreamPools } = await import(path.join(root!, 'proxy/upstream/pools.ts'));
const { cluster, content } = await import(path.join(root!, 'proxy/testkit.ts'));
const sizes = (sizesArg ?? '10,10000,50000').split(',').map(Number);
const runs = Number(runsArg ?? 5);
const pools = new UpstreamPools();
const sweep = new Int32Array(4 * 1024 * 1024);
let cursor = 0;
/** Touches 256 cache lines of a 16 MB array, moving on each call. */
function thrash(): number {
  let s = 0;
  for (let k = 0; k < 256; k++) {
    s += sweep[cursor]!;
    sweep[cursor] = k;
    cursor = (cursor + 16) & (sweep.length - 1);
  }
  return s;
}
const tables = sizes.map((n) => {
  const vhosts: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    // Strings of their own per host, as a deserialized snapshot has them.
    const match = { type: 'Prefix', path: ['', ''].join('/') };
    vhosts[`host-${i}.bench.example`] = { routes: { [routeKey('Prefix', '/')]: { match, cluster: ['default/backend', 'http'].join(':'), timeoutMs: 15_000, origin: `Ingress/default/host-${i}` } } };
  }
  const snap = sealSnapshot(content({ virtualHosts: vhosts, clusters: { 'default/backend:http': cluster(9999) } }));
  const table = buildTable(snap, undefined, { pools });
  const raw = Array.from({ length: n }, (_, i) => Buffer.from(`host-${i}.bench.example`, 'latin1'));
  return { n, table, raw };
});
const cpuNs = () => { const u = (process as unknown as { threadCpuUsage(): NodeJS.CpuUsage }).threadCpuUsage(); return (u.user + u.system) * 1000; };
const ITER = 200_000;
const res = new Map<number, number[]>();
let seed = 1;
let sink = 0;
for (let r = 0; r < runs; r++) {
  for (const { n, table, raw } of tables) {
    // baseline: same loop without the match
    let t = cpuNs();
    for (let i = 0; i < ITER; i++) { seed = (seed * 1103515245 + 12345) & 0x7fffffff; const h = raw[seed % n]!.toString('latin1'); sink += h.length + thrash(); }
    const base = cpuNs() - t;
    t = cpuNs();
    for (let i = 0; i < ITER; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const h = raw[seed % n]!.toString('latin1');
      const hit = table.match(h, '/', { method: 'GET' })!;
      // what decide() reads of the route next
      const route = hit.route;
      sink += (route.redirect === undefined ? 1 : 0) + (route.backends === undefined ? 1 : 0) + (route.rewrite === undefined ? 1 : 0) + (route.requestHeaders === undefined ? 1 : 0) + (hit.cluster!.key.length) + thrash();
    }
    const all = cpuNs() - t;
    (res.get(n) ?? res.set(n, []).get(n)!).push((all - base) / ITER);
  }
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
for (const [n, xs] of res) console.log(`${String(n).padStart(6)} hosts: ${med(xs).toFixed(0)} ns per match (runs ${xs.map((x) => x.toFixed(0)).join(', ')})`);
if (sink === 0) throw new Error('nothing matched');
await pools.close();
