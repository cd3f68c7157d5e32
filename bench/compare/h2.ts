// Scenario 1b: HTTP/2 keep-alive over TLS (ALPN h2) with h2load, through
// nginx (`listen ssl http2`), HAProxy (`bind ssl crt … alpn h2,http/1.1`) and
// Turnout's https listener (an Ingress with `tls:` and a kubernetes.io/tls
// Secret). Same certificate for all three; the upstream stays HTTP/1.1
// keep-alive to the backend. No direct-to-backend row (the backend is h1).
import { fmt, LABEL, load, workersFor, type Ctx, type Proxy, type Report, type ScenarioOutput } from './context.ts';
import { TLS_HOST } from './configs.ts';
import { measureGroup, type RoundRuns } from './rounds.ts';
import { runH2load, type H2Result } from './h2load.ts';
import { median } from './report.ts';
import { startH2Reference } from './reference.ts';
import { makeCert, type Target } from './servers.ts';
import path from 'node:path';

/** h2load's load shape: 10 connections × 10 concurrent streams (100 requests in flight, wrk's -c50 doubled by multiplexing). */
export const H2_CLIENTS = 10;
/** Concurrent streams per connection. */
export const H2_STREAMS = 10;

/** One proxy's scenario-1b result: the runs and their medians. */
export interface H2Row {
  target: string;
  /** 'reference': Node's http2 server alone (reference.ts), shown for scale, never judged. */
  kind: Proxy | 'reference';
  workers: number;
  runs: H2Result[];
  rps: number;
  p50: number;
  p99: number;
  failed: number;
  /** CPU µs per request of the proxy's process group over the runs. */
  cpuUsPerReq: number;
  /** Measured in rounds with the scenario's other servers (rounds.ts). */
  inRounds?: boolean;
}

/** The command line shown in the report (the port differs per proxy). */
export function h2Line(seconds: number, warmup: number): string {
  return `h2load -t1 -c${H2_CLIENTS} -m${H2_STREAMS} -D${seconds} --warm-up-time=${warmup} --connect-to=127.0.0.1:PORT https://${TLS_HOST}/`;
}

/** Scenario 1b's Markdown section. */
export function h2Markdown(rows: readonly H2Row[], line: string): string {
  const nginx = (w: number) => rows.find((r) => r.kind === 'nginx' && r.workers === w)?.rps;
  const haproxy = (w: number) => rows.find((r) => r.kind === 'haproxy' && r.workers === w)?.rps;
  const lines = [`## 1b. Keep-alive throughput, HTTP/2 over TLS (\`${line}\`, median of the runs${rows.some((r) => r.inRounds) ? '; servers measured in rounds' : ''})`, '',
    '| target | workers | req/s | vs nginx | vs HAProxy | p50 ms | p99 ms | CPU µs/req | failed | runs (req/s) |', '|---|---|---|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    const w = Math.max(1, r.workers);
    lines.push(`| ${r.target} | ${r.workers} | ${fmt.int(r.rps)} | ${fmt.ratio(r.rps, nginx(w))} | ${fmt.ratio(r.rps, haproxy(w))} | ${fmt.ms(r.p50)} | ${fmt.ms(r.p99)} | ${fmt.us(r.cpuUsPerReq)} | ${r.failed} | ${r.runs.map((x) => fmt.int(x.rps)).join(', ')} |`);
  }
  return lines.join('\n') + '\n';
}

