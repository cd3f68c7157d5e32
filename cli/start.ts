// `npm start -- <flags>`: runs `turnout local <flags>`, serving examples/ unless
// --manifests names another folder, with the demo backend the examples route to.
import type { Server } from 'node:http';
import { main } from './turnout.ts';
import { startDemoBackend, startDemoTlsBackend, DEMO_BACKEND, DEMO_TLS_BACKEND } from '../examples/demo-backend.ts';

const args = process.argv.slice(2);
const wantsHelp = args.includes('--help') || args.includes('-h');
if (!args.some((a) => a === '--manifests' || a.startsWith('--manifests='))) args.unshift('--manifests', 'examples/');

/** Starts one side of the demo backend; a port in use is a warning, not a failure. */
async function start(run: () => Promise<Server>, url: string, missing: string): Promise<Server | undefined> {
  try {
    const server = await run();
    process.stderr.write(`demo backend listening on ${url}\n`);
    return server;
  } catch (err) {
    process.stderr.write(`warning: ${(err as Error).message}; ${missing}\n`);
    return undefined;
  }
}

const demos = wantsHelp ? [] : await Promise.all([
  start(startDemoBackend, `http://${DEMO_BACKEND.address}:${DEMO_BACKEND.port}`, 'examples/ routes will answer 502'),
  start(startDemoTlsBackend, `https://${DEMO_TLS_BACKEND.address}:${DEMO_TLS_BACKEND.port}`, 'the passthrough example will close its connections'),
]);
process.exitCode = await main(['local', ...args]);
for (const demo of demos) {
  demo?.close();
  demo?.closeAllConnections();
}
