import assert from 'node:assert/strict';
import { test } from 'node:test';
import { goalsMarkdown } from './goals.ts';
import { hostsGoals, hostsMarkdown, scaleDelta, type HostsRow } from './hosts.ts';
import { rateGoals, type RateRow } from './rate.ts';
import { markdown, type Throughput } from './report.ts';
import { keepAliveGoals, keepAliveMarkdown } from './throughput.ts';
import type { WrkResult } from './wrk.ts';

const run = (rps: number, extra: Partial<WrkResult> = {}): WrkResult => ({
  requests: rps * 4, seconds: 4, rps, p50: 1, p99: 2, errors: { connect: 0, read: 0, write: 0, timeout: 0 }, non2xx: 0, ...extra,
});
const tp = (target: string, kind: Throughput['kind'], workers: number, rps: number): Throughput => ({ target, kind, workers, runs: [run(rps)], rps, p50: 1, p99: 2 });

test('keep-alive goal: Turnout\'s best single-core form against nginx, milestone noted', () => {
  const rows = [tp('backend', 'direct', 1, 100_000), tp('nginx x1', 'nginx', 1, 50_000), tp('turnout 0', 'turnout', 0, 30_000), tp('turnout 1', 'turnout', 1, 20_000)];
  const [g] = keepAliveGoals(rows);
  assert.equal(g!.pass, false);
  assert.equal(g!.note, 'milestone met');
  assert.match(g!.measured, /0\.60× \(turnout 0 30,000 vs nginx 50,000\)/);
  assert.equal(keepAliveGoals([tp('nginx x1', 'nginx', 1, 50_000), tp('t', 'turnout', 1, 45_000)])[0]!.pass, true);
  const md = keepAliveMarkdown(rows, 'wrk -t1');
  assert.match(md, /\| turnout 0 \| 0 \| 30,000 \| 0\.60× \|/);
  assert.match(md, /\| backend \| 1 \| 100,000 \| {2}\| {2}\|/);
});

test('host scale: the goal uses the paired ratio of the largest table; a server that did not start is a miss, not a gap', () => {
  const row = (kind: HostsRow['kind'], hosts: number, rps: number, pairedPct?: number, error?: string): HostsRow => ({
    kind, target: kind, workers: 1, hosts, runs: [run(rps)], rps, p50: 1, p99: 2, failed: 0, startMs: 1000, error, cpuUsPerReq: 10 + hosts / 10_000, pairedPct,
  });
  const rows = [row('nginx', 10, 40_000), row('nginx', 50_000, 30_000, -2.5), row('turnout', 10, 10_000), row('turnout', 10_000, 9_800, -2), row('turnout', 50_000, NaN, undefined, 'not serving the last host after 240 s')];
  assert.equal(scaleDelta(rows, 'nginx')!.pct, -2.5, 'the paired figure, not the two medians (-25 %)');
  const goals = hostsGoals(rows, ['nginx', 'turnout'], true);
  assert.equal(goals[0]!.pass, undefined, 'nginx is a reference row');
  assert.match(goals[0]!.note!, /reference/);
  assert.match(goals[0]!.measured, /CPU per request \+50\.0 %/);
  assert.equal(goals[1]!.pass, false);
  assert.match(goals[1]!.measured, /50,000 hosts: not serving the last host/);
  const quick = hostsGoals([row('turnout', 10, 10_000), row('turnout', 10_000, 9_000, 3)], ['turnout'], false);
  assert.equal(quick[0]!.pass, true);
  assert.match(quick[0]!.note!, /largest table 10,000 in quick mode/);
  assert.equal(hostsGoals([row('turnout', 10, 10_000), row('turnout', 10_000, 9_000, -6)], ['turnout'], false)[0]!.pass, false);
  const md = hostsMarkdown(rows, 'wrk -s random-host.lua');
  assert.match(md, /\| turnout \| 50,000 \| \*\*not serving the last host after 240 s\*\* \|/);
  assert.match(md, /\| turnout \| 10,000 \| 1\.0 s \| 9,800 \| {2}\| -2\.0 % \|/);
});

test('half-rate goal: Turnout p99 over nginx p99, ≤ 1.5× passes', () => {
  const r = (kind: RateRow['kind'], p99: number, rps = 100): RateRow => ({ kind, target: kind, workers: 1, maxRps: 200, targetRps: 100, runs: [], rps, p50: 1, p99, failed: 0 });
  assert.equal(rateGoals([r('nginx', 2), r('turnout', 2.9)])[0]!.pass, true);
  const miss = rateGoals([r('nginx', 2), r('turnout', 3.2, 80)])[0]!;
  assert.equal(miss.pass, false);
  assert.match(miss.note!, /reached 80 of 100/);
  assert.deepEqual(rateGoals([r('turnout', 3)]), []);
  // Interleaved runs: the ratio of each round's pair is printed beside the ratio of the medians.
  const runs = (...p99s: number[]) => p99s.map((p99) => ({ p99 }) as RateRow['runs'][number]);
  const paired = rateGoals([{ ...r('nginx', 2), runs: runs(1, 2, 4), interleaved: true }, { ...r('turnout', 3), runs: runs(2, 3, 2), interleaved: true }])[0]!;
  assert.match(paired.measured, /^1\.50× .*; per round 2\.00, 1\.50, 0\.50×\)$/);
});

test('the report: header with both load averages, every section in order, then one goals table with pass / miss / not judged', () => {
  const md = markdown({
    date: '2026-11-26-0100', mode: 'quick', versions: { nginx: 'nginx/1.22.1' },
    mach: { host: 'vm', cores: 2, cpu: 'EPYC', memGiB: 24, kernel: 'Linux', loadavgAtStart: [1, 2, 3], loadavgAtEnd: [2, 2, 2] },
    sections: ['## 1. A\n', '## 4. B\n', ''], goals: [{ metric: 'throughput', goal: 'within 5 %', measured: '-7.0 %', pass: false }, { metric: 'm', goal: 'g', measured: 'x', pass: undefined }],
  });
  assert.match(md, /load average at start 1 \/ 2 \/ 3, at the end 2 \/ 2 \/ 2/);
  assert.ok(md.indexOf('## 1. A') < md.indexOf('## 4. B') && md.indexOf('## 4. B') < md.indexOf('## Issue 8 goals'));
  assert.match(md, /\| throughput \| within 5 % \| -7\.0 % \| \*\*miss\*\* \|/);
  assert.match(md, /\| m \| g \| x \| not judged \|/);
  assert.equal(goalsMarkdown([]).trim().split('\n').length, 2);
});
