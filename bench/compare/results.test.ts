import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderResults, stamp, type ResultsFile } from './results.ts';
import type { Throughput } from './report.ts';
import type { WrkResult } from './wrk.ts';

const run = (rps: number): WrkResult => ({ requests: rps * 4, seconds: 4, rps, p50: 1, p99: 2, errors: { connect: 0, read: 0, write: 0, timeout: 0 }, non2xx: 0 });
const tp = (target: string, kind: Throughput['kind'], workers: number, rps: number): Throughput => ({ target, kind, workers, runs: [run(rps)], rps, p50: 1, p99: 2, cpuUsPerReq: 20 });

test('a results file renders to the report and chart: sections in scenario order, goals of each, bars per proxy', () => {
  const file: ResultsFile = {
    date: '2026-11-26T01:03:12.000Z', mode: 'quick', versions: { nginx: 'nginx/1.22.1' }, timing: { warmup: 1, seconds: 3, reps: 3 },
    machine: { host: 'vm', cores: 2, cpu: 'EPYC', memGiB: 24, kernel: 'Linux', loadavgAtStart: [3.5, 2, 2], loadavgAtEnd: [5.2, 5, 5] },
    scenarios: {
      keepAlive: [tp('backend', 'direct', 1, 100_000), tp('nginx x1', 'nginx', 1, 50_000), tp('haproxy x1', 'haproxy', 1, 45_000), tp('turnout --workers 0', 'turnout', 0, 12_000)],
      churn: [{ target: 'nginx x1', kind: 'nginx', workers: 1, runs: [run(9_000)], rps: 9_000, p50: 3, p99: 8, failed: 0, requests: 27_000, cpuUsPerReq: 45 },
        { target: 'turnout --workers 0', kind: 'turnout', workers: 0, runs: [run(2_000)], rps: 2_000, p50: 20, p99: 60, failed: 0, requests: 6_000, cpuUsPerReq: 250 }],
    },
  };
  assert.equal(stamp(file.date), '2026-11-26-0103');
  const { md, svg, goals } = renderResults(file);
  assert.ok(md.startsWith('# Turnout vs nginx vs HAProxy, 2026-11-26-0103 (quick)'));
  assert.ok(md.indexOf('## 1. Keep-alive') < md.indexOf('## 2. `Connection: close`'));
  assert.ok(md.indexOf('## 2. `Connection: close`') < md.indexOf('## Issue 8 goals'));
  assert.deepEqual(goals.map((g) => g.metric), ['keep-alive req/s, 1 worker each', '`Connection: close` churn, 1 worker each']);
  assert.match(svg, />HTTP\/1\.1 keep-alive</);
  assert.match(svg, />Connection: close</);
  assert.match(svg, /load average 3\.5 at start, 5\.2 at end/);
  assert.equal(svg.match(/<title>/g)?.length, 5, 'three bars for keep-alive, two for churn (no HAProxy row)');
});
