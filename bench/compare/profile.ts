// Where Turnout's proxy spends its time under wrk keep-alive load (not a test):
//
//   node_modules/.bin/node bench/compare/profile.ts [SECONDS]   (default 10)
//
// Starts the backend nginx and `turnout local --workers 0` under `--cpu-prof`,
// puts `wrk -t1 -c50` on it, stops it cleanly (the profile is written at exit)
// and prints the top functions by self time and the self time per area
// (Turnout's own code, undici, Node's http/net internals, GC, idle), plus the
// CPU microseconds per request. Needs nginx and wrk (see bench/compare.ts).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startBackend, startTurnout } from './servers.ts';
import { runWrk } from './wrk.ts';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number; }

const seconds = Number(process.argv[2] ?? 10);
process.env.PATH = `${process.env.PATH}:/usr/sbin:/sbin`;
const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'turnout-prof-'));
const profDir = path.join(tmp, 'prof');
const backend = await startBackend(path.join(tmp, 'backend'));
let requests = 0;
try {
  const t = await startTurnout(path.join(tmp, 'turnout'), 0, backend.port, ['--cpu-prof', '--cpu-prof-dir', profDir]);
  try {
    const warm = await runWrk(`http://127.0.0.1:${t.port}/`, { connections: 50, seconds: 2 });
    const r = await runWrk(`http://127.0.0.1:${t.port}/`, { connections: 50, seconds });
    requests = r.requests + warm.requests;
    console.log(`turnout --workers 0 under --cpu-prof: ${Math.round(r.rps)} req/s, p99 ${r.p99.toFixed(2)} ms`);
  } finally {
    await t.stop();
  }
} finally {
  await backend.stop();
}

const files = (await fs.readdir(profDir)).filter((f) => f.endsWith('.cpuprofile'));
if (files.length === 0) throw new Error(`no profile written in ${profDir}`);
const prof = JSON.parse(await fs.readFile(path.join(profDir, files[0]!), 'utf8')) as Profile;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map<string, number>();
const area = new Map<string, number>();
let total = 0;
const areaOf = (n: Node): string => {
  const { functionName: fn, url } = n.callFrame;
  if (fn === '(idle)') return 'idle';
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)') return 'program (native, unattributed)';
  if (url.includes('/node_modules/undici/')) return 'undici';
  if (url.includes('/node_modules/')) return 'other npm packages';
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`.replace(/^node:internal$/, 'node:internal');
  if (url === '') return 'native / builtins';
  return 'turnout';
};
prof.samples.forEach((id, i) => {
  const n = byId.get(id);
  const dt = prof.timeDeltas[i] ?? 0;
  if (!n) return;
  total += dt;
  const key = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*\/(node_modules\/)?/, '')}:${n.callFrame.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + dt);
  const a = areaOf(n);
  area.set(a, (area.get(a) ?? 0) + dt);
});
const busy = total - (area.get('idle') ?? 0);
const pct = (x: number) => `${(x / total * 100).toFixed(1)} %`;
console.log(`\nprofile: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy; ~${(busy / Math.max(1, requests)).toFixed(1)} µs of the proxy's main thread per request (start-up included)`);
console.log('\nself time by area:');
for (const [k, v] of [...area].sort((a, b) => b[1] - a[1])) console.log(`  ${pct(v).padStart(7)}  ${k}`);
console.log('\ntop 25 functions by self time:');
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${pct(v).padStart(7)}  ${k}`);
await fs.rm(tmp, { recursive: true, force: true });
