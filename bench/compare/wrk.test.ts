import assert from 'node:assert/strict';
import { test } from 'node:test';
import { failures, parseWrk, wrkArgs } from './wrk.ts';

// wrk 4.1 output with --latency, errors and non-2xx lines.
const sample = `Running 4s test @ http://127.0.0.1:40000/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.02ms  412.00us  12.30ms   80.00%
    Req/Sec    51.25k     2.10k   54.00k    75.00%
  Latency Distribution
     50%  860.00us
     75%    1.10ms
     90%    1.40ms
     99%    1.92ms
  204012 requests in 4.00s, 32.10MB read
  Socket errors: connect 0, read 31, write 2, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:  51003.00
Transfer/sec:      8.02MB
`;

test('parses throughput, latency percentiles in ms, socket errors and non-2xx', () => {
  const r = parseWrk(sample);
  assert.equal(r.requests, 204012);
  assert.equal(r.seconds, 4);
  assert.equal(r.rps, 51003);
  assert.equal(r.p50, 0.86);
  assert.equal(r.p99, 1.92);
  assert.deepEqual(r.errors, { connect: 0, read: 31, write: 2, timeout: 1 });
  assert.equal(r.non2xx, 5);
  assert.equal(failures(r), 39);
});

test('a run without errors has none, and output without a summary is refused', () => {
  const clean = sample.replace(/ {2}Socket errors.*\n {2}Non-2xx.*\n/, '');
  assert.equal(failures(parseWrk(clean)), 0);
  assert.throws(() => parseWrk('unable to connect to 127.0.0.1:1 Connection refused'), /unexpected wrk output/);
});

test('arguments: extra headers with -H and a Lua script with -s, the URL last', () => {
  assert.deepEqual(wrkArgs('http://127.0.0.1:1/', { connections: 50, seconds: 3, headers: ['Connection: close'], script: '/d/r.lua' }),
    ['-t1', '-c50', '-d3s', '--latency', '-H', 'Connection: close', '-s', '/d/r.lua', 'http://127.0.0.1:1/']);
});
