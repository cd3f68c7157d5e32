// Go-style durations for annotations. Kubernetes users write Go durations
// everywhere ("500ms", "1m30s"), so annotations accept the whole Go grammar
// rather than a subset that would surprise them.

const UNIT_NS: Record<string, number> = {
  ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9,
};
const DURATION_RE = /^(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/;
const PART_RE = /(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g;

/**
 * The largest timeout we hand to the proxy: Node's timers treat any delay above
 * 2^31-1 ms (about 24.8 days) as 1 ms, so a larger value would time out at once.
 */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * Parses a Go duration ("500ms", "2s", "1m30s", "1.5h") into whole
 * milliseconds, rounding sub-millisecond parts up so a tiny timeout never
 * becomes 0. Returns undefined for malformed, signed, zero, or too large values
 * (Go accepts "-1s" and "0", but neither is a usable timeout).
 */
export function parseTimeoutMs(s: string): number | undefined {
  if (!DURATION_RE.test(s)) return undefined;
  let ns = 0;
  for (const m of s.matchAll(PART_RE)) ns += Number(m[1]) * UNIT_NS[m[2]!]!;
  // Round to whole nanoseconds first: 1.1 * 1e9 is 1100000000.0000002 in floating point.
  const ms = Math.ceil(Math.round(ns) / 1e6);
  return ms >= 1 && ms <= MAX_TIMEOUT_MS ? ms : undefined;
}