/** Scenario 1b's row of one target from its h2load runs (in round order, each with its own warm-up) and their CPU. */
function h2Row(t: Target, kind: H2Row['kind'], workers: number, { runs, cpuMs }: RoundRuns<H2Result>, timing: { seconds: number; warmup: number }): H2Row {
  const r: H2Row = {
    target: t.name, kind, workers, runs, rps: median(runs.map((x) => x.rps)),
    p50: median(runs.map((x) => x.p50)), p99: median(runs.map((x) => x.p99)), failed: runs.reduce((s, x) => s + x.failed, 0),
    // The warm-up's requests are not counted by h2load but its CPU is: scale to the measured share of the time.
    cpuUsPerReq: cpuMs * 1000 * (timing.seconds / (timing.seconds + timing.warmup)) / runs.reduce((s, x) => s + x.requests, 0),
    inRounds: true,
  };
  console.log(`  ${t.name}: ${Math.round(r.rps)} req/s (runs ${runs.map((x) => Math.round(x.rps)).join(', ')}), p50 ${fmt.ms(r.p50)} ms, p99 ${fmt.ms(r.p99)} ms, ${fmt.us(r.cpuUsPerReq)} µs CPU/req, failed ${r.failed}`);
  return r;
}

/** Runs scenario 1b: the two Node references (with Turnout) and every proxy, measured in rounds per worker count (rounds.ts). */
export async function http2(ctx: Ctx): Promise<ScenarioOutput<H2Row>> {
  const { timing } = ctx;
  const line = h2Line(timing.seconds, timing.warmup);
  console.log(`scenario 1b: HTTP/2 over TLS (${line}, median of ${timing.reps} rounds) [${load()}]`);
  const cert = await makeCert(path.join(ctx.tmp, 'cert'));
  const rows: H2Row[] = [];
  for (const w of ctx.workers) {
    const measured = await measureGroup<H2Row['kind'], H2Result>(ctx, async (push) => {
      // Node's http2 server answering by itself, through each API: the runtime's HTTP/2 ceiling next to Turnout.
      if (w === ctx.workers[0] && ctx.proxies.includes('turnout')) {
        for (const api of ['compat', 'stream'] as const) push({ t: await ctx.track(startH2Reference(api, cert)), kind: 'reference', workers: 1 });
      }
      for (const kind of ctx.proxies) {
        const workers = workersFor(ctx, kind, w);
        push({ t: await ctx.start(kind, workers, { cert }), kind, workers });
      }
    }, timing.reps,
    // Every h2load run has its own warm-up (--warm-up-time): nothing to warm apart.
    async () => {},
    (t) => runH2load({ url: `https://${TLS_HOST}/`, connectTo: `127.0.0.1:${t.tlsPort}`, clients: H2_CLIENTS, streams: H2_STREAMS, seconds: timing.seconds, warmup: timing.warmup }));
    for (const m of measured) rows.push(h2Row(m.t, m.kind, m.workers, m, timing));
  }
  return { id: 'http2', rows, ...h2Report(rows, timing) };
}

/** Scenario 1b's goals, section and bars from its rows (pure: also used to re-render a results file). */
export function h2Report(rows: readonly H2Row[], timing: { seconds: number; warmup: number }): Report {
  const values: Partial<Record<Proxy, number>> = {};
  for (const r of rows) if (r.workers <= 1 && r.kind !== 'reference') values[r.kind] = r.rps;
  const tn = rows.find((r) => r.kind === 'turnout' && r.workers <= 1);
  const ng = rows.find((r) => r.kind === 'nginx' && r.workers === 1);
  const goals = tn && ng ? [{
    metric: 'HTTP/2 keep-alive req/s, 1 worker each (scenario 1b; same bar as HTTP/1.1)', goal: '≥ 0.8× nginx (milestone ≥ 0.5×)',
    measured: `${(tn.rps / ng.rps).toFixed(2)}× (${LABEL.turnout} ${fmt.int(tn.rps)} vs nginx ${fmt.int(ng.rps)})`,
    pass: tn.rps / ng.rps >= 0.8, note: tn.failed > 0 ? `${tn.failed} failed requests` : undefined,
  }] : [];
  return { goals, markdown: h2Markdown(rows, h2Line(timing.seconds, timing.warmup)), bars: [{ label: 'HTTP/2 over TLS', values }] };
}
