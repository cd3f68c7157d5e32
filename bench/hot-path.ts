// Per-request cost of Turnout's own steps on the request path (not a test),
// in one process without sockets: decide() (target parsing, Host check,
// forwarding headers, table.match, endpoint pick) and downstreamHeaders()
// (the response header list relayed to the client). Both run once per proxied
// request; the rest of a request's CPU is Node's HTTP server, undici and the
// kernel (docs/performance.md, "The request hot path").
//
//   node_modules/.bin/node bench/hot-path.ts
//
// Inputs are what `wrk` and the backend nginx of `npm run bench` send: a GET
// with only a Host header, and nginx's five response headers. Figures are ns
// per call, median of 7 runs of 300k.
import type { IncomingMessage } from 'node:http';
import { sealSnapshot } from '../api/version.ts';
import { decide } from '../proxy/decide.ts';
import { downstreamHeaders } from '../proxy/response-headers.ts';
import { buildTable } from '../proxy/routing/table.ts';
import { cluster, content, route, vhost } from '../proxy/testkit.ts';
import { UpstreamPools } from '../proxy/upstream/pools.ts';

const RUNS = 7;
const N = 300_000;

const pools = new UpstreamPools();
const table = buildTable(sealSnapshot(content({ virtualHosts: { '*': vhost([route('Prefix', '/', 'c')]) }, clusters: { c: cluster(9999) } })), undefined, { pools });
const socket = { remoteAddress: '127.0.0.1', localPort: 8080, localAddress: '127.0.0.1' };
const requests = ['/', '/api/v1/users?page=2', '/static/app.js'].map((url) => ({
  url, method: 'GET', httpVersionMajor: 1, socket,
  rawHeaders: ['Host', '127.0.0.1:8080'], headers: { host: '127.0.0.1:8080' },
}) as unknown as IncomingMessage);
const nginxHeaders = { server: 'nginx/1.22.1', date: 'Thu, 26 Nov 2026 00:30:00 GMT', 'content-type': 'text/plain', 'content-length': '13', connection: 'keep-alive' };

function bench(name: string, f: (i: number) => unknown): void {
  const times: number[] = [];
  let sink = 0;
  for (let r = 0; r < RUNS; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < N; i++) if (f(i)) sink++;
    times.push(Number(process.hrtime.bigint() - t) / N);
  }
  if (sink === 0) throw new Error(`${name} returned nothing`);
  times.sort((a, b) => a - b);
  console.log(`  ${name.padEnd(20)} ${times[RUNS >> 1]!.toFixed(0).padStart(5)} ns`);
}

console.log(`Turnout's own per-request steps, ns per call, median of ${RUNS} × ${N.toLocaleString('en')}`);
bench('decide', (i) => decide(table, requests[i % 3]!, 'http').kind === 'forward');
bench('downstreamHeaders', () => downstreamHeaders(nginxHeaders).length);
table.retire();
await pools.close();
