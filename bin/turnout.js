#!/usr/bin/env node
// Entry point of the `turnout` executable. Turnout runs TypeScript directly,
// which needs Node 24; `npm ci` installs it into node_modules/.bin, which npm
// scripts and `npx turnout` put first on PATH.
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  process.stderr.write(
    `turnout: Node ${process.versions.node} is too old; Turnout needs Node 24 LTS.\n` +
      `Run it through npm (npm start, npx turnout ...) so node_modules/.bin/node (installed by npm ci) is used.\n`,
  );
  process.exit(2);
}
// Installed as a package (under node_modules, where Node does not strip
// types) it runs the JavaScript built at pack time (dist/, `npm run build`);
// from a checkout, the TypeScript sources.
const entry = import.meta.url.includes('/node_modules/') ? '../dist/cli/turnout.js' : '../cli/turnout.ts';
const { main } = await import(entry);
process.exitCode = await main(process.argv.slice(2));
