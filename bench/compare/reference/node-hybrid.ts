// Half of node-raw.ts, as a benchmark reference (not part of Turnout): Node's
// http.Server in front, node-raw's lean llhttp backend client behind (no
// undici). Next to the minimal Node proxy (http.Server + undici) and node-raw
// (neither), it shows which side of a Node proxy holds its cost. Same limits
// as node-raw.ts.
//
//   node_modules/.bin/node bench/compare/reference/node-hybrid.ts PORT BACKEND_PORT
import http from 'node:http';
import net from 'node:net';
import { ERROR, Parser } from '../../../proxy/http1/llhttp.ts';
import { HOP } from './hop.ts';

const [port, backendPort] = process.argv.slice(2).map(Number);
if (!port || !backendPort) throw new Error('usage: node-hybrid.ts PORT BACKEND_PORT');

interface Upstream { socket: net.Socket; res?: http.ServerResponse }
const idle: Upstream[] = [];

/** An idle pooled backend connection, or a new one with its response parser. */
function upstream(): Upstream {
  const pooled = idle.pop();
  if (pooled) return pooled;
  const up: Upstream = { socket: net.connect({ port: backendPort!, host: '127.0.0.1', noDelay: true }) };
  let headers: string[] = [];
  const p: Parser = new Parser('response', {
    onMessageBegin() {},
    onUrl() {},
    onTrailer() {},
    onHeader(name, value) { const n = name.toLowerCase(); if (!HOP.has(n)) headers.push(n, value); },
    onHeadersComplete() { up.res!.writeHead(p.status(), headers); headers = []; return 0; },
    onBody(chunk) { up.res!.write(chunk); },
    onMessageComplete() { const res = up.res!; up.res = undefined; idle.push(up); res.end(); return 0; },
  }, 16 * 1024);
  up.socket.on('data', (d: Buffer) => { if (p.execute(d) !== ERROR.OK) up.socket.destroy(); });
  up.socket.on('error', () => up.res?.destroy());
  up.socket.on('close', () => { p.free(); const i = idle.indexOf(up); if (i >= 0) idle.splice(i, 1); });
  return up;
}

http.createServer((req, res) => {
  let head = `${req.method} ${req.url} HTTP/1.1\r\nhost: ${req.headers.host}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if (!HOP.has(raw[i]!.toLowerCase())) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  head += `x-forwarded-for: ${req.socket.remoteAddress}\r\nx-forwarded-proto: http\r\n\r\n`;
  const up = upstream();
  up.res = res;
  up.socket.write(head);
}).listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
