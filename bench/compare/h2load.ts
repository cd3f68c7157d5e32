// Runs h2load (HTTP/2 over TLS for scenario 1b; HTTP/1.1 at a fixed request
// rate for the "p99 at 50 % of max" goal) with a hard time bound, and parses
// its summary. h2load prints no percentiles, so latencies come from its
// per-request --log-file (start µs, status, µs to the end of the response).
//
// How h2load paces `--rps` (src/h2load.cc, 1.52): each client has a timer
// that fires every max(10 ms, 1/rps); at each tick it sends one request (one
// at a time on HTTP/1.1) and the rest of the tick's share back to back as
// answers come in. Clients started together tick together, so by default
// all 50 connections send at the same instant every 10 ms: a burst as large
// as the connection count, drained at full speed, then idle. `spread` starts
// the clients 1 ms apart instead (see H2Options).
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
  p90: number;
  p99: number;
  max: number;
  /** Requests in the log the percentiles come from. */
  samples: number;
  /**
   * How bursty the load was: the 99th percentile, over requests, of how many
   * requests started in the same 100 µs window (startedTogether).
   */
  together: number;
}

/** The h2load summary: throughput and counts (latencies are filled from the log). */
export function parseH2load(text: string): Omit<H2Result, 'p50' | 'p90' | 'p99' | 'max' | 'samples' | 'together'> {
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
  return logEntries(text).map((e) => e.ms);
}

/** The log's requests: start (µs since the epoch) and latency (ms). */
export function logEntries(text: string): { startUs: number; ms: number }[] {
  const out: { startUs: number; ms: number }[] = [];
  for (const line of text.split('\n')) {
    const cols = line.split('\t');
    if (cols.length >= 3 && cols[2] !== '') out.push({ startUs: Number(cols[0]), ms: Number(cols[2]) / 1000 });
  }
  return out;
}

/**
 * The burstiness a server saw: for each request, the number of requests
 * (itself included) started in the same `windowUs` window; the p-th
 * percentile of that over requests. Evenly paced arrivals at r req/s give
 * about r × window (+1); h2load's default pacing gives the connection count.
 */
export function startedTogether(startsUs: readonly number[], p = 99, windowUs = 100): number {
  const counts = new Map<number, number>();
  for (const s of startsUs) {
    const k = Math.floor(s / windowUs);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return percentile(startsUs.map((s) => counts.get(Math.floor(s / windowUs))!), p);
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
  /**
   * With `rate`: start the clients 1 ms apart (`-r1 --rate-period=1ms`, the
   * finest period h2load accepts) so that their 10 ms ticks fall in ten
   * different 1 ms slots instead of one. h2load refuses -r with -D, so the
   * run is bounded by a request count (-n, `seconds` at `rate`) and the
   * warm-up is a separate run before it, not logged.
   */
  readonly spread?: boolean;
}

/** The clients' start interval of a `spread` run (h2load's --rate-period; 1 ms is its smallest). */
export const SPREAD_PERIOD_MS = 1;

/** The h2load argument list for `o` (without the log file). */
export function h2loadArgs(o: H2Options): string[] {
  const perClient = o.rate === undefined ? undefined : Math.max(1, Math.round(o.rate / o.clients));
  const args = ['-t1', `-c${o.clients}`, `-m${o.streams}`];
  if (o.spread && perClient !== undefined) args.push(`-n${perClient * o.clients * o.seconds}`, '-r1', `--rate-period=${SPREAD_PERIOD_MS}ms`);
  else args.push(`-D${o.seconds}`, `--warm-up-time=${o.warmup}`);
  if (perClient !== undefined) args.push(`--rps=${perClient}`);
  if (o.h1) args.push('--h1');
  if (o.connectTo) args.push(`--connect-to=${o.connectTo}`);
  args.push(o.url);
  return args;
}

/** One h2load run (after its warm-up run when `spread`), killed if it overruns (by 15 s; a spread run 3× its time + 15 s); latencies from its log. */
export async function runH2load(o: H2Options): Promise<H2Result> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'h2load-'));
  const log = path.join(dir, 'log.tsv');
  try {
    // A spread run is bounded by its request count, not by time: a server slower
    // than the asked rate makes it longer, so its kill limit has slack (3×).
    const limit = (s: number) => (o.spread && o.rate !== undefined ? 3 * s : s + o.warmup) + 15;
    if (o.spread && o.warmup > 0) await spawnH2load(h2loadArgs({ ...o, seconds: o.warmup }), limit(o.warmup));
    const out = await spawnH2load([...h2loadArgs(o).slice(0, -1), `--log-file=${log}`, o.url], limit(o.seconds));
    const sum = parseH2load(out);
    const entries = logEntries(await fs.readFile(log, 'utf8').catch(() => ''));
    const lat = entries.map((e) => e.ms);
    return {
      ...sum, p50: percentile(lat, 50), p90: percentile(lat, 90), p99: percentile(lat, 99), max: percentile(lat, 100),
      samples: lat.length, together: startedTogether(entries.map((e) => e.startUs)),
    };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** Runs h2load with `args`, killed after `limitS` seconds; its output (stdout and stderr). */
function spawnH2load(args: string[], limitS: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const child = spawn('h2load', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    trackChild(child);
    let text = '';
    child.stdout.on('data', (d: Buffer) => { text += d; });
    child.stderr.on('data', (d: Buffer) => { text += d; });
    const t = setTimeout(() => child.kill('SIGKILL'), limitS * 1000);
    child.on('error', (err) => { clearTimeout(t); reject(err); });
    child.on('exit', (code) => {
      clearTimeout(t);
      if (code !== 0) reject(new Error(`h2load ${args.join(' ')} exited ${code}:\n${text.slice(-2000)}`));
      else resolve(text);
    });
  });
}
