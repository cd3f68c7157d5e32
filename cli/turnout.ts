// `turnout <command> [flags]`: dispatches to local, controller or proxy, turns
// mistakes into a message naming the problem with exit status 2, and shuts
// down gracefully on SIGINT/SIGTERM.
import { COMMANDS } from './commands.ts';
import { heapFlagsOf, restartWithHeapFlags } from './heap.ts';
import { parseFlags, usage, UsageError, type FlagValues } from './flags.ts';
import { StartupError, type Running } from './startup.ts';

type Runner = (flags: FlagValues) => Promise<Running>;

const RUNNERS: Record<string, () => Promise<Runner>> = {
  local: async () => (await import('./local.ts')).runLocal,
  controller: async () => (await import('../controller/main.ts')).runController,
  proxy: async () => (await import('../proxy/main.ts')).runProxy,
};

function topUsage(): string {
  const lines = ['Usage: turnout <command> [flags]', '', 'Commands:'];
  for (const c of COMMANDS) lines.push(`  ${c.name.padEnd(12)} ${c.summary.split('\n')[0]}`);
  lines.push('', "Run 'turnout <command> --help' for the flags of a command.");
  return lines.join('\n') + '\n';
}

/** Runs the CLI and resolves with the process exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(topUsage());
    return name === undefined ? 2 : 0;
  }
  const spec = COMMANDS.find((c) => c.name === name);
  const load = RUNNERS[name];
  if (!spec || !load) {
    process.stderr.write(`turnout: unknown command ${JSON.stringify(name)}\n\n${topUsage()}`);
    return 2;
  }
  let running: Running;
  try {
    const flags = parseFlags(spec, rest);
    if (flags.help) {
      process.stdout.write(usage(spec));
      return 0;
    }
    // Before anything is opened: the process may be replaced here (heap.ts).
    if (name === 'proxy') restartWithHeapFlags(heapFlagsOf(flags));
    running = await (await load())(flags);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`turnout: ${err.message}\nRun 'turnout ${name} --help' for usage.\n`);
      return 2;
    }
    if (err instanceof StartupError) {
      process.stderr.write(`turnout ${name}: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`turnout ${name}: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
  return waitForSignal(running);
}

async function waitForSignal(running: Running): Promise<number> {
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        process.stderr.write(`turnout: second ${signal}, exiting now\n`);
        process.exit(1);
      }
      stopping = true;
      running.close().then(() => resolve(0), (err: Error) => {
        process.stderr.write(`turnout: error while stopping: ${err.message}\n`);
        resolve(1);
      });
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
}
