import assert from 'node:assert/strict';
import { test } from 'node:test';
import { h2loadArgs, logLatencies, parseH2load, percentile } from './h2load.ts';

// h2load 1.52 (nghttp2-client, Debian 12) against nginx `listen ssl http2`, -D mode.
const sample = `starting benchmark...
spawning thread #0: 10 total client(s). Timing-based test with 1s of warm-up time and 3s of main duration for measurements.
TLS Protocol: TLSv1.3
Cipher: TLS_AES_128_GCM_SHA256
Server Temp Key: X25519 253 bits
Application protocol: h2
Warm-up started for thread #0.
progress: 10% of clients started
Warm-up phase is over for thread #0.
Main benchmark duration is started for thread #0.
Main benchmark duration is over for thread #0. Stopping all clients.
Stopped all clients for thread #0

finished in 4.00s, 14307.33 req/s, 1.10MB/s
requests: 42922 total, 43022 started, 42922 done, 42910 succeeded, 12 failed, 3 errored, 1 timeout
status codes: 42910 2xx, 0 3xx, 2 4xx, 7 5xx
traffic: 3.30MB (3459364) total, 2.06MB (2160048) headers (space savings 50.51%), 558.05KB (571441) data
                     min         max         mean         sd        +/- sd
time for request:      412us     31.02ms      6.94ms      2.85ms    71.38%
time for connect:     4.20ms      5.05ms      4.62ms       602us   100.00%
time to 1st byte:     6.21ms      7.28ms      6.75ms       757us   100.00%
req/s           :    1428.12     1433.45     1430.73        1.71    60.00%
`;

test('parses the h2load summary: req/s, done requests, failures plus non-2xx', () => {
  const r = parseH2load(sample);
  assert.equal(r.requests, 42922);
  assert.equal(r.rps, 14307.33);
  assert.equal(r.seconds, 4);
  assert.equal(r.succeeded, 42910);
  assert.equal(r.non2xx, 9);
  assert.equal(r.failed, 12 + 3 + 1 + 9);
  assert.throws(() => parseH2load('connect: Connection refused'), /unexpected h2load output/);
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
