#!/usr/bin/env node
// The `kubectl turnout` plugin (kubectl runs `kubectl-turnout` from PATH).
// Needs Node 24, like `turnout` (see bin/turnout.js).
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  process.stderr.write(`kubectl-turnout: Node ${process.versions.node} is too old; Turnout needs Node 24 LTS.\n`);
  process.exit(2);
}
// Installed as a package (under node_modules, where Node does not strip
// types) it runs the JavaScript built at pack time (dist/, `npm run build`);
// from a checkout, the TypeScript sources.
const entry = import.meta.url.includes('/node_modules/') ? '../dist/cli/kubectl-turnout.js' : '../cli/kubectl-turnout.ts';
const { pluginMain } = await import(entry);
process.exitCode = await pluginMain(process.argv.slice(2));
