import assert from 'node:assert/strict';
import { test } from 'node:test';
import { h2loadArgs, logEntries, logLatencies, parseH2load, percentile, startedTogether } from './h2load.ts';

// Recorded: h2load 1.52 (nghttp2-client, Debian 12) -t1 -c10 -m10 -D2 --warm-up-time=1
// against nginx 1.22 `listen ssl http2` on this machine (2026-11-26).
const recorded = `starting benchmark...
spawning thread #0: 10 total client(s). Timing-based test with 1s of warm-up time and 2s of main duration for measurements.
Warm-up started for thread #0.
progress: 10% of clients started
progress: 20% of clients started
progress: 30% of clients started
progress: 40% of clients started
progress: 50% of clients started
progress: 60% of clients started
progress: 70% of clients started
progress: 80% of clients started
progress: 90% of clients started
progress: 100% of clients started
TLS Protocol: TLSv1.3
Cipher: TLS_AES_128_GCM_SHA256
Server Temp Key: X25519 253 bits
Application protocol: h2
Warm-up phase is over for thread #0.
Main benchmark duration is started for thread #0.
Main benchmark duration is over for thread #0. Stopping all clients.
Stopped all clients for thread #0

finished in 3.00s, 8365.50 req/s, 653.55KB/s
requests: 16731 total, 16731 started, 16731 done, 16731 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 16731 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 1.28MB (1338480) total, 1.01MB (1062663) headers (space savings 50.51%), 275.32KB (281931) data
                     min         max         mean         sd        +/- sd
time for request:      858us     53.05ms     10.88ms      5.18ms    79.34%
time for connect:        0us         0us         0us         0us     0.00%
time to 1st byte:        0us         0us         0us         0us     0.00%
req/s           :     814.50      856.98      835.49       14.24    50.00%
`;

test('parses a recorded h2load run: req/s of the measured period, done requests, no failures', () => {
  const r = parseH2load(recorded);
  assert.equal(r.requests, 16731);
  assert.equal(r.rps, 8365.5);
  assert.equal(r.seconds, 2, '"finished in 3.00s" includes the 1 s warm-up');
  assert.equal(r.succeeded, 16731);
  assert.equal(r.failed, 0);
  assert.equal(r.non2xx, 0);
  assert.throws(() => parseH2load('connect: Connection refused'), /unexpected h2load output/);
});

test('failures are failed + errored + timeout plus non-2xx answers (the recorded run, edited to have some)', () => {
  const edited = recorded
    .replace(/requests: .*/, 'requests: 16731 total, 16800 started, 16731 done, 16719 succeeded, 12 failed, 3 errored, 1 timeout')
    .replace(/status codes: .*/, 'status codes: 16719 2xx, 0 3xx, 2 4xx, 7 5xx');
  const r = parseH2load(edited);
  assert.equal(r.non2xx, 9);
  assert.equal(r.failed, 12 + 3 + 1 + 9);
});

test('latencies come from the per-request log in ms; percentiles by nearest rank', () => {
  const log = ['1764115200000000\t200\t1500', '1764115200000100\t200\t500', '1764115200000200\t503\t2500', ''].join('\n');
  assert.deepEqual(logLatencies(log), [1.5, 0.5, 2.5]);
  const xs = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(xs, 50), 50);
  assert.equal(percentile(xs, 99), 99);
  assert.equal(percentile([7], 99), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
});

test('arguments: bounded by -D with a warm-up; --rps is the total rate split over the clients; --h1 and --connect-to', () => {
  assert.deepEqual(h2loadArgs({ url: 'https://bench.test/', connectTo: '127.0.0.1:8443', clients: 10, streams: 10, seconds: 3, warmup: 1 }),
    ['-t1', '-c10', '-m10', '-D3', '--warm-up-time=1', '--connect-to=127.0.0.1:8443', 'https://bench.test/']);
  const fixed = h2loadArgs({ url: 'http://127.0.0.1:8080/', clients: 50, streams: 1, seconds: 6, warmup: 2, rate: 25_000, h1: true });
  assert.ok(fixed.includes('--rps=500'));
  assert.ok(fixed.includes('--h1'));
  assert.equal(fixed.at(-1), 'http://127.0.0.1:8080/');
});

test('spread: clients 1 ms apart (-r1 --rate-period=1ms), bounded by a request count since h2load refuses -r with -D', () => {
  const a = h2loadArgs({ url: 'http://127.0.0.1:8080/', clients: 50, streams: 1, seconds: 3, warmup: 1, rate: 6_600, h1: true, spread: true });
  assert.ok(a.includes('-r1') && a.includes('--rate-period=1ms') && a.includes('--rps=132'));
  assert.ok(a.includes(`-n${132 * 50 * 3}`), 'rate × seconds, a multiple of the clients');
  assert.ok(!a.some((x) => x.startsWith('-D') || x.startsWith('--warm-up-time')));
  // Without a rate there is nothing to spread: the duration-bounded form.
  assert.ok(h2loadArgs({ url: 'http://x/', clients: 10, streams: 10, seconds: 3, warmup: 1, spread: true }).includes('-D3'));
});

test('startedTogether: a burst on every connection at once shows as its size, evenly spaced starts as ~1', () => {
  const burst = Array.from({ length: 500 }, (_, i) => Math.floor(i / 50) * 10_000 + (i % 50));
  assert.equal(startedTogether(burst), 50);
  const even = Array.from({ length: 500 }, (_, i) => i * 200);
  assert.equal(startedTogether(even), 1);
  assert.deepEqual(logEntries('1764115200000000\t200\t1500\n'), [{ startUs: 1764115200000000, ms: 1.5 }]);
});
