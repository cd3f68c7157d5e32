// Why listeners keep in-flight responses in slots, not a Set (proxy/inflight.ts).
// Not a test: a reproduction with numbers, in one process.
//
//   node_modules/.bin/node --expose-gc --max-semi-space-size=8 --heap-growing-percent=100 bench/set-churn.ts
//
// A stand-in "request" (a 65-object graph) is added to a collection when it
// starts and removed 50 requests later (50 in flight, as wrk -c50 keeps), once
// with a Set (add/delete) and once with Slots (add/remove). One full GC
// first, as a proxy has behind it after loading a large table: it puts
// the Set's current hash table in the old generation. Then 200k requests.
// Printed per kind: full GCs, scavenges and CPU time. Measured 2026-11-26
// (load ~5): Set 17 full GCs, 1.46–1.53 s; Slots 0 full GCs, 0.82–0.89 s. Add
// --trace-gc-nvp to see the cause: with the Set each scavenge promotes what
// the previous one kept (286–288 MB in all, against 6–9 MB with Slots, warm-up
// included).
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { Slots } from '../proxy/inflight.ts';

const REQUESTS = 200_000;
const IN_FLIGHT = 50;

if (typeof globalThis.gc !== 'function') {
  console.error('run with --expose-gc (see the top of this file)');
  process.exit(2);
}

function makeRequest(i: number): object {
  return { parts: Array.from({ length: 64 }, (_, k) => ({ k })), id: `request-${i}` };
}

async function run(kind: 'set' | 'slots'): Promise<void> {
  const set = new Set<object>();
  const slots = new Slots<object>();
  const pending: Array<() => void> = [];
  const start = (i: number) => {
    const r = makeRequest(i);
    if (kind === 'set') {
      set.add(r);
      pending.push(() => set.delete(r));
    } else {
      const slot = slots.add(r);
      pending.push(() => slots.remove(slot));
    }
    if (pending.length > IN_FLIGHT) pending.shift()!();
  };
  for (let i = 0; i < 20_000; i++) start(i);
  globalThis.gc!();
  let full = 0;
  let minor = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const k = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
      if (k === constants.NODE_PERFORMANCE_GC_MAJOR) full++;
      else if (k === constants.NODE_PERFORMANCE_GC_MINOR) minor++;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < REQUESTS; i++) start(i);
  const cpu = process.cpuUsage(cpu0);
  // Let the observer see the last entries.
  await new Promise((resolve) => setTimeout(resolve, 50));
  obs.disconnect();
  console.log(`${kind.padEnd(5)}: ${full} full GCs, ${minor} scavenges, ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms CPU for ${REQUESTS.toLocaleString('en')} requests`);
}

for (const kind of ['set', 'slots', 'set', 'slots'] as const) await run(kind);
