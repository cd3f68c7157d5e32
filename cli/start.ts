// `npm start -- <flags>`: runs `turnout local <flags>`, serving examples/ unless
// --manifests names another folder, with the demo backend the examples route to.
import { main } from './turnout.ts';
import { startDemoBackend, DEMO_BACKEND } from '../examples/demo-backend.ts';

const args = process.argv.slice(2);
const wantsHelp = args.includes('--help') || args.includes('-h');
if (!args.some((a) => a === '--manifests' || a.startsWith('--manifests='))) args.unshift('--manifests', 'examples/');

const demo = wantsHelp
  ? undefined
  : await startDemoBackend().then(
      (server) => {
        process.stderr.write(`demo backend listening on http://${DEMO_BACKEND.address}:${DEMO_BACKEND.port}\n`);
        return server;
      },
      (err: Error) => {
        process.stderr.write(`warning: ${err.message}; examples/ routes will answer 502\n`);
        return undefined;
      },
    );
process.exitCode = await main(['local', ...args]);
demo?.close();
demo?.closeAllConnections();
