// CPU per request of the two upstream HTTP/1.1 clients (not a test): undici's
// Pool and the lean H1Pool (proxy/upstream/h1-pool.ts), driven as exchange.ts
// drives them (dispatch, one handler object per request, the header list
// decide.ts builds), against a minimal backend in a child process, so this
// process's CPU time is the client's alone.
//
//   node_modules/.bin/node bench/h1-client.ts [ROUNDS [REQUESTS]]
//
// Each round runs undici then lean (order alternating between rounds): 32
// requests in flight on up to 32 connections, a 2,000-request warm-up, then
// REQUESTS (default 20,000) or 10 s, whichever comes first. Printed per run: µs of CPU
// (user + system) per request in this process (the client) and in the backend
// (/proc: with loopback TCP, kernel work lands on either side depending on
// timing, so look at both), requests/s and the load average; at the end the
// median of each client. Compare the CPU figures; req/s is noisy here.
import { spawn } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import { H1Pool } from '../proxy/upstream/h1-pool.ts';
import type { UpstreamDispatcher } from '../proxy/upstream/balancer.ts';
import { trackChild } from './compare/procs.ts';

if (process.env.H1_CLIENT_BACKEND === '1') {
  // nginx's answer to wrk in `npm run bench`: five headers, 13 bytes.
  const answer = Buffer.from('HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 26 Nov 2026 00:30:00 GMT\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: keep-alive\r\n\r\nhello, world\n');
  const server = net.createServer((s) => {
    s.setNoDelay(true);
    let tail = '';
    s.on('data', (d: Buffer) => {
      const text = tail + d.toString('latin1');
      let n = 0;
      let at = text.indexOf('\r\n\r\n');
      let last = 0;
      while (at >= 0) { n++; last = at + 4; at = text.indexOf('\r\n\r\n', last); }
      tail = text.slice(last);
      for (let i = 0; i < n; i++) s.write(answer);
    });
    s.on('error', () => {});
  });
  server.listen(0, '127.0.0.1', () => console.log((server.address() as net.AddressInfo).port));
  process.on('SIGTERM', () => process.exit(0));
} else {
  const rounds = Number(process.argv[2] ?? 5);
  const count = Number(process.argv[3] ?? 20_000);
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, H1_CLIENT_BACKEND: '1' } });
  trackChild(child);
  const port = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
  const headers = ['Host', `127.0.0.1:${port}`, 'User-Agent', 'wrk', 'x-forwarded-for', '127.0.0.1', 'x-real-ip', '127.0.0.1', 'x-forwarded-proto', 'http', 'x-forwarded-port', '8080', 'x-forwarded-host', `127.0.0.1:${port}`];
  const opts: Dispatcher.DispatchOptions = { method: 'GET', path: '/', headers, body: null, headersTimeout: 0, bodyTimeout: 0 };

  /** One request's handler, shaped like attempt.ts's Attempt. */
  class Handler implements Dispatcher.DispatchHandler {
    readonly done: () => void;
    bytes = 0;
    constructor(done: () => void) { this.done = done; }
    onRequestStart(): void {}
    onResponseStart(_c: Dispatcher.DispatchController, status: number, h: Record<string, string | string[] | undefined>): void {
      if (status !== 200 || h['content-length'] !== '13') throw new Error(`unexpected response ${status}`);
    }
    onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void { this.bytes += chunk.length; }
    onResponseEnd(): void { this.done(); }
    onResponseError(_c: unknown, err: Error): void { throw err; }
  }

  /** The backend's CPU time so far, µs (utime + stime from /proc). */
  const backendCpu = (): number => {
    const fields = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100;
  };

  function run(d: UpstreamDispatcher, max: number, ms: number): Promise<{ n: number; secs: number; cpuUs: number; backendUs: number }> {
    return new Promise((resolve) => {
      const start = performance.now();
      const cpu = process.cpuUsage();
      const backendStart = backendCpu();
      let sent = 0;
      let ended = 0;
      const next = (): void => {
        if (sent >= max || performance.now() - start > ms) {
          if (ended === sent) {
            const u = process.cpuUsage(cpu);
            resolve({ n: ended, secs: (performance.now() - start) / 1000, cpuUs: (u.user + u.system) / ended, backendUs: (backendCpu() - backendStart) / ended });
          }
          return;
        }
        sent++;
        d.dispatch(opts, new Handler(() => { ended++; next(); }));
      };
      for (let i = 0; i < 32; i++) next();
    });
  }

  const figures: Record<string, number[]> = { undici: [], lean: [] };
  const figuresBackend: Record<string, number[]> = { undici: [], lean: [] };
  const make = (name: string): UpstreamDispatcher & { close(): Promise<void> } => name === 'undici'
    ? new Pool(`http://127.0.0.1:${port}`, { connections: 32, pipelining: 1, allowH2: false, keepAliveTimeout: 4_000 })
    : new H1Pool('127.0.0.1', port, { connections: 32, keepAliveTimeoutMs: 4_000, connectTimeoutMs: 3_000, bodyTimeoutMs: 300_000 });
  try {
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? ['undici', 'lean'] : ['lean', 'undici'];
      for (const name of order.filter((x) => process.env.H1_CLIENT_ONLY === undefined || x === process.env.H1_CLIENT_ONLY)) {
        const d = make(name);
        await run(d, 2_000, 5_000);
        const { n, secs, cpuUs, backendUs } = await run(d, count, 10_000);
        await d.close();
        figures[name]!.push(cpuUs);
        const load = os.loadavg().map((x) => x.toFixed(2)).join(' ');
        figuresBackend[name]!.push(backendUs);
        console.log(`round ${r + 1} ${name.padEnd(6)} client ${cpuUs.toFixed(1)} µs CPU/request, backend ${backendUs.toFixed(1)}, ${Math.round(n / secs)} req/s  (${n} requests; load ${load})`);
      }
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
    const u = median(figures.undici!);
    const l = median(figures.lean!);
    console.log(`median client CPU/request: undici ${u.toFixed(1)} µs, lean ${l.toFixed(1)} µs (lean/undici ${(l / u).toFixed(2)}); backend: undici ${median(figuresBackend.undici!).toFixed(1)} µs, lean ${median(figuresBackend.lean!).toFixed(1)} µs; load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  } finally {
    child.kill('SIGTERM');
  }
}
