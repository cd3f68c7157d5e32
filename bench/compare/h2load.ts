// Runs h2load (HTTP/2 over TLS for scenario 1b; HTTP/1.1 at a fixed request
// rate for the "p99 at 50 % of max" goal) with a hard time bound, and parses
// its summary. h2load prints no percentiles, so latencies come from its
// per-request --log-file (start µs, status, µs to the end of the response).
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { trackChild } from './procs.ts';

/** What one h2load run measured. Latencies in milliseconds. */
export interface H2Result {
  requests: number;
  /** The measured period (without the warm-up). */
  seconds: number;
  rps: number;
  succeeded: number;
  /** failed + errored + timeout, plus non-2xx answers. */
  failed: number;
  non2xx: number;
  p50: number;
  p99: number;
  /** Requests in the log the percentiles come from. */
  samples: number;
}

/** The h2load summary: throughput and counts (latencies are filled from the log). */
export function parseH2load(text: string): Omit<H2Result, 'p50' | 'p99' | 'samples'> {
  const fin = /finished in ([\d.]+)(us|ms|s), ([\d.]+) req\/s/.exec(text);
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(text);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(text);
  if (!fin || !req || !codes) throw new Error(`unexpected h2load output:\n${text}`);
  const unit: Record<string, number> = { us: 1e-6, ms: 1e-3, s: 1 };
  const non2xx = Number(codes[2]) + Number(codes[3]) + Number(codes[4]);
  const requests = Number(req[3]);
  const rps = Number(fin[3]);
  return {
    requests,
    // "finished in" includes the warm-up; req/s is over the measured period only.
    seconds: rps > 0 ? requests / rps : Number(fin[1]) * unit[fin[2]!]!,
    rps,
    succeeded: Number(req[4]),
    failed: Number(req[5]) + Number(req[6]) + Number(req[7]) + non2xx,
    non2xx,
  };
}

/** The p-th percentile (0–100) of a list, nearest rank; NaN when empty. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Request latencies in ms from an h2load --log-file (tab-separated: start µs, status, elapsed µs). */
export function logLatencies(text: string): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    const cols = line.split('\t');
    if (cols.length >= 3 && cols[2] !== '') out.push(Number(cols[2]) / 1000);
  }
  return out;
}

/** Options of one bounded run: duration-based (-D) with a warm-up, or at a fixed total rate. */
export interface H2Options {
  readonly url: string;
  /** host:port to connect to instead of the URL's authority (keeps SNI and :authority = the URL's host). */
  readonly connectTo?: string;
  readonly clients: number;
  readonly streams: number;
  readonly seconds: number;
  readonly warmup: number;
  /** Total requests per second, spread over the clients (h2load --rps is per client). */
  readonly rate?: number;
  /** HTTP/1.1 (h2load --h1) instead of h2. */
  readonly h1?: boolean;
}

/** The h2load argument list for `o` (without the log file). */
export function h2loadArgs(o: H2Options): string[] {
  const args = ['-t1', `-c${o.clients}`, `-m${o.streams}`, `-D${o.seconds}`, `--warm-up-time=${o.warmup}`];
  if (o.rate !== undefined) args.push(`--rps=${Math.max(1, Math.round(o.rate / o.clients))}`);
  if (o.h1) args.push('--h1');
  if (o.connectTo) args.push(`--connect-to=${o.connectTo}`);
  args.push(o.url);
  return args;
}

/** One h2load run, killed if it overruns by 15 s; latencies from its log. */
export async function runH2load(o: H2Options): Promise<H2Result> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'h2load-'));
  const log = path.join(dir, 'log.tsv');
  try {
    const args = [...h2loadArgs(o).slice(0, -1), `--log-file=${log}`, o.url];
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn('h2load', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      trackChild(child);
      let text = '';
      child.stdout.on('data', (d: Buffer) => { text += d; });
      child.stderr.on('data', (d: Buffer) => { text += d; });
      const t = setTimeout(() => child.kill('SIGKILL'), (o.seconds + o.warmup + 15) * 1000);
      child.on('error', (err) => { clearTimeout(t); reject(err); });
      child.on('exit', (code) => {
        clearTimeout(t);
        if (code !== 0) reject(new Error(`h2load ${args.join(' ')} exited ${code}:\n${text.slice(-2000)}`));
        else resolve(text);
      });
    });
    const sum = parseH2load(out);
    const lat = logLatencies(await fs.readFile(log, 'utf8').catch(() => ''));
    return { ...sum, p50: percentile(lat, 50), p99: percentile(lat, 99), samples: lat.length };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
