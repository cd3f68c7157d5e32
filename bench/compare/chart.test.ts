import assert from 'node:assert/strict';
import { test } from 'node:test';
import { axisMax, barChart, COLORS, esc, H, niceMax, short, stack, W } from './chart.ts';

test('axis maximum is round and not below the data; labels are short', () => {
  assert.equal(niceMax(51_253), 100_000);
  assert.equal(niceMax(117_983), 200_000);
  assert.equal(niceMax(20_001), 25_000);
  assert.equal(niceMax(0), 1);
  assert.equal(short(51_253), '51k');
  assert.equal(short(9_403), '9.4k');
  assert.equal(short(950), '950');
  assert.equal(esc('a < b & "c"'), 'a &lt; b &amp; &quot;c&quot;');
});

test('grouped bars: one bar per proxy and value, n/a for a missing one, a legend, both colour schemes', () => {
  const svg = barChart([
    { label: 'HTTP/1.1 keep-alive', values: { nginx: 51_000, haproxy: 44_000, turnout: 12_000 } },
    { label: '50,000 hosts', values: { nginx: 40_000, haproxy: 41_000 } },
  ], 'req/s <1 worker>', 'sub');
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  for (const c of Object.values(COLORS)) assert.equal(svg.split(`fill="${c}"`).length - 1, c === COLORS.turnout ? 2 : 3, c);
  assert.equal(svg.match(/>n\/a</g)?.length, 1);
  assert.match(svg, /req\/s &lt;1 worker&gt;/);
  assert.match(svg, /prefers-color-scheme: dark/);
  assert.match(svg, /class="bg"/);
  assert.match(svg, />51k</);
  assert.match(svg, /requests per second/);
  // Every bar sits on the baseline: y + height is the same for all bars.
  const bottoms = [...svg.matchAll(/<rect x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)" fill/g)].map((m) => (Number(m[1]) + Number(m[2])).toFixed(0));
  assert.equal(bottoms.length, 5);
  assert.equal(new Set(bottoms).size, 1);
});

test('one value far above the rest is cut at the top of the axis and labelled with its value; others keep a readable scale', () => {
  assert.equal(axisMax([4_898, 431, 0]), 1_000);
  assert.equal(axisMax([5_000, 4_500, 0]), 5_000);
  assert.equal(axisMax([0, 0]), 1);
  const svg = barChart([{ label: '10 changes/s', values: { nginx: 4_898, haproxy: 431, turnout: 0 } }], 't', '', { label: 'failed per million (lower is better)', unit: 'failed per million' });
  assert.match(svg, /↑ 4\.9k/);
  assert.match(svg, />431</);
  assert.match(svg, />0</);
  assert.match(svg, /failed per million \(lower is better\)/);
  assert.match(svg, /nginx, 10 changes\/s: 4,898 failed per million/);
});

test('panels stack into one SVG, each placed below the previous one', () => {
  const a = barChart([{ label: 'x', values: { nginx: 1 } }], 'a');
  const svg = stack([a, a]);
  assert.ok(svg.startsWith(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${2 * H + 12}"`));
  assert.deepEqual([...svg.matchAll(/<svg y="(\d+)"/g)].map((m) => Number(m[1])), [0, H + 12]);
  assert.equal(svg.match(/<\/svg>/g)?.length, 3);
});
