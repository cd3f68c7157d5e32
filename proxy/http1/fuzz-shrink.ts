// Shrinks a divergence fuzz.test.ts reported to the smallest bytes that still
// show it, so a report carries a case a person can read. Run by hand:
//   node proxy/http1/fuzz-shrink.ts <seed> <index>
// It replays the case against both engines and removes what it can (the
// FIN, write splits, requests, lines, then ever smaller runs of bytes),
// keeping a change only while the two engines still differ the same way
// (same statuses on each side, same parts of the observation differing),
// twice in a row, so a timing accident is not taken for the bug.
import assert from 'node:assert/strict';
import type { Observed, Rig } from './differential-harness.ts';
import { exchange, sameBody, startRig } from './differential-harness.ts';
import { generate } from './fuzz-grammar.ts';

/** A candidate: the writes and whether a FIN follows them. */
interface Candidate {
  readonly pieces: readonly string[];
  readonly fin: boolean;
}

const QUIET_MS = 400;

async function observeBoth(rig: Rig, c: Candidate): Promise<{ node: Observed; net: Observed }> {
  const head = c.pieces.join('').startsWith('HEAD');
  const options = { head, fin: c.fin, finWhenQuiet: true, detail: true, quietMs: QUIET_MS };
  const [node, net] = await Promise.all([exchange(rig.proxies.node.port, c.pieces, options), exchange(rig.proxies.net.port, c.pieces, options)]);
  return { node: sameBody(node), net: sameBody(net) };
}

/** What kind of difference it is: the statuses on each side and which parts differ ('' when equal). */
function signature(o: { node: Observed; net: Observed }): string {
  const parts = (['statuses', 'closed', 'upstream', 'heads'] as const).filter((k) => {
    try {
      assert.deepEqual(o.node[k], o.net[k]);
      return false;
    } catch {
      return true;
    }
  });
  if (parts.length === 0) return '';
  return `${parts.join(',')} node=${o.node.statuses.join(',')} net=${o.net.statuses.join(',')}`;
}

/** Smaller candidates of `c`, biggest cuts first. */
function* smaller(c: Candidate): Generator<Candidate> {
  if (c.fin) yield { ...c, fin: false };
  for (let i = 1; i < c.pieces.length; i++) yield { ...c, pieces: [...c.pieces.slice(0, i - 1), c.pieces[i - 1]! + c.pieces[i]!, ...c.pieces.slice(i + 1)] };
  const text = c.pieces.join('');
  // Cut positions, so byte removal can keep the splits where they were.
  const rebuild = (from: number, to: number): Candidate => {
    const pieces: string[] = [];
    let at = 0;
    for (const p of c.pieces) {
      const s = at;
      at += p.length;
      const kept = p.slice(0, Math.max(0, Math.min(p.length, from - s))) + p.slice(Math.max(0, Math.min(p.length, to - s)));
      if (kept !== '') pieces.push(kept);
    }
    return { ...c, pieces };
  };
  // Lines (a request's head ends at an empty line, so whole requests go too).
  const lines: number[] = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lines.push(i + 1);
  for (let i = lines.length - 1; i > 0; i--) yield rebuild(lines[i - 1]!, lines[i]!);
  for (let size = Math.max(1, text.length >> 1); size >= 1; size >>= 1) {
    for (let from = 0; from < text.length; from += size) yield rebuild(from, Math.min(text.length, from + size));
  }
}

/** Shrinks `start` while it keeps the signature `want`. */
export async function shrink(rig: Rig, start: Candidate, want: string, budget = 400): Promise<Candidate> {
  let best = start;
  let tries = 0;
  for (let progress = true; progress && tries < budget;) {
    progress = false;
    for (const next of smaller(best)) {
      if (++tries > budget) break;
      if (next.pieces.length === 0) continue;
      if (signature(await observeBoth(rig, next)) !== want) continue;
      if (signature(await observeBoth(rig, next)) !== want) continue;
      best = next;
      progress = true;
      break;
    }
  }
  return best;
}

if (import.meta.main) {
  const [seed, index] = process.argv.slice(2).map(Number);
  const rig = await startRig();
  try {
    const g = generate(seed!, index!);
    const start = { pieces: g.pieces, fin: g.fin };
    const first = await observeBoth(rig, start);
    const want = signature(first);
    if (want === '') console.log(`seed ${seed} case ${index}: the engines agree now`);
    else {
      const best = await shrink(rig, start, want);
      const seen = await observeBoth(rig, best);
      console.log(JSON.stringify({ seed, index, want, pieces: best.pieces, fin: best.fin, node: seen.node, net: seen.net }, null, 1));
    }
  } finally {
    await rig.close();
  }
}
