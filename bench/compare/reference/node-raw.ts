// A net-level Node proxy, as a benchmark reference (not part of Turnout): both
// sides parsed by llhttp (undici's WebAssembly build, the parser undici itself
// uses), request and response heads rebuilt as strings (hop-by-hop fields
// dropped, X-Forwarded-For/Proto added), backend connections pooled, no
// node:http and no undici dispatcher. It answers "would dropping Node's HTTP
// machinery for our own reach nginx's speed?" with a figure. Limits: bodiless
// requests and Content-Length responses only, no timeouts, no limits.
//
//   node_modules/.bin/node bench/compare/reference/node-raw.ts PORT BACKEND_PORT
import { createRequire } from 'node:module';
import net from 'node:net';

const [port, backendPort] = process.argv.slice(2).map(Number);
if (!port || !backendPort) throw new Error('usage: node-raw.ts PORT BACKEND_PORT');
const require = createRequire(import.meta.url);
const wasm = require('undici/lib/llhttp/llhttp_simd-wasm.js') as Buffer<ArrayBuffer>;

/** One parser's callbacks; `at` is an address in wasm memory. */
interface Callbacks {
  url(at: number, len: number): void;
  field(at: number, len: number): void;
  value(at: number, len: number): void;
  head(status: number): void;
  body(at: number, len: number): void;
  done(): void;
}
const parsers = new Map<number, Callbacks>();
let view = Buffer.alloc(0);
let viewAt = 0;
const text = (at: number, len: number) => view.toString('latin1', at - viewAt, at - viewAt + len);
const instance = new WebAssembly.Instance(new WebAssembly.Module(wasm), {
  env: {
    wasm_on_url: (p: number, at: number, len: number) => { parsers.get(p)!.url(at, len); return 0; },
    wasm_on_status: () => 0,
    wasm_on_message_begin: () => 0,
    wasm_on_header_field: (p: number, at: number, len: number) => { parsers.get(p)!.field(at, len); return 0; },
    wasm_on_header_value: (p: number, at: number, len: number) => { parsers.get(p)!.value(at, len); return 0; },
    wasm_on_headers_complete: (p: number, status: number) => { parsers.get(p)!.head(status); return 0; },
    wasm_on_body: (p: number, at: number, len: number) => { parsers.get(p)!.body(at, len); return 0; },
    wasm_on_message_complete: (p: number) => { parsers.get(p)!.done(); return 0; },
  },
});
const ll = instance.exports as Record<string, (...a: number[]) => number> & { memory: WebAssembly.Memory };
const REQUEST = 1;
const RESPONSE = 2;
let buf = 0;
let bufSize = 0;

/** Feeds one chunk to parser `ptr`; false on a parse error. */
function feed(ptr: number, chunk: Buffer): boolean {
  if (chunk.length > bufSize) {
    if (buf) ll.free!(buf);
    bufSize = Math.ceil(chunk.length / 4096) * 4096;
    buf = ll.malloc!(bufSize);
  }
  view = Buffer.from(ll.memory.buffer, buf, chunk.length);
  viewAt = buf;
  chunk.copy(view);
  return ll.llhttp_execute!(ptr, buf, chunk.length) === 0;
}

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);
const METHODS: Record<number, string> = { 0: 'DELETE', 1: 'GET', 2: 'HEAD', 3: 'POST', 4: 'PUT' };

interface Upstream { socket: net.Socket; client?: Downstream }
interface Downstream { socket: net.Socket; next(): void }
const idle: Upstream[] = [];

/** An idle pooled backend connection, or a new one with its response parser. */
function upstream(): Upstream {
  const pooled = idle.pop();
  if (pooled) return pooled;
  const up: Upstream = { socket: net.connect({ port: backendPort!, host: '127.0.0.1', noDelay: true }) };
  const ptr = ll.llhttp_alloc!(RESPONSE);
  let head = '';
  let name = '';
  parsers.set(ptr, {
    url() {},
    field(at, len) { name = text(at, len).toLowerCase(); },
    value(at, len) { if (!HOP.has(name)) head += `${name}: ${text(at, len)}\r\n`; },
    head(status) { up.client!.socket.cork(); up.client!.socket.write(`HTTP/1.1 ${status} OK\r\n${head}\r\n`); head = ''; },
    body(at, len) { up.client!.socket.write(Buffer.from(view.subarray(at - viewAt, at - viewAt + len))); },
    done() { const c = up.client!; c.socket.uncork(); up.client = undefined; idle.push(up); c.next(); },
  });
  up.socket.on('data', (d) => { if (!feed(ptr, d)) up.socket.destroy(); });
  up.socket.on('error', () => up.client?.socket.destroy());
  up.socket.on('close', () => { parsers.delete(ptr); ll.llhttp_free!(ptr); const i = idle.indexOf(up); if (i >= 0) idle.splice(i, 1); });
  return up;
}

net.createServer({ noDelay: true }, (socket) => {
  const ptr = ll.llhttp_alloc!(REQUEST);
  const queue: string[] = [];
  let busy = false;
  let url = '', name = '', head = '', host = '';
  const send = (h: string) => { busy = true; const up = upstream(); up.client = down; up.socket.write(h); };
  const down: Downstream = { socket, next() { busy = false; const h = queue.shift(); if (h !== undefined) send(h); } };
  parsers.set(ptr, {
    url(at, len) { url = text(at, len); },
    field(at, len) { name = text(at, len).toLowerCase(); },
    value(at, len) { const v = text(at, len); if (name === 'host') host = v; else if (!HOP.has(name)) head += `${name}: ${v}\r\n`; },
    head() {
      const method = METHODS[ll.llhttp_get_method!(ptr)] ?? 'GET';
      const h = `${method} ${url} HTTP/1.1\r\nhost: ${host}\r\n${head}x-forwarded-for: ${socket.remoteAddress}\r\nx-forwarded-proto: http\r\n\r\n`;
      head = '';
      if (busy) queue.push(h); else send(h);
    },
    body() { socket.destroy(); },
    done() {},
  });
  socket.on('data', (d) => { if (!feed(ptr, d)) socket.destroy(); });
  socket.on('error', () => {});
  socket.on('close', () => { parsers.delete(ptr); ll.llhttp_free!(ptr); });
}).listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
