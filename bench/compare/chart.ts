// The README chart: grouped bars per scenario for nginx, HAProxy and Turnout
// (req/s; failed requests through changes), panels stacked into one
// hand-written SVG (no charting dependency). Its own background
// and a prefers-color-scheme rule keep it readable on GitHub's light and dark
// themes (an SVG shown through <img> follows the viewer's scheme).
import { LABEL, PROXIES, type Bars } from './context.ts';

/** Bar colours per proxy (green / blue / orange): distinct on light and dark backgrounds. */
export const COLORS: Record<(typeof PROXIES)[number], string> = { nginx: '#2f9e6e', haproxy: '#4a7fd4', turnout: '#e8833a' };

/** XML-escapes text for an SVG element. */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A round axis maximum ≥ `x`: 1, 2, 2.5 or 5 × 10^k. */
export function niceMax(x: number): number {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

/** A short label for req/s: 51,253 → "51.3k", 950 → "950". */
export function short(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(1)}M`;
  if (x >= 1e4) return `${Math.round(x / 1000)}k`;
  if (x >= 1e3) return `${(x / 1000).toFixed(1)}k`;
  return String(Math.round(x));
}

/** What a panel's y axis shows; the default is req/s. */
export interface Axis {
  /** The axis title. */
  readonly label: string;
  /** The unit in a bar's tooltip. */
  readonly unit: string;
}

const REQ_PER_S: Axis = { label: 'requests per second (higher is better)', unit: 'req/s' };

/** Chart size: panels are this wide and high, stacked by `stack`. */
export const W = 820;
export const H = 400;

/**
 * The axis maximum for `values`: round and above all of them, except that one
 * value more than 4× all the others is drawn cut at the top (labelled with its
 * value) so the others stay readable.
 */
export function axisMax(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => b - a);
  if (v.length >= 2 && v[1]! > 0 && v[0]! > 4 * v[1]!) return niceMax(v[1]! * 1.5);
  return niceMax(Math.max(1, v[0] ?? 1));
}

/** One panel: a group of bars per entry of `groups`, y axis from 0 (req/s unless `axis` says otherwise). */
export function barChart(groups: readonly Bars[], title: string, subtitle = '', axis: Axis = REQ_PER_S): string {
  const left = 72, right = 16, top = 78, bottom = 56;
  const plotW = W - left - right, plotH = H - top - bottom;
  const max = axisMax(groups.flatMap((g) => Object.values(g.values)));
  const y = (v: number) => top + plotH - (v / max) * plotH;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">`,
    '<style>',
    'text { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; fill: #24292f; }',
    '.bg { fill: #ffffff; } .grid { stroke: #d8dee4; } .axis { stroke: #57606a; } .muted { fill: #57606a; }',
    '@media (prefers-color-scheme: dark) { text { fill: #e6edf3; } .bg { fill: #0d1117; } .grid { stroke: #30363d; } .axis { stroke: #8b949e; } .muted { fill: #9198a1; } }',
    '</style>',
    `<rect class="bg" x="0" y="0" width="${W}" height="${H}" rx="8"/>`,
    `<text x="${left}" y="26" font-size="17" font-weight="600">${esc(title)}</text>`);
  if (subtitle) out.push(`<text class="muted" x="${left}" y="46" font-size="12">${esc(subtitle)}</text>`);
  // Legend, top right.
  let lx = W - right - PROXIES.length * 104;
  for (const p of PROXIES) {
    out.push(`<rect x="${lx}" y="56" width="12" height="12" rx="2" fill="${COLORS[p]}"/>`, `<text x="${lx + 18}" y="66.5" font-size="13">${LABEL[p]}</text>`);
    lx += 104;
  }
  for (let i = 0; i <= 5; i++) {
    const v = (max / 5) * i;
    out.push(`<line class="grid" x1="${left}" x2="${W - right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke-width="1"/>`,
      `<text class="muted" x="${left - 8}" y="${(y(v) + 4).toFixed(1)}" font-size="12" text-anchor="end">${short(v)}</text>`);
  }
  out.push(`<text class="muted" transform="translate(18 ${top + plotH / 2}) rotate(-90)" font-size="12" text-anchor="middle">${esc(axis.label)}</text>`);
  const gw = plotW / Math.max(1, groups.length);
  const bw = Math.min(46, (gw * 0.8) / PROXIES.length);
  groups.forEach((g, gi) => {
    const x0 = left + gi * gw + (gw - bw * PROXIES.length) / 2;
    PROXIES.forEach((p, pi) => {
      const v = g.values[p];
      const x = x0 + pi * bw;
      if (v === undefined || !Number.isFinite(v)) {
        out.push(`<text class="muted" x="${(x + bw / 2).toFixed(1)}" y="${top + plotH - 4}" font-size="10" text-anchor="middle">n/a</text>`);
        return;
      }
      // A value above the axis is cut at the top and labelled inside the bar, with an arrow.
      const cut = v > max;
      const yv = y(Math.min(v, max));
      out.push(`<rect x="${(x + 2).toFixed(1)}" y="${yv.toFixed(1)}" width="${(bw - 4).toFixed(1)}" height="${(top + plotH - yv).toFixed(1)}" fill="${COLORS[p]}"><title>${esc(`${LABEL[p]}, ${g.label}: ${Math.round(v).toLocaleString('en-US')} ${axis.unit}`)}</title></rect>`,
        cut ? `<text x="${(x + bw / 2).toFixed(1)}" y="${(yv + 16).toFixed(1)}" font-size="10.5" font-weight="600" text-anchor="middle" style="fill: #ffffff">↑ ${short(v)}</text>`
          : `<text x="${(x + bw / 2).toFixed(1)}" y="${(yv - 4).toFixed(1)}" font-size="10.5" text-anchor="middle">${short(v)}</text>`);
    });
    // A label may have a second line ("\n"), drawn under the first.
    const lx = (left + gi * gw + gw / 2).toFixed(1);
    const lines = g.label.split('\n').map((l, i) => `<tspan x="${lx}" dy="${i === 0 ? 0 : 15}">${esc(l)}</tspan>`).join('');
    out.push(`<text x="${lx}" y="${top + plotH + 20}" font-size="12.5" text-anchor="middle">${lines}</text>`);
  });
  out.push(`<line class="axis" x1="${left}" x2="${W - right}" y1="${top + plotH}" y2="${top + plotH}" stroke-width="1"/>`, '</svg>');
  return out.join('\n') + '\n';
}

/** Panels (each a `barChart`) one under the other in one SVG: the README embeds one image. */
export function stack(panels: readonly string[]): string {
  const inner = panels.map((p, i) => p.replace('<svg xmlns="http://www.w3.org/2000/svg"', `<svg y="${i * (H + 12)}"`));
  const height = panels.length * H + (panels.length - 1) * 12;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}">\n${inner.join('')}</svg>\n`;
}
