// Per-request latencies split by time: inside the window after each
// configuration change vs the rest of the run. wrk only reports aggregates,
// so scenario 4 records every probe request (probe.ts) with a monotonic
// timestamp and splits them here, next to the change triggers recorded on
// the same clock (process.hrtime, CLOCK_MONOTONIC, shared by all processes).

/** One probe request: when it was sent (monotonic ms), how long it took, whether it succeeded. */
export interface Sample {
  readonly at: number;
  readonly ms: number;
  readonly ok: boolean;
}

/** Latency summary of a group of samples (ms); NaN percentiles when the group is empty. */
export interface LatencyStats {
  n: number;
  failed: number;
  p50: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of ascending `sorted` (p in 0..100); NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Stats of `samples`: percentiles over the successful ones, failures counted apart. */
export function stats(samples: readonly Sample[]): LatencyStats {
  const ok = samples.filter((s) => s.ok).map((s) => s.ms).sort((a, b) => a - b);
  return { n: samples.length, failed: samples.length - ok.length, p50: percentile(ok, 50), p99: percentile(ok, 99), max: ok.length ? ok[ok.length - 1]! : NaN };
}

/**
 * The window after each change: 200 ms, but at most half the period between
 * changes, so that at 10/s and 100/s some of the run is still "outside".
 */
export function windowMs(ratePerSecond: number): number {
  return ratePerSecond > 0 ? Math.min(200, 500 / ratePerSecond) : 0;
}

/** Splits samples (by send time) into those sent within `width` ms after a trigger and the rest. */
export function splitByWindows(samples: readonly Sample[], triggers: readonly number[], width: number): { inside: Sample[]; outside: Sample[] } {
  const t = [...triggers].sort((a, b) => a - b);
  const inside: Sample[] = [];
  const outside: Sample[] = [];
  const sorted = [...samples].sort((a, b) => a.at - b.at);
  let i = 0; // the last trigger at or before the sample
  for (const s of sorted) {
    while (i + 1 < t.length && t[i + 1]! <= s.at) i++;
    const last = t.length > 0 && t[i]! <= s.at ? t[i]! : undefined;
    (last !== undefined && s.at < last + width ? inside : outside).push(s);
  }
  return { inside, outside };
}
