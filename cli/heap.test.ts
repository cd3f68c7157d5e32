import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DEFAULT_HEAP_FLAGS, heapFlagsOf, needsRestart, parseHeapFlags, restartWithHeapFlags } from './heap.ts';
import { UsageError } from './flags.ts';

const HEAP = fileURLToPath(new URL('./heap.ts', import.meta.url));

test('--heap-flags takes --name and --name=value words; "" is none; anything else is a usage error', () => {
  assert.deepEqual(parseHeapFlags(DEFAULT_HEAP_FLAGS), DEFAULT_HEAP_FLAGS.split(' '));
  assert.deepEqual(parseHeapFlags('  --max-semi-space-size=4   --expose_gc '), ['--max-semi-space-size=4', '--expose_gc']);
  assert.deepEqual(parseHeapFlags(''), []);
  for (const bad of ['max-semi-space-size=4', '--x=$(id)', '--a;b', '-e', '--x=a b']) {
    assert.throws(() => parseHeapFlags(bad === '--x=a b' ? '--x="a b"' : bad), UsageError, bad);
  }
  assert.deepEqual(heapFlagsOf({ 'heap-flags': '' }), []);
  assert.deepEqual(heapFlagsOf({ 'heap-flags': '--max-semi-space-size=8' }), ['--max-semi-space-size=8']);
});

test('a restart is skipped when there are no flags, when it already happened, and when node was given a flag of the same name', () => {
  const flags = ['--max-semi-space-size=2', '--heap-growing-percent=50'];
  assert.equal(needsRestart(flags, [], {}), true);
  assert.equal(needsRestart([], [], {}), false);
  assert.equal(needsRestart(flags, [], { TURNOUT_HEAP_FLAGS_APPLIED: flags.join(' ') }), false);
  assert.equal(needsRestart(flags, ['--max_semi_space_size=16'], {}), false, 'underscores name the same V8 flag');
  assert.equal(needsRestart(flags, [], { NODE_OPTIONS: '--heap-growing-percent=20 --no-warnings' }), false);
  assert.equal(needsRestart(flags, ['--expose-gc', '--import', 'x.mjs'], { NODE_OPTIONS: '--no-warnings' }), true);
});

test('restartWithHeapFlags replaces the process in place: same PID, the flags in effect, the arguments kept', async () => {
  // A child that restarts itself, then reports what it runs with.
  const script = `const { restartWithHeapFlags } = await import(${JSON.stringify(HEAP)});
restartWithHeapFlags(['--max-semi-space-size=1']);
console.log(JSON.stringify({ pid: process.pid, execArgv: process.execArgv.filter((a) => a.startsWith('--max')), argv: process.argv.slice(1)}));`;
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.TURNOUT_HEAP_FLAGS_APPLIED;
  const { pid, stdout } = await new Promise<{ pid: number | undefined; stdout: string }>((resolve, reject) => {
    const child = execFile(process.execPath, ['--input-type=module', '-e', script, 'proxy', '--x', 'y'], { env, timeout: 30_000 }, (err, out) => {
      if (err) reject(err);
      else resolve({ pid: child.pid, stdout: out });
    });
  });
  const seen = JSON.parse(stdout) as { pid: number; execArgv: string[]; argv: string[] };
  assert.equal(seen.pid, pid, 'the same process');
  assert.deepEqual(seen.execArgv, ['--max-semi-space-size=1']);
  assert.deepEqual(seen.argv, ['proxy', '--x', 'y']);
});

test('when the restart itself fails, the process says so and goes on with Node defaults', () => {
  const execve = process.execve;
  const write = process.stderr.write;
  let said = '';
  process.execve = (() => { throw new Error('EACCES'); }) as typeof process.execve;
  process.stderr.write = ((s: string) => { said += s; return true; }) as typeof process.stderr.write;
  const applied = process.env.TURNOUT_HEAP_FLAGS_APPLIED;
  delete process.env.TURNOUT_HEAP_FLAGS_APPLIED;
  try {
    restartWithHeapFlags(['--heap-growing-percent=77']);
  } finally {
    process.execve = execve;
    process.stderr.write = write;
    if (applied !== undefined) process.env.TURNOUT_HEAP_FLAGS_APPLIED = applied;
  }
  assert.match(said, /could not restart with --heap-flags "--heap-growing-percent=77" \(EACCES\)/);
});
