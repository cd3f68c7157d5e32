// The change-window probe: a second client next to wrk that records every
// request it makes with a monotonic timestamp, so latency can be split into
// "just after a change" and "the rest" (windows.ts); wrk itself only reports
// aggregates. Open loop at a fixed rate (default 1,000 req/s) over a few
// keep-alive connections with precomputed request bytes on raw sockets, in
// its own process so that the bench's change timer cannot delay it. A fixed
// rate keeps its own CPU cost the same for every proxy (a few % of a core).
// Latency runs from the actual write to the end of the response; a request
// that found every connection busy is sent late and that lag is recorded.
//
//   node bench/compare/probe.ts PORT RATE SECONDS CONNECTIONS OUTFILE
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { ResponseReader } from './http1.ts';
import { trackChild } from './procs.ts';
import type { Sample } from './windows.ts';

/** What the probe saw. Times are monotonic ms (process.hrtime, the same clock in every process). */
export interface ProbeResult {
  samples: Sample[];
  /** Requests sent more than 5 ms after their slot because every connection was busy. */
  late: number;
  /** Connections (re)opened: more than `connections` means the proxy closed some. */
  opened: number;
}

const now = () => Number(process.hrtime.bigint()) / 1e6;
const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: turnout-bench-probe\r\n\r\n');

interface Conn { sock: net.Socket; ready: boolean; busy: { intended: number; sent: number } | undefined; reader: ResponseReader }

async function probe(port: number, rate: number, seconds: number, connections: number): Promise<Float64Array> {
  const out: number[] = []; // (sent, ms, ok, lag) per request
  let opened = 0;
  const conns: Conn[] = [];
  const finish = (c: Conn, ok: boolean) => {
    const b = c.busy!;
    c.busy = undefined;
    out.push(b.sent, now() - b.sent, ok ? 1 : 0, b.sent - b.intended);
  };
  const open = (): Conn => {
    opened++;
    const sock = net.connect({ host: '127.0.0.1', port, noDelay: true });
    const c: Conn = { sock, ready: false, busy: undefined, reader: new ResponseReader() };
    sock.on('connect', () => { c.ready = true; });
    sock.on('data', (d: Buffer) => {
      let rs;
      try { rs = c.reader.push(d); } catch { sock.destroy(); return; }
      for (const r of rs) {
        if (c.busy) finish(c, r.status >= 200 && r.status < 400);
        if (r.close) sock.destroy();
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      if (c.busy) finish(c, false);
      conns.splice(conns.indexOf(c), 1);
    });
    sock.setTimeout(5_000, () => sock.destroy());
    conns.push(c);
    return c;
  };
  for (let i = 0; i < connections; i++) open();
  const t0 = now();
  let sent = 0;
  const total = Math.floor(rate * seconds);
  await new Promise<void>((resolve) => {
    const tick = () => {
      const t = now();
      const due = Math.min(total, Math.floor(((t - t0) / 1000) * rate));
      while (sent < due) {
        const free = conns.find((c) => c.ready && c.busy === undefined && !c.sock.destroyed);
        if (!free) { if (conns.length < connections) open(); break; }
        const intended = t0 + (sent * 1000) / rate;
        free.busy = { intended, sent: now() };
        free.sock.write(REQUEST);
        sent++;
      }
      if (sent >= total || t - t0 > seconds * 1000 + 5_000) return resolve();
      setTimeout(tick, 1);
    };
    tick();
  });
  // Bounded wait for the last answers, then every socket closed.
  for (const deadline = now() + 5_000; conns.some((c) => c.busy) && now() < deadline;) await new Promise((r) => setTimeout(r, 10));
  for (const c of [...conns]) { if (c.busy) finish(c, false); c.sock.destroy(); }
  out.push(opened, 0, 0, 0);
  return Float64Array.from(out);
}

/** Runs the probe in a child process for `seconds` against 127.0.0.1:port. */
export async function runProbe(port: number, opts: { rate: number; seconds: number; connections: number; outFile: string }): Promise<ProbeResult> {
  const args = [fileURLToPath(import.meta.url), String(port), String(opts.rate), String(opts.seconds), String(opts.connections), opts.outFile];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  trackChild(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), (opts.seconds + 20) * 1000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`probe exited ${code}`);
  const buf = await fs.readFile(opts.outFile);
  await fs.rm(opts.outFile, { force: true });
  const a = new Float64Array(buf.buffer, buf.byteOffset, buf.byteLength / 8);
  const samples: Sample[] = [];
  let late = 0;
  for (let i = 0; i + 4 < a.length; i += 4) {
    samples.push({ at: a[i]!, ms: a[i + 1]!, ok: a[i + 2] === 1 });
    if (a[i + 3]! > 5) late++;
  }
  return { samples, late, opened: a[a.length - 4]! };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [port, rate, seconds, connections, outFile] = process.argv.slice(2);
  const data = await probe(Number(port), Number(rate), Number(seconds), Number(connections));
  await fs.writeFile(outFile!, Buffer.from(data.buffer));
  process.exit(0);
}
