// The generative differential test of the net-level HTTP/1.1 engine: a
// seeded corpus (fuzz-grammar.ts) of requests with bent framing, fields,
// targets, versions and limits, pipelined and cut into writes, goes to the
// proxy on node:http and on the net engine, and what a client and the
// backend observe must be the same (differential-harness.ts, with detail:
// response heads' Connection and the backend's fields as well).
//
// The corpus is fixed by its seed (printed): TURNOUT_FUZZ_SEED and
// TURNOUT_FUZZ_COUNT replay or widen it (`TURNOUT_FUZZ_COUNT=5000 node --test
// proxy/http1/fuzz.test.ts`). The second pass of `npm test`
// (TURNOUT_TEST_HTTP1_ENGINE=node) runs the next seed, so the suite covers two
// corpora for the time of one each.
//
// Timing is not the engines' to agree on, so a case that differs is judged
// again before it fails: once more as it was (a late answer past the quiet
// time), then against node:http sent one request at a time. node:http parses
// pipelined bytes ahead and answers 400 to a bad one while an earlier request
// is in flight, losing that request's answer (differential.test.ts states it);
// the engine reads the next request only once the previous one is answered,
// which is what node:http does for a client that waits.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Observed, Rig } from './differential-harness.ts';
import { exchange, sameBody, startRig } from './differential-harness.ts';
import type { GenCase } from './fuzz-grammar.ts';
import { generate } from './fuzz-grammar.ts';

const BASE_SEED = 0x7e5701;
const seed = Number(process.env.TURNOUT_FUZZ_SEED ?? BASE_SEED + (process.env.TURNOUT_TEST_HTTP1_ENGINE === undefined ? 0 : 1));
const count = Number(process.env.TURNOUT_FUZZ_COUNT ?? 300);
// The same 2 cores run the other test files: a few cases at a time keep the
// run near 30 s without starving the answers the quiet time waits for.
const CONCURRENCY = 6;
const QUIET_MS = 400;
console.log(`fuzz: seed=${seed} count=${count} (replay: TURNOUT_FUZZ_SEED=${seed} TURNOUT_FUZZ_COUNT=${count})`);

let rig: Rig;
before(async () => {
  rig = await startRig();
});
after(async () => {
  const { same, again, sequential, ...known } = settled;
  console.log(`fuzz: seed=${seed}: ${same} equal, ${again} equal on a second try, ${sequential} equal to node:http sent one request at a time; stated differences: ${JSON.stringify(known)}`);
  await rig.close();
});

/** Each request's head (to its first empty line). */
function heads(c: GenCase): string[] {
  return c.requests.map((q) => q.bytes.slice(0, q.bytes.indexOf('\r\n\r\n') + 4 || undefined));
}

/**
 * Stated differences (differential.test.ts states each with its reason):
 * where the bytes show one, whether the connection stays open is node:http's
 * quirk, so only the statuses and what reached the backend are compared.
 */
