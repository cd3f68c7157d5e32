// Preloaded into a proxy process by the control-plane bench
// (`node --import bench/compare/loop-probe.mjs dist/cli/turnout.js proxy ...`): it
// measures that process's event-loop delay from inside, where a long swap
// shows, without a line of benchmark code in the proxy itself.
//
// With TURNOUT_BENCH_PROBE_PORT set it serves, on 127.0.0.1 only:
//   GET /       → {"p50","p99","max" (ms), "count", "rss", "heapUsed" (bytes)}
//   GET /reset  → the same, then the histogram starts over.
//   GET /gc     → the same after a full GC (with --expose-gc): live heap.
// Without the variable it does nothing. Its server is unref'd: it never keeps
// the proxy alive. Plain JavaScript: a .ts file would make Node load its type
// stripper into the proxy, ~30 MB of RSS that a deployed proxy (dist/) does not have.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import v8 from 'node:v8';

const port = Number(process.env.TURNOUT_BENCH_PROBE_PORT);
if (Number.isInteger(port) && port > 0) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const server = http.createServer((req, res) => {
    // GET /gc: a full collection first (the proxy runs with --expose-gc), so heapUsed is live objects.
    if (req.url === '/gc' && typeof globalThis.gc === 'function') globalThis.gc();
    const mem = process.memoryUsage();
    const body = JSON.stringify({
      p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6, count: h.count,
      rss: mem.rss, heapUsed: mem.heapUsed,
      // Where the RSS is (printed with TURNOUT_BENCH_MEM=1): V8's spaces, what
      // lives outside them, and the kernel's split of the resident pages.
      mem: {
        heapTotal: mem.heapTotal, external: mem.external, arrayBuffers: mem.arrayBuffers,
        spaces: Object.fromEntries(v8.getHeapSpaceStatistics().map((sp) => [sp.space_name, { size: sp.space_size, used: sp.space_used_size }])),
        smaps: smapsRollup(),
      },
    });
    if (req.url === '/reset') h.reset();
    res.setHeader('content-type', 'application/json');
    res.end(body);
  });
  server.listen(port, '127.0.0.1');
  function smapsRollup() {
    try {
      const out = {};
      for (const line of readFileSync('/proc/self/smaps_rollup', 'utf8').split('\n')) {
        const m = /^(Rss|Pss_Anon|Pss_File|Anonymous|Private_Dirty|Shared_Clean):\s+(\d+) kB/.exec(line);
        if (m) out[m[1]] = Number(m[2]) * 1024;
      }
      return out;
    } catch {
      return undefined;
    }
  }
  server.unref();
}
