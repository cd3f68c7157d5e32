// Per-request routing cost (not a test): RoutingTable.match with 1, 1,000 and
// 10,000 routes, the work the forwarder does per request between parsing the
// target and picking an endpoint.
//
//   node_modules/.bin/node bench/routing.ts
//
// Routes are spread five per virtual host (`app-<i>.bench.example.com`), as a
// fleet of small services would be. Two shapes:
// - ingress: Prefix "/", Exact "/healthz", Prefix "/api", Prefix
//   "/api/v1/users", Prefix "/static" (Exact and Prefix only);
// - route:   Prefix "/", Prefix "/api" with header x-canary: 1, Prefix "/api",
//   RegularExpression "/api/v[0-9]+/users/[0-9]+", Exact "/healthz" with
//   method GET (the Route CRD's features: one pattern scanned per request to a
//   host, conditions checked on the candidates).
// With one route, the single host has the first route of the shape.
// Requests cycle over 4,096 precomputed (host, path, method, headers, query)
// tuples: known hosts with ports, 5 % unknown hosts (to the "*" host), paths
// from "/" to five segments, some with a query and some with x-canary. The
// path is already normalised (parseRequestTarget is not timed). Figures are
// ns per match, median of RUNS runs.
import type { IncomingHttpHeaders } from 'node:http';
import { routeKey } from '../api/snapshot.ts';
import type { Route, RouteMatch, VirtualHost } from '../api/snapshot.ts';
import { sealSnapshot } from '../api/version.ts';
import { ApplyError } from '../proxy/errors.ts';
import { buildTable } from '../proxy/routing/table.ts';
import type { MatchRequest } from '../proxy/routing/match.ts';
import { UpstreamPools } from '../proxy/upstream/pools.ts';
import { cluster, content } from '../proxy/testkit.ts';

const SIZES = [1, 1_000, 10_000];
const PER_HOST = 5;
const RUNS = 7;
const ITERATIONS = 400_000;

const SHAPES: Record<string, RouteMatch[]> = {
  ingress: [
    { type: 'Prefix', path: '/' },
    { type: 'Exact', path: '/healthz' },
    { type: 'Prefix', path: '/api' },
    { type: 'Prefix', path: '/api/v1/users' },
    { type: 'Prefix', path: '/static' },
  ],
  route: [
    { type: 'Prefix', path: '/' },
    { type: 'Prefix', path: '/api', headers: [{ name: 'x-canary', type: 'Exact', value: '1' }] },
    { type: 'Prefix', path: '/api' },
    { type: 'RegularExpression', path: '/api/v[0-9]+/users/[0-9]+' },
    { type: 'Exact', path: '/healthz', method: 'GET' },
  ],
};

const PATHS = ['/', '/healthz', '/api/v1/users/123', '/api/v2/orders/77/items', '/static/js/app.8f3a.js', '/api/v1/users', '/login', '/api/v1/users/123/avatar'];

function hostName(i: number): string {
  return `app-${i}.bench.example.com`;
}

function snapshot(n: number, shape: RouteMatch[]) {
  const hosts = Math.ceil(n / PER_HOST);
  const virtualHosts: Record<string, VirtualHost> = {};
  for (let h = 0, left = n; h < hosts; h++, left -= PER_HOST) {
    const routes: Record<string, Route> = {};
    for (const match of shape.slice(0, Math.min(PER_HOST, left))) {
      routes[routeKey(match.type, match.path, match)] = { match, cluster: `ns/svc-${h}:80`, timeoutMs: 15_000, origin: `Route/ns/r-${h}` };
    }
    virtualHosts[hostName(h)] = { routes };
  }
  virtualHosts['*'] = { routes: { [routeKey('Prefix', '/')]: { match: { type: 'Prefix', path: '/' }, cluster: 'ns/fallback:80', timeoutMs: 15_000, origin: 'Ingress/ns/default' } } };
  const clusters = Object.fromEntries([...Array.from({ length: hosts }, (_, h) => [`ns/svc-${h}:80`, cluster(10_000 + (h % 50_000))]), ['ns/fallback:80', cluster(9_999)]]);
  return sealSnapshot(content({ virtualHosts, clusters }));
}

function requests(hosts: number): Array<{ host: string; path: string; request: MatchRequest }> {
  let seed = 42;
  const rand = (k: number) => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed % k;
  };
  return Array.from({ length: 4096 }, () => {
    const host = rand(20) === 0 ? `unknown-${rand(1000)}.example.org` : `${hostName(rand(hosts))}:443`;
    const path = PATHS[rand(PATHS.length)] as string;
    const headers: IncomingHttpHeaders = { host, 'user-agent': 'bench/1.0', accept: '*/*' };
    if (rand(4) === 0) headers['x-canary'] = '1';
    return { host, path, request: { method: rand(5) === 0 ? 'POST' : 'GET', headers, query: rand(3) === 0 ? '?expand=orders&page=2' : '' } };
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

const pools = new UpstreamPools();
console.log(`RoutingTable.match, ns per request, median of ${RUNS} runs of ${ITERATIONS.toLocaleString('en')}`);
for (const [shapeName, shape] of Object.entries(SHAPES)) {
  for (const n of SIZES) {
    let table;
    try {
      table = buildTable(snapshot(n, shape), undefined, { pools });
    } catch (err) {
      if (!(err instanceof ApplyError)) throw err;
      console.log(`  ${shapeName.padEnd(8)} ${String(n).padStart(6)} routes: refused by this table (${err.message.slice(0, 120)})`);
      continue;
    }
    const reqs = requests(Math.ceil(n / PER_HOST));
    const times: number[] = [];
    let sink = 0;
    for (let run = 0; run < RUNS; run++) {
      const t = process.hrtime.bigint();
      for (let i = 0; i < ITERATIONS; i++) {
        const r = reqs[i & 4095] as (typeof reqs)[number];
        if (table.match(r.host, r.path, r.request) !== undefined) sink++;
      }
      times.push(Number(process.hrtime.bigint() - t) / ITERATIONS);
    }
    if (sink === 0) throw new Error('nothing matched');
    console.log(`  ${shapeName.padEnd(8)} ${String(n).padStart(6)} routes (${String(Math.ceil(n / PER_HOST)).padStart(5)} hosts): ${median(times).toFixed(0).padStart(5)} ns`);
    table.retire();
  }
}
await pools.close();
