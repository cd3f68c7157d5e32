// Regular expression benchmark (not a test): how long the proxy's matcher
// takes on hostile input, and what scanning a host's patterns costs.
//
//   node_modules/.bin/node bench/regex.ts
//
// 1. ReDoS: `(a+)+$`, exponential on a backtracking engine, against 50 KB of
//    "a" and one "b", as a path pattern, a header value pattern and a query
//    value pattern, through PathMatcher.match (the proxy's own path). The issue
//    asks for under 50 ms; proxy/routing/match.test.ts asserts a loose 500 ms.
// 2. The worst case within the program size cap (match.ts MAX_PROGRAM_SIZE):
//    patterns whose lazy DFA outgrows its memory and falls back to the NFA, on
//    16 KiB of fresh random input per run (Node's header limit bounds any path
//    or value to that), and the same patterns on ordinary input.
// 3. Scan cost: a host with R regular expression routes and a request that
//    matches none of them (every pattern tested), R = 1, 10, 100, 1000.
//
// Medians of RUNS runs (first run included: a cold DFA is part of the story).
import { performance } from 'node:perf_hooks';
import { compileRegex, MAX_PROGRAM_SIZE } from '../api/regex.ts';
import { PathMatcher } from '../proxy/routing/paths.ts';
import type { PathRoute } from '../proxy/routing/paths.ts';

const RUNS = 7;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function ms(x: number): string {
  return `${x.toFixed(2)} ms`;
}

// 1. ReDoS through the matcher.
const evil = 'a'.repeat(50 * 1024) + 'b';
const shapes: Array<[string, PathRoute<string>, { path: string; headers?: Record<string, string>; query?: string }]> = [
  ['path', { type: 'RegularExpression', path: '/(a+)+$', value: 'x' }, { path: `/${evil}` }],
  ['header value', { type: 'Prefix', path: '/', headers: [{ name: 'x-evil', type: 'RegularExpression', value: '(a+)+$' }], value: 'x' }, { path: '/', headers: { 'x-evil': evil } }],
  ['query value', { type: 'Prefix', path: '/', queryParams: [{ name: 'q', type: 'RegularExpression', value: '(a+)+$' }], value: 'x' }, { path: '/', query: `?q=${evil}` }],
];
console.log(`ReDoS: (a+)+$ against ${evil.length} characters ("a" x 50 KiB + "b"), through PathMatcher.match, median of ${RUNS}`);
for (const [name, route, input] of shapes) {
  const m = new PathMatcher([route]);
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    const hit = m.match(input.path, { method: 'GET', headers: input.headers, query: input.query });
    times.push(performance.now() - t);
    if (hit !== undefined) throw new Error('(a+)+$ must not match');
  }
  console.log(`  ${name.padEnd(14)} median ${ms(median(times))}  (max ${ms(Math.max(...times))})`);
}

// 2. Worst case within the cap.
function random(n: number, alphabet: string): string {
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(Math.random() * alphabet.length)];
  return s;
}
console.log(`\nWorst case within the cap (program size <= ${MAX_PROGRAM_SIZE}): 16 KiB input, fresh random per run, median of ${RUNS}`);
for (const [pattern, alphabet] of [['.*a.{20}', 'ab'], ['.*a.{40}', 'ab'], ['.*a.{95}', 'ab'], ['(a|b)*a(a|b){20}', 'ab'], ['/api/v[0-9]+/users/[a-z0-9-]+/items/.*', 'abc/-0123']] as const) {
  const re = compileRegex(pattern);
  const hostile: number[] = [];
  const ordinary: number[] = [];
  const plain = `/api/v1/users/${'u'.repeat(16 * 1024 - 30)}/items/1`;
  for (let i = 0; i < RUNS; i++) {
    const input = random(16 * 1024, alphabet);
    let t = performance.now();
    re.testExact(input);
    hostile.push(performance.now() - t);
    t = performance.now();
    re.testExact(plain);
    ordinary.push(performance.now() - t);
  }
  console.log(`  ${pattern.padEnd(40)} size ${String(re.programSize()).padStart(3)}  random ${ms(median(hostile)).padStart(10)}  ordinary path ${ms(median(ordinary))}`);
}

// 3. Scan cost per request.
console.log(`\nScan: one host with R regular expression routes, a request matching none, ns per request (median of ${RUNS})`);
for (const r of [1, 10, 100, 1000]) {
  const routes: Array<PathRoute<number>> = Array.from({ length: r }, (_, i) => ({ type: 'RegularExpression', path: `/svc${i}/v[0-9]+/items/[0-9]+`, value: i }));
  routes.push({ type: 'Prefix', path: '/', value: -1 });
  const m = new PathMatcher(routes);
  const paths = ['/static/app.js', '/api/v1/users/42', '/svc1/v1/items/x', '/healthz'];
  const iterations = Math.max(2_000, Math.floor(2_000_000 / r));
  const times: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) m.match(paths[i & 3] as string);
    times.push(Number(process.hrtime.bigint() - t) / iterations);
  }
  console.log(`  R = ${String(r).padStart(4)}  ${median(times).toFixed(0).padStart(9)} ns`);
}
