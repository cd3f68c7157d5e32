// Re-renders a past run's report and chart from its JSON (not a test):
//
//   node_modules/.bin/node bench/compare/render.ts bench/results/<date>.json [--chart]
//
// Rewrites <date>.md and <date>.svg next to the JSON; --chart also copies the
// SVG to docs/bench.svg (the README's chart). For report or chart changes
// that should not need a new 20-minute run.
import fs from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { renderResults, type ResultsFile } from './results.ts';

const file = process.argv[2];
if (!file || !file.endsWith('.json')) {
  console.error('usage: render.ts bench/results/<date>.json [--chart]');
  process.exit(2);
}
const data = JSON.parse(await fs.readFile(file, 'utf8')) as ResultsFile;
const { md, svg } = renderResults(data);
const base = file.slice(0, -'.json'.length);
await fs.writeFile(`${base}.md`, md);
await fs.writeFile(`${base}.svg`, svg);
if (process.argv.includes('--chart')) await fs.copyFile(`${base}.svg`, fileURLToPath(new URL('../../docs/bench.svg', import.meta.url)));
console.log(`written: ${base}.md and .svg${process.argv.includes('--chart') ? '; docs/bench.svg' : ''}`);
