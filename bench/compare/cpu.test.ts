import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { groupCpuMs, majorFaults, majorFaultsSinceLast, parseProcStat, parseStat, stealSinceLast } from './cpu.ts';

test('parses pgrp and utime+stime, also when the process name has spaces and parentheses', () => {
  const line = '4242 (nginx: worker (x)) S 4241 4241 4241 0 -1 4194624 300 0 0 0 1234 56 0 0 20 0 1 0 100 1000 200 18446744073709551615';
  assert.deepEqual(parseStat(line), { pgrp: 4241, ticks: 1290 });
  assert.equal(parseStat('garbage'), undefined);
});

test('this process group has used CPU (starting Node alone takes more than a tick), an unknown group none', () => {
  const own = parseStat(readFileSync('/proc/self/stat', 'utf8'))!.pgrp;
  assert.ok(groupCpuMs(own) > 0);
  assert.equal(groupCpuMs(2 ** 30), 0);
});

test("/proc/stat's first line gives steal and the total of user..steal (guest is inside user); other text none", () => {
  assert.deepEqual(parseProcStat('cpu  100 5 50 800 10 0 20 15 7 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n'), { steal: 15, total: 1000 });
  assert.equal(parseProcStat('cpu0 1 2 3 4 5 6 7 8'), undefined);
  assert.equal(parseProcStat('cpu  1 2 3'), undefined);
  // On this Linux machine a value comes back (0 or more), and a second call measures a new interval.
  const a = stealSinceLast();
  for (let x = 0, t = Date.now(); Date.now() - t < 30;) x += Math.sqrt(x + 1);
  const b = stealSinceLast();
  for (const v of [a, b]) assert.ok(v === undefined || (v >= 0 && v <= 100), String(v));
  assert.notEqual(b, undefined);
});

test('major page faults: a count on Linux, and the difference since the last call is never negative', () => {
  assert.ok(Number.isInteger(majorFaults()));
  majorFaultsSinceLast();
  const d = majorFaultsSinceLast();
  assert.ok(d !== undefined && d >= 0, String(d));
});