const STATED: ReadonlyArray<{ readonly id: string; readonly shows: (c: GenCase) => boolean; readonly relax?: (o: Observed, c: GenCase) => Observed }> = [
  // node:http's handling of the connection after an Upgrade request it did not upgrade.
  { id: 'Upgrade not upgraded', shows: (c) => heads(c).some((h) => /\nUpgrade:/i.test(h) && /\nConnection:[^\n]*upgrade/i.test(h)) },
  // HEAD over HTTP/1.0 with keep-alive: node:http closes (no length for a body it does not send).
  // What follows on that connection is then the engine's alone: compared up to that answer.
  {
    id: 'HEAD over HTTP/1.0 keep-alive',
    shows: (c) => heads(c).some((h) => HEAD_10.test(h)),
    relax: (o, c) => openness(through(o, heads(c).findIndex((h) => HEAD_10.test(h)))),
  },
  // A refused HTTP/2.0+ request line with keep-alive: node:http keeps the connection, the engine closes.
  { id: 'refused version keeps alive', shows: (c) => heads(c).some((h) => /^\S+\s+\S+\s+HTTP\/[2-9]\.\d/.test(h) && /\n(Proxy-)?Connection:[^\n]*keep-alive/i.test(h)) },
  // CONNECT with a version the engine refuses: node:http closes without an answer, the engine answers 400.
  // An HTTP/0.9 request line (`HTTP/0.9`, or no version at all): node:http
  // forwards it (closing after), the engine answers 400. Nothing in common to compare.
  { id: 'HTTP/0.9 refused', shows: (c) => heads(c).some((h) => /^\S+\s+\S+\s+HTTP\/0\.9\r?\n|^\S+\s+[^\s]+\r?\n/.test(h)), relax: () => ({ statuses: [], closed: true, upstream: [] }) },
  // Only what reached the backend (nothing) is compared.
  { id: 'CONNECT with a refused version', shows: (c) => heads(c).some((h) => /^CONNECT\s+\S+\s+HTTP\/[02-9]\.\d/.test(h)), relax: (o) => ({ statuses: [], closed: true, upstream: o.upstream }) },  // HTTP/1.0 with both keep-alive and close in Connection: the engine closes
  // (RFC 9112 §9.3 checks close first), node:http keeps the connection when
  // the answer has a length.
  { id: 'HTTP/1.0 close beats keep-alive', shows: (c) => heads(c).some((h) => /^\S+\s+\S+\s+HTTP\/1\.0/.test(h) && /\nConnection:[^\n]*keep-alive/i.test(h) && /\nConnection:[^\n]*close/i.test(h)) },
  // Whitespace after a Content-Length or Transfer-Encoding value, or after a
  // chunk size: the engine's llhttp (undici's WebAssembly build) refuses it
  // (400), Node's built-in llhttp takes some of it. The stricter of the two;
  // what reached the backend before the refusal is compared.
  {
    id: 'whitespace in framing refused',
    shows: (c) => heads(c).some((h) => /\n(Content-Length|Transfer-Encoding):[^\n]*[ \t]\r?\n/i.test(h)) || /\n[0-9a-fA-F]+[ \t]+\r?\n/.test(c.pieces.join('')),
    relax: () => ({ statuses: [], closed: true, upstream: [] }),
  },
  // A malformed request after an answered one: the engine answers 400
  // before closing (no response in flight: node:http's rule), where
  // node:http sometimes closes without it, when the earlier response ended
  // in the same read and is still attached to the socket. Either way the
  // connection closes and nothing more is forwarded.
  {
    id: 'final 400 after an answer',
    shows: (c) => c.requests.length > 1 || /\r\n\r\n[\s\S]+/.test(c.pieces.join('')),
    // Only a closing 400 (an error answer says Connection: close; a keep-alive
    // 400 is the proxy's answer to a request, which both must send).
    relax: (o) => o.statuses.length > 1 && o.statuses.at(-1) === 400 && !/connection=keep-alive/.test(o.heads?.at(-1) ?? '')
      ? { ...o, statuses: o.statuses.slice(0, -1), heads: o.heads?.slice(0, -1) } : o,
  },
  // An empty chunked body whose last chunk arrives after the head: its
  // framing upstream is decided when the head is written (chunked if the end
  // has not arrived, else a length); both say the same.
  {
    id: 'empty chunked body framing',
    shows: (c) => heads(c).some((h) => /\nTransfer-Encoding:[^\n]*chunked/i.test(h)),
    relax: (o) => ({
      ...o,
      upstream: o.upstream.map((u) => u.body !== '' ? u : {
        ...u, framing: u.framing.replace(/cl=\S+ te=\S+/, 'cl=? te=?'),
        headers: u.headers?.split(' | ').filter((h) => !h.startsWith('content-length:') && !h.startsWith('transfer-encoding:')).join(' | '),
      }),
    }),
  },
];

const HEAD_10 = /^HEAD\s+\S+\s+HTTP\/1\.0/;

