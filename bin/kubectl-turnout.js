#!/usr/bin/env node
// The `kubectl turnout` plugin (kubectl runs `kubectl-turnout` from PATH).
// Needs Node 24, like `turnout` (see bin/turnout.js).
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  process.stderr.write(`kubectl-turnout: Node ${process.versions.node} is too old; Turnout needs Node 24 LTS.\n`);
  process.exit(2);
}
const { pluginMain } = await import('../cli/kubectl-turnout.ts');
process.exitCode = await pluginMain(process.argv.slice(2));
