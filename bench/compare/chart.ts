// The README chart: grouped bars of req/s per scenario for nginx, HAProxy and
// Turnout, as a hand-written SVG (no charting dependency). Its own background
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

/** The SVG: one group of bars per entry of `groups`, y axis in req/s from 0. */
export function barChart(groups: readonly Bars[], title: string, subtitle = ''): string {
  const W = 820, H = 400, left = 72, right = 16, top = 78, bottom = 56;
  const plotW = W - left - right, plotH = H - top - bottom;
  const max = niceMax(Math.max(1, ...groups.flatMap((g) => Object.values(g.values).filter((v): v is number => Number.isFinite(v)))));
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
  out.push(`<text class="muted" transform="translate(18 ${top + plotH / 2}) rotate(-90)" font-size="12" text-anchor="middle">requests per second (higher is better)</text>`);
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
      out.push(`<rect x="${(x + 2).toFixed(1)}" y="${y(v).toFixed(1)}" width="${(bw - 4).toFixed(1)}" height="${(top + plotH - y(v)).toFixed(1)}" fill="${COLORS[p]}"><title>${esc(`${LABEL[p]}, ${g.label}: ${Math.round(v).toLocaleString('en-US')} req/s`)}</title></rect>`,
        `<text x="${(x + bw / 2).toFixed(1)}" y="${(y(v) - 4).toFixed(1)}" font-size="10.5" text-anchor="middle">${short(v)}</text>`);
    });
    out.push(`<text x="${(left + gi * gw + gw / 2).toFixed(1)}" y="${top + plotH + 20}" font-size="12.5" text-anchor="middle">${esc(g.label)}</text>`);
  });
  out.push(`<line class="axis" x1="${left}" x2="${W - right}" y1="${top + plotH}" y2="${top + plotH}" stroke-width="1"/>`, '</svg>');
  return out.join('\n') + '\n';
}
