// A net-level Node proxy, as a benchmark reference (not part of Turnout): both
// sides parsed by llhttp (llhttp.ts), request and response heads rebuilt as
// strings (hop-by-hop fields dropped, X-Forwarded-For/Proto added), backend
// connections pooled, no node:http and no undici dispatcher. It answers
// "would dropping Node's HTTP machinery for our own get near nginx?" with a
// figure. Limits: bodiless requests and Content-Length responses only, no
// timeouts, no limits.
//
//   node_modules/.bin/node bench/compare/reference/node-raw.ts PORT BACKEND_PORT
import net from 'node:net';
import { bytes, feed, free, HOP, method, parser, text } from './llhttp.ts';

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
  let name = '';
  const ptr = parser('response', {
    url() {},
    field(at, len) { name = text(at, len).toLowerCase(); },
    value(at, len) { if (!HOP.has(name)) head += `${name}: ${text(at, len)}\r\n`; },
    head(status) { up.client!.socket.cork(); up.client!.socket.write(`HTTP/1.1 ${status} OK\r\n${head}\r\n`); head = ''; },
    body(at, len) { up.client!.socket.write(bytes(at, len)); },
    done() { const c = up.client!; c.socket.uncork(); up.client = undefined; idle.push(up); c.next(); },
  });
  up.socket.on('data', (d) => { if (!feed(ptr, d)) up.socket.destroy(); });
  up.socket.on('error', () => up.client?.socket.destroy());
  up.socket.on('close', () => { free(ptr); const i = idle.indexOf(up); if (i >= 0) idle.splice(i, 1); });
  return up;
}

net.createServer({ noDelay: true }, (socket) => {
  const queue: string[] = [];
  let busy = false;
  let url = '', name = '', head = '', host = '';
  const send = (h: string) => { busy = true; const up = upstream(); up.client = down; up.socket.write(h); };
  const down: Downstream = { socket, next() { busy = false; const h = queue.shift(); if (h !== undefined) send(h); } };
  const ptr = parser('request', {
    url(at, len) { url = text(at, len); },
    field(at, len) { name = text(at, len).toLowerCase(); },
    value(at, len) { const v = text(at, len); if (name === 'host') host = v; else if (!HOP.has(name)) head += `${name}: ${v}\r\n`; },
    head() {
      const h = `${method(ptr)} ${url} HTTP/1.1\r\nhost: ${host}\r\n${head}x-forwarded-for: ${socket.remoteAddress}\r\nx-forwarded-proto: http\r\n\r\n`;
      head = '';
      if (busy) queue.push(h); else send(h);
    },
    body() { socket.destroy(); },
    done() {},
  });
  socket.on('data', (d) => { if (!feed(ptr, d)) socket.destroy(); });
  socket.on('error', () => {});
  socket.on('close', () => free(ptr));
}).listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
