// The proxy's CPU per request with each upstream HTTP/1.1 client (not a
// test): a DataPlane (http listener, one route) in its own process, with
// PoolOptions.http1Client 'undici' and then 'lean' (proxy/upstream/h1-pool.ts),
// in front of the nginx backend of `npm run bench`, loaded with
// `wrk -t1 -c50` as in issue 8's keep-alive scenario.
//
//   node_modules/.bin/node bench/h1-upstream.ts [ROUNDS] [SECONDS]   (default 3 rounds of 5 s)
//
// Per run: requests/s, the proxy process's CPU µs per request (/proc, the
// steadier figure on a shared machine) and the load average; the clients
// alternate in order between rounds; medians at the end. Every process is
// killed at the end, on error and on Ctrl-C (compare/procs.ts).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

if (process.env.H1_UPSTREAM_PROXY !== undefined) {
  // The proxy process: a DataPlane on PORT in front of BACKEND.
  const { DataPlane } = await import('../proxy/apply.ts');
  const { sealSnapshot } = await import('../api/version.ts');
  const [port, backend] = [Number(process.env.H1_UPSTREAM_PORT), Number(process.env.H1_UPSTREAM_BACKEND)];
  const dp = new DataPlane({ pools: { http1Client: process.env.H1_UPSTREAM_PROXY as 'undici' | 'lean' } });
  const applied = await dp.apply(sealSnapshot({
    listeners: { http: { protocol: 'http', address: '127.0.0.1', port } },
    virtualHosts: { '*': { routes: { 'Prefix:/': { match: { type: 'Prefix', path: '/' }, cluster: 'c/a', timeoutMs: 5_000, origin: 'bench' } } } },
    clusters: { 'c/a': { endpoints: { [`127.0.0.1:${backend}`]: { address: '127.0.0.1', port: backend } } } },
    secrets: {},
  }));
  if (!applied.ok) throw new Error('apply refused');
  process.on('SIGTERM', () => process.exit(0));
} else {
  const { startBackend } = await import('./compare/servers.ts');
  const { freePort, startServer, waitReady } = await import('./compare/procs.ts');
  const { runWrk } = await import('./compare/wrk.ts');
  const { groupCpuMs } = await import('./compare/cpu.ts');
  const rounds = Number(process.argv[2] ?? 3);
  const seconds = Number(process.argv[3] ?? 5);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'turnout-h1-upstream-'));
  const backend = await startBackend(path.join(dir, 'backend'));
  const load = (): string => os.loadavg().map((x) => x.toFixed(2)).join(' ');
  const cpu: Record<string, number[]> = { undici: [], lean: [] };
  const rps: Record<string, number[]> = { undici: [], lean: [] };
  try {
    for (let r = 0; r < rounds; r++) {
      for (const client of r % 2 === 0 ? ['undici', 'lean'] : ['lean', 'undici']) {
        const port = await freePort();
        const proxy = startServer(`proxy ${client}`, process.execPath, [fileURLToPath(import.meta.url)],
          { ...process.env, H1_UPSTREAM_PROXY: client, H1_UPSTREAM_PORT: String(port), H1_UPSTREAM_BACKEND: String(backend.port) });
        try {
          await waitReady(proxy, port, '/');
          const url = `http://127.0.0.1:${port}/`;
          await runWrk(url, { connections: 50, seconds: 2 });
          const before = groupCpuMs(proxy.child.pid!);
          const res = await runWrk(url, { connections: 50, seconds });
          const ms = groupCpuMs(proxy.child.pid!) - before;
          const n = res.requests;
          cpu[client]!.push((ms * 1000) / n);
          rps[client]!.push(res.rps);
          console.log(`round ${r + 1} ${client.padEnd(6)} ${Math.round(res.rps)} req/s, proxy ${((ms * 1000) / n).toFixed(1)} µs CPU/request (${n} requests, ${res.errors.connect + res.errors.read + res.errors.write + res.errors.timeout + res.non2xx} failed; load ${load()})`);
        } finally {
          await proxy.stop();
        }
      }
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
    console.log(`median: undici ${Math.round(median(rps.undici!))} req/s ${median(cpu.undici!).toFixed(1)} µs; lean ${Math.round(median(rps.lean!))} req/s ${median(cpu.lean!).toFixed(1)} µs (CPU lean/undici ${(median(cpu.lean!) / median(cpu.undici!)).toFixed(2)}); load ${load()}`);
  } finally {
    await backend.stop();
    await fs.rm(dir, { recursive: true, force: true });
  }
}
