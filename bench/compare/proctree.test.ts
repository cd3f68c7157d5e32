import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kibField, listeners, parseNofile, parseStat, treeCpuSeconds, treeOf } from './proctree.ts';

test('parses /proc/PID/stat, also a comm with spaces and parentheses', () => {
  const cat = '693 (cat) R 691 691 30688 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 1838304 3133440 382';
  assert.deepEqual(parseStat(cat), { pid: 693, comm: 'cat', state: 'R', ppid: 691, ticks: 0, childTicks: 0 });
  const odd = '42 (nginx: worker (old)) S 40 40 0 0 -1 4194368 900 0 0 0 1234 567 89 10 20 0 1 0';
  assert.deepEqual(parseStat(odd), { pid: 42, comm: 'nginx: worker (old)', state: 'S', ppid: 40, ticks: 1801, childTicks: 99 });
});

test('a tree is the root and every descendant, nothing else', () => {
  const p = (pid: number, ppid: number, ticks = 0, childTicks = 0) => ({ pid, comm: 'x', state: 'S', ppid, ticks, childTicks });
  const procs = [p(1, 0, 5000), p(10, 1, 100, 300), p(11, 10, 200), p(12, 10, 50), p(13, 12, 7), p(20, 1, 9000)];
  assert.deepEqual(treeOf(procs, 10).map((x) => x.pid), [10, 11, 12, 13]);
  // Reaped workers (the master's childTicks) count; the unrelated 1 and 20 do not.
  assert.equal(treeCpuSeconds(treeOf(procs, 10)), 6.57);
  assert.deepEqual(treeOf(procs, 99), []);
});

test('reads kB fields of /proc status and smaps_rollup', () => {
  assert.equal(kibField('Name:\tcat\nVmHWM:\t    1924 kB\nVmRSS:\t    1900 kB\n', 'VmRSS'), 1900);
  const rollup = '5632e63d5000-7ffc3b268000 ---p 00000000 00:00 0   [rollup]\nRss:                1608 kB\nPss:                 286 kB\nPss_Dirty:           112 kB\n';
  assert.equal(kibField(rollup, 'Pss'), 286);
  assert.equal(kibField('Name:\tkthreadd\n', 'VmRSS'), 0);
});

test('listening sockets of /proc/net/tcp with their port and inode', () => {
  const t = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123456 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 123457 1 0000000000000000 20 4 30 10 -1
`;
  assert.deepEqual(listeners(t), [{ port: 8080, inode: 123456 }]);
});

test('open-files limits from /proc/PID/limits', () => {
  const limits = 'Limit                     Soft Limit           Hard Limit           Units     \nMax processes             95000                95000                processes \nMax open files            1024                 524288               files     \n';
  assert.deepEqual(parseNofile(limits), { soft: 1024, hard: 524288 });
  assert.deepEqual(parseNofile('Max open files            unlimited            unlimited            files'), { soft: Infinity, hard: Infinity });
  assert.equal(parseNofile('nothing'), undefined);
});
