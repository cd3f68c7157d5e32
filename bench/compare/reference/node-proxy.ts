// The floor of the runtime, as a benchmark reference (not part of Turnout):
// the least a Node 24 reverse proxy on undici can do per request. One
// http.Server, one undici Pool to one backend, `dispatch` with a handler
// object, hop-by-hop Connection/Keep-Alive dropped and nothing else: no
// routing, no forwarding headers, no timeouts, no limits, no retries. Issue 8
// measured such a proxy at 22k req/s against nginx's 51–59k on this kind of
// machine; running it in the same run as Turnout shows how much of the gap to
// nginx is Node's HTTP stack rather than Turnout's own work.
//
//   node_modules/.bin/node bench/compare/reference/node-proxy.ts PORT BACKEND_PORT
import http from 'node:http';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';

const [port, backendPort] = process.argv.slice(2).map(Number);
if (!port || !backendPort) throw new Error('usage: node-proxy.ts PORT BACKEND_PORT');
const pool = new Pool(`http://127.0.0.1:${backendPort}`, { connections: 128, pipelining: 1 });
const HOP = new Set(['connection', 'keep-alive']);

http.createServer((req, res) => {
  const headers: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (!HOP.has(req.rawHeaders[i]!.toLowerCase())) headers.push(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  }
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart() {},
    onResponseStart(_c, status, parsed) {
      const out: string[] = [];
      for (const name in parsed) {
        const v = parsed[name];
        if (v === undefined || HOP.has(name)) continue;
        if (typeof v === 'string') out.push(name, v);
        else for (const one of v) out.push(name, one);
      }
      res.writeHead(status, out);
    },
    onResponseData(_c, chunk) { res.write(chunk); },
    onResponseEnd() { res.end(); },
    onResponseError() { res.destroy(); },
  };
  pool.dispatch({ path: req.url ?? '/', method: req.method ?? 'GET', headers, body: req.method === 'GET' || req.method === 'HEAD' ? null : req }, handler);
}).listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
