// `kubectl turnout <command>`: the kubectl plugin (kubectl finds the
// `kubectl-turnout` executable on PATH). `check` compiles manifests offline;
// `status` reads a cluster (and a controller's admin port) and says what is not served.
import { runCheck } from './check.ts';
import { runStatus } from './status.ts';

const USAGE = `Usage: kubectl turnout <command>

Commands:
  check -f FILE|DIR...   compile manifests offline and print the conditions Turnout would set
  status                 Ingresses and Routes not served (and why); proxies' acked version, lag, last NACK
`;

/** Runs the plugin and resolves with the exit status. */
export async function pluginMain(argv: readonly string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const out = (s: string) => void process.stdout.write(s);
  const err = (s: string) => void process.stderr.write(s);
  if (cmd === 'check') return runCheck(rest, out, err);
  if (cmd === 'status') return runStatus(rest, out, err);
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    out(USAGE);
    return cmd === undefined ? 2 : 0;
  }
  err(`kubectl turnout: unknown command ${JSON.stringify(cmd)}\n\n${USAGE}`);
  return 2;
}
