import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { groupCpuMs, parseStat } from './cpu.ts';

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