/**
 * An observation up to the final answer to request `i` (1xx answers do not
 * count), and what reached the backend up to its first HEAD (the HEAD
 * request that `i` is, or one before it).
 */
function through(o: Observed, i: number): Observed {
  let finals = 0;
  const n = o.statuses.findIndex((s) => s >= 200 && finals++ === i) + 1 || o.statuses.length;
  const head = o.upstream.findIndex((u) => u.method === 'HEAD') + 1 || o.upstream.length;
  return { ...o, statuses: o.statuses.slice(0, n), heads: o.heads?.slice(0, n), upstream: o.upstream.slice(0, head) };
}

/** An observation less whether the connection stayed open. */
function openness(o: Observed): Observed {
  return { ...o, closed: false, heads: o.heads?.map((h) => h.replace(/ connection=\S+( \[.*\])?/, '')) };
}

/** How a case was settled, counted for the summary line. */
const settled: Record<string, number> = { same: 0, again: 0, sequential: 0 };
for (const p of STATED) settled[`stated: ${p.id}`] = 0;

function send(engine: 'node' | 'net', c: GenCase, sequential = false): Promise<Observed> {
  const head = c.requests.map((q) => q.head);
  const options = { head, fin: c.fin, finWhenQuiet: true, detail: true, quietMs: QUIET_MS };
  const port = rig.proxies[engine].port;
  if (!sequential) return exchange(port, c.pieces, options);
  // Each message, then its tail (bytes past its announced end) on their own,
  // each once the messages before it were answered.
  const pieces = c.requests.flatMap((q) => q.tail === '' ? [q.bytes] : [q.bytes, q.tail]);
  const waitFor = c.requests.flatMap((q, i) => q.tail === '' ? [i] : [i, i + 1]);
  return exchange(port, pieces, { ...options, waitFor });
}

function equal(a: Observed, b: Observed): boolean {
  try {
    assert.deepEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

/** The case's bytes as a test name can carry them (JSON-escaped, long runs folded). */
function label(c: GenCase): string {
  const text = JSON.stringify(c.pieces.join('|')).replace(/(.)\1{40,}/g, (run, ch: string) => `${ch}{×${run.length}}`);
  return `#${c.index}${c.fin ? ' +FIN' : ''} ${text.length > 160 ? `${text.slice(0, 160)}…` : text}`;
}

describe(`net engine = node:http on generated requests (seed ${seed})`, { concurrency: CONCURRENCY }, () => {
  for (let i = 0; i < count; i++) {
    const c = generate(seed, i);
    it(label(c), async () => {
      const both = async () => (await Promise.all([send('node', c), send('net', c)])).map(sameBody) as [Observed, Observed];
      let [node, net] = await both();
      if (equal(node, net)) return void settled.same!++;
      [node, net] = await both();
      if (equal(node, net)) return void settled.again!++;
      const waited = sameBody(await send('node', c, true));
      if (equal(waited, net)) return void settled.sequential!++;
      // Each stated difference these bytes show, alone, then all of them together.
      const shown = STATED.filter((p) => p.shows(c));
      const relaxOf = (p: (typeof STATED)[number]) => p.relax ?? openness;
      const all = (o: Observed) => shown.reduce((x, p) => relaxOf(p)(x, c), o);
      for (const p of shown) if ([node, waited].some((r) => equal(relaxOf(p)(r, c), relaxOf(p)(net, c)))) return void settled[`stated: ${p.id}`]!++;
      const together = `stated: ${shown.map((p) => p.id).join(' + ')}`;
      if (shown.length > 1 && [node, waited].some((r) => equal(all(r), all(net)))) return void (settled[together] = (settled[together] ?? 0) + 1);
      assert.deepEqual(net, node, `seed ${seed} case ${i}: ${JSON.stringify({ pieces: c.pieces, fin: c.fin })}\nnode:http one request at a time: ${JSON.stringify(waited)}`);
    });
  }
});
