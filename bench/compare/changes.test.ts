import assert from 'node:assert/strict';
import { test } from 'node:test';
import { changesBars, changesGoals, changesMarkdown, changesPlan, type ChangeResult, type LoadRun } from './changes.ts';

const stat = (p99: number, n = 1000, failed = 0) => ({ n, failed, p50: p99 / 2, p99, max: p99 * 2 });
function run(rate: number, requests: number, failed: number, rps: number): LoadRun {
  return {
    rate, seconds: 20, changes: rate * 20, achievedRate: rate * 0.95, windowMs: rate ? Math.min(200, 500 / rate) : 0,
    wrk: { requests: requests - 1000, seconds: 20, rps, p50: 1, p99: 2, errors: { connect: 0, read: failed, write: 0, timeout: 0 }, non2xx: 0 },
    probe: { requests: 1000, failed: 0, late: 0, opened: 8, all: stat(3), inside: rate ? stat(9, 300) : undefined, outside: rate ? stat(4, 700) : undefined },
    nstat: { TcpExtListenDrops: 0, TcpOutRsts: rate * 3 }, processes: { min: 2, max: rate ? 5 : 2 },
    versionsSeen: rate ? 7 : undefined, lastChangeServed: rate ? true : undefined, requests, failed,
    cpuSeconds: requests / 1e5, cpuUsPerRequest: rate ? 12 : 10, loadavg: [2, 2, 2],
  };
}
function result(kind: ChangeResult['kind'], rate: number, requests: number, failed: number, rps: number): ChangeResult {
  return { target: `${kind} x1`, kind, workers: 1, rate, baseline: run(0, requests, 0, 11_000), baselineAfter: run(0, requests, 0, 9_000), changed: run(rate, requests, failed, rps), deltaPct: (rps / 10_000 - 1) * 100, perMillion: (failed / requests) * 1e6 };
}

test('goals: Turnout only; 0 failed of fewer than 10⁶ is not judged, any failure is a miss, throughput within 5 %', () => {
  const goals = changesGoals([
    result('nginx', 10, 2e6, 500, 8_000),
    result('turnout', 1, 300_000, 0, 9_900),
    result('turnout', 10, 1_200_000, 0, 9_600),
    result('turnout', 100, 400_000, 3, 9_000),
  ]);
  assert.deepEqual(goals.map((g) => [g.metric, g.pass]), [
    ['throughput during 1/s changes (turnout x1)', true],
    ['failed requests during 10/s changes (turnout x1)', true],
    ['throughput during 10/s changes (turnout x1)', true],
    ['failed requests during 100/s changes (turnout x1)', false],
    ['throughput during 100/s changes (turnout x1)', false],
  ]);
  const few = changesGoals([result('turnout', 10, 50_000, 0, 10_000)])[0]!;
  assert.equal(few.pass, undefined);
  assert.match(few.note ?? '', /only 50,000 requests/);
});

test('markdown: one row per proxy and rate in both tables, counters without → with changes', () => {
  const md = changesMarkdown([result('nginx', 100, 1e6, 5_000, 7_000), result('turnout', 100, 1e6, 0, 9_800)]);
  assert.match(md, /^## Errors during change \(scenario 4\)/);
  assert.match(md, /\| nginx x1 \| 100 \(95\.0\) \| 20 \| 1,000,000 \| 5000 \(0\/5000\/0\/0 \+ 0; 0\) \| 5,000 \| 11,000, 9,000 → 7,000 \| -30\.0 % \| 10\.00 → 12\.00 \| yes \|/);
  assert.match(md, /\| turnout x1 \| 100 \| 5 \| 0 of 1,000 \| 3\.00 \| 9\.00 \(n=300\) \| 4\.00 \(n=700\) \| 18\.00 \| 0 → 0 \| n\/a → n\/a/);
  assert.equal(changesMarkdown([]), '');
});

test('quick plan is 10/s only; --full adds 1 and 100/s and asks for 10⁶ requests', () => {
  assert.deepEqual(changesPlan(false).rates, [10]);
  assert.deepEqual(changesPlan(true).rates, [1, 10, 100]);
  assert.ok(changesPlan(true).minRequests >= 1e6);
});

test('chart bars: failed per million per rate and proxy, single-core runs only, repeated runs pooled', () => {
  const twoWorkers = { ...result('nginx', 10, 100_000, 50_000, 9_000), workers: 2 };
  const bars = changesBars([
    result('nginx', 10, 100_000, 490, 8_000), result('haproxy', 10, 200_000, 86, 5_000),
    result('turnout', 10, 500_000, 0, 9_500), result('turnout', 10, 500_000, 1, 9_500),
    result('turnout', 1, 50_000, 0, 10_000), twoWorkers,
  ]);
  assert.deepEqual(bars.map((b) => b.label), ['1 change/s', '10 changes/s']);
  assert.deepEqual(bars[0]!.values, { turnout: 0 });
  assert.deepEqual(bars[1]!.values, { nginx: 4_900, haproxy: 430, turnout: 1 });
});
