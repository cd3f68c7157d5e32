// Runs wrk (HTTP/1.1 keep-alive load) with a hard time bound and parses its
// text output: wrk has no machine-readable mode without a Lua script, and the
// plain output is what people compare against.
import { spawn } from 'node:child_process';
import { trackChild } from './procs.ts';

/** What one wrk run measured. Latencies in milliseconds. */
export interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  errors: { connect: number; read: number; write: number; timeout: number };
  non2xx: number;
}

const unit: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function latency(text: string, pct: string): number {
  const m = new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text);
  return m ? Number(m[1]) * unit[m[2]!]! : NaN;
}

/** Parses wrk 4.x output (with --latency). Throws if the summary is missing. */
export function parseWrk(text: string): WrkResult {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(text);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  if (!total || !rps) throw new Error(`unexpected wrk output:\n${text}`);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  return {
    requests: Number(total[1]),
    seconds: Number(total[2]) * unit[total[3]!]! / 1000,
    rps: Number(rps[1]),
    p50: latency(text, '50'),
    p99: latency(text, '99'),
    errors: {
      connect: sock ? Number(sock[1]) : 0,
      read: sock ? Number(sock[2]) : 0,
      write: sock ? Number(sock[3]) : 0,
      timeout: sock ? Number(sock[4]) : 0,
    },
    non2xx: non ? Number(non[1]) : 0,
  };
}

/** Failed requests as wrk sees them: socket errors of every kind plus non-2xx/3xx answers. */
export function failures(r: WrkResult): number {
  return r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout + r.non2xx;
}

/** Options of one wrk run: extra request headers (`-H`) and a Lua script (`-s`). */
export interface WrkOptions {
  connections: number;
  seconds: number;
  threads?: number;
  headers?: string[];
  script?: string;
}

/** wrk's argument list for `url` and `opts`. */
export function wrkArgs(url: string, opts: WrkOptions): string[] {
  const args = [`-t${opts.threads ?? 1}`, `-c${opts.connections}`, `-d${opts.seconds}s`, '--latency'];
  for (const h of opts.headers ?? []) args.push('-H', h);
  if (opts.script) args.push('-s', opts.script);
  args.push(url);
  return args;
}

/** `wrk -t1 -cC -dSs --latency URL`, killed if it overruns its duration by 15 s. */
export function runWrk(url: string, opts: WrkOptions): Promise<WrkResult> {
  const args = wrkArgs(url, opts);
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    trackChild(child);
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d; });
    child.stderr.on('data', (d: Buffer) => { out += d; });
    const t = setTimeout(() => child.kill('SIGKILL'), (opts.seconds + 15) * 1000);
    child.on('error', (err) => { clearTimeout(t); reject(err); });
    child.on('exit', (code) => {
      clearTimeout(t);
      if (code !== 0) return reject(new Error(`wrk ${args.join(' ')} exited ${code}:\n${out}`));
      try { resolve(parseWrk(out)); } catch (err) { reject(err); }
    });
  });
}
