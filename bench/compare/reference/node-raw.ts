// A net-level Node proxy, as a benchmark reference (not part of Turnout): both
// sides parsed by llhttp (Turnout's binding, proxy/http1/llhttp.ts, which the
// net engine grew out of this prototype), request and response heads rebuilt as
// strings (hop-by-hop fields dropped, X-Forwarded-For/Proto added), backend
// connections pooled, no node:http and no undici dispatcher. It answers
// "would dropping Node's HTTP machinery for our own get near nginx?" with a
// figure. Limits: bodiless requests and Content-Length responses only, no
// timeouts, no limits.
//
//   node_modules/.bin/node bench/compare/reference/node-raw.ts PORT BACKEND_PORT
import net from 'node:net';
import { ERROR, Parser } from '../../../proxy/http1/llhttp.ts';
import { HOP } from './hop.ts';

const [port, backendPort] = process.argv.slice(2).map(Number);
if (!port || !backendPort) throw new Error('usage: node-raw.ts PORT BACKEND_PORT');

interface Upstream { socket: net.Socket; client?: Downstream }
interface Downstream { socket: net.Socket; next(): void }
const idle: Upstream[] = [];

/** An idle pooled backend connection, or a new one with its response parser. */
function upstream(): Upstream {
  const pooled = idle.pop();
  if (pooled) return pooled;
  const up: Upstream = { socket: net.connect({ port: backendPort!, host: '127.0.0.1', noDelay: true }) };
  let head = '';
  const p: Parser = new Parser('response', {
    onMessageBegin() {},
    onUrl() {},
    onTrailer() {},
    onHeader(name, value) { const n = name.toLowerCase(); if (!HOP.has(n)) head += `${n}: ${value}\r\n`; },
    onHeadersComplete() { up.client!.socket.cork(); up.client!.socket.write(`HTTP/1.1 ${p.status()} OK\r\n${head}\r\n`); head = ''; return 0; },
    onBody(chunk) { up.client!.socket.write(chunk); },
    onMessageComplete() { const c = up.client!; c.socket.uncork(); up.client = undefined; idle.push(up); c.next(); return 0; },
  }, 16 * 1024);
  up.socket.on('data', (d: Buffer) => { if (p.execute(d) !== ERROR.OK) up.socket.destroy(); });
  up.socket.on('error', () => up.client?.socket.destroy());
  up.socket.on('close', () => { p.free(); const i = idle.indexOf(up); if (i >= 0) idle.splice(i, 1); });
  return up;
}

net.createServer({ noDelay: true }, (socket) => {
  const queue: string[] = [];
  let busy = false;
  let url = '', head = '', host = '';
  const send = (h: string) => { busy = true; const up = upstream(); up.client = down; up.socket.write(h); };
  const down: Downstream = { socket, next() { busy = false; const h = queue.shift(); if (h !== undefined) send(h); } };
  const p: Parser = new Parser('request', {
    onMessageBegin() {},
    onUrl(u) { url = u; },
    onTrailer() {},
    onHeader(name, value) { const n = name.toLowerCase(); if (n === 'host') host = value; else if (!HOP.has(n)) head += `${n}: ${value}\r\n`; },
    onHeadersComplete() {
      const h = `${p.method()} ${url} HTTP/1.1\r\nhost: ${host}\r\n${head}x-forwarded-for: ${socket.remoteAddress}\r\nx-forwarded-proto: http\r\n\r\n`;
      head = '';
      if (busy) queue.push(h); else send(h);
      return 0;
    },
    onBody() { socket.destroy(); },
    onMessageComplete() { return 0; },
  }, 16 * 1024);
  socket.on('data', (d: Buffer) => { if (p.execute(d) !== ERROR.OK) socket.destroy(); });
  socket.on('error', () => {});
  socket.on('close', () => p.free());
}).listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
