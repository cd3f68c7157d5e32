// HTTP/1.1 keep-alive throughput and CPU cost through the proxy's http
// listener (not a test), to compare two trees before/after a change:
//
//   node_modules/.bin/node bench/h1-load.ts [ROOT]     (ROOT: a checkout, default this one)
//   H1_LOAD_HTTP1_CLIENT=lean node_modules/.bin/node bench/h1-load.ts   (the lean upstream client)
//
// The proxy (a DataPlane over a plain backend answering "ok") runs in a child
// process loaded from ROOT; this process is the client: undici, 32 keep-alive
// connections, a 2 s warm-up, then 20,000 requests or 10 s, whichever comes
// first. Printed: requests/s (wall clock: noisy on a shared machine) and the
// child's CPU time per request, proxy and backend together (steadier: compare
// that one between trees).
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';

const root = process.argv[2] ?? fileURLToPath(new URL('..', import.meta.url));

if (process.env.H1_LOAD_CHILD === '1') {
  // The proxy side. ROOT's own modules: an older tree benchmarks its own code.
  const { DataPlane } = await import(`${root}/proxy/apply.ts`);
  const { sealSnapshot } = await import(`${root}/api/version.ts`);
  let served = 0;
  let base = process.cpuUsage();
  process.on('SIGUSR2', () => { served = 0; base = process.cpuUsage(); });
  const backend = http.createServer((req, res) => {
    served++;
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' }).end('ok'));
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  const bport = (backend.address() as net.AddressInfo).port;
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  // H1_LOAD_HTTP1_CLIENT=lean: the lean upstream client (upstream/h1-pool.ts) instead of undici's Pool.
  const dp = new DataPlane({ pools: { http1Client: process.env.H1_LOAD_HTTP1_CLIENT ?? 'undici' } });
  const applied = await dp.apply(sealSnapshot({
    listeners: { http: { protocol: 'http', address: '127.0.0.1', port } },
    virtualHosts: { '*': { routes: { 'Prefix:/': { match: { type: 'Prefix', path: '/' }, cluster: 'c/a', timeoutMs: 5_000, origin: 'bench' } } } },
    clusters: { 'c/a': { endpoints: { [`127.0.0.1:${bport}`]: { address: '127.0.0.1', port: bport } } } },
    secrets: {},
  }));
  if (!applied.ok) throw new Error('apply refused');
  console.log(port);
  process.on('SIGTERM', async () => {
    const u = process.cpuUsage(base);
    console.error(`${root}: ${((u.user + u.system) / served).toFixed(1)} µs CPU per request (proxy + backend, ${served} requests)`);
    await dp.close();
    backend.close();
    process.exit(0);
  });
} else {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), root], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, H1_LOAD_CHILD: '1' } });
  const port = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 32, allowH2: false });
  const run = async (max: number, ms: number): Promise<{ n: number; secs: number }> => {
    const start = performance.now();
    let n = 0;
    const worker = async () => {
      while (n < max && performance.now() - start < ms) {
        n++;
        const r = await pool.request({ path: '/x', method: 'GET' });
        await r.body.dump();
        if (r.statusCode !== 200) throw new Error(`status ${r.statusCode}`);
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    return { n, secs: (performance.now() - start) / 1000 };
  };
  await run(5_000, 2_000);
  child.kill('SIGUSR2');
  await new Promise((resolve) => setTimeout(resolve, 50));
  const { n, secs } = await run(20_000, 10_000);
  console.log(`${root}: ${n} requests in ${secs.toFixed(2)} s = ${Math.round(n / secs)} req/s`);
  await pool.close();
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
}
