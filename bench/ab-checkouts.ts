// CPU per keep-alive request of two Turnout checkouts, measured side by side
// (not a test). On a shared 2-core machine one checkout measured after the
// other meets different neighbours, and two instances of the same build
// differ by ±15 % (JIT and layout): this runs both AT ONCE, each with its own
// backend nginx, `turnout local --workers 0` and `wrk -t1 -c50`, so whatever
// the machine does hits both; fresh instances every round, the start order
// alternated. Printed: each round's three runs (CPU µs per request of the
// proxy's process group), the per-round ratio B/A − 1 and its median.
//
//   node_modules/.bin/node bench/ab-checkouts.ts ROUNDS CHECKOUT_A CHECKOUT_B
//
// Each checkout needs its own node_modules (or a link to one); each is
// started with its own bench/compare/servers.ts. Needs nginx and wrk
// (see bench/compare.ts). Traffic stays on 127.0.0.1.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { groupCpuMs } from './compare/cpu.ts';
import { median as med } from './compare/report.ts';
import { startBackend } from './compare/servers.ts';
import type { Target } from './compare/servers.ts';
import { failures, runWrk } from './compare/wrk.ts';

const [roundsArg, a, b] = process.argv.slice(2);
const rounds = Number(roundsArg);
if (!Number.isInteger(rounds) || rounds < 1 || a === undefined || b === undefined) {
  console.error('usage: bench/ab-checkouts.ts ROUNDS CHECKOUT_A CHECKOUT_B');
  process.exit(2);
}
const trees = [path.resolve(a), path.resolve(b)];
process.env.PATH = `${process.env.PATH}:/usr/sbin:/sbin`;
const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'turnout-ab-'));
const backends = [await startBackend(path.join(tmp, 'b0')), await startBackend(path.join(tmp, 'b1'))];
const perTree: number[][] = [[], []];
const ratios: number[] = [];
try {
  for (let round = 0; round < rounds; round++) {
    const proxies: Target[] = [];
    for (const i of round % 2 ? [1, 0] : [0, 1]) {
      const servers = await import(path.join(trees[i]!, 'bench/compare/servers.ts')) as typeof import('./compare/servers.ts');
      proxies[i] = await servers.startTurnout(path.join(tmp, `t${round}-${i}`), 0, backends[i]!.port, [], {});
    }
    try {
      await Promise.all(proxies.map((t) => runWrk(`http://127.0.0.1:${t.port}/`, { connections: 50, seconds: 2 })));
      const runs: number[][] = [[], []];
      for (let k = 0; k < 3; k++) {
        const before = proxies.map((t) => groupCpuMs(t.pid!));
        const results = await Promise.all(proxies.map((t) => runWrk(`http://127.0.0.1:${t.port}/`, { connections: 50, seconds: 3 })));
        const after = proxies.map((t) => groupCpuMs(t.pid!));
        for (const i of [0, 1]) {
          const r = results[i]!;
          if (failures(r) > 0) throw new Error(`checkout ${trees[i]}: ${failures(r)} failed requests`);
          runs[i]!.push(((after[i]! - before[i]!) * 1000) / r.requests);
        }
      }
      perTree[0]!.push(med(runs[0]!));
      perTree[1]!.push(med(runs[1]!));
      ratios.push(med(runs[1]!) / med(runs[0]!) - 1);
      const show = (x: number[]) => x.map((v) => v.toFixed(1)).join(' ');
      console.log(`round ${round}: A ${show(runs[0]!)}  B ${show(runs[1]!)} µs/req  B/A − 1 ${pct(ratios.at(-1)!)}  load ${os.loadavg()[0]!.toFixed(2)}`);
    } finally {
      await Promise.all(proxies.map((t) => t.stop()));
    }
  }
  console.log(`A ${trees[0]}: median ${med(perTree[0]!).toFixed(1)} µs/req`);
  console.log(`B ${trees[1]}: median ${med(perTree[1]!).toFixed(1)} µs/req`);
  console.log(`B/A − 1 per round: ${ratios.map(pct).join(', ')}; median ${pct(med(ratios))}`);
} finally {
  for (const x of backends) await x.stop();
  await fs.rm(tmp, { recursive: true, force: true });
}
