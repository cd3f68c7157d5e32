// llhttp for the net-level reference proxies (node-raw.ts, node-hybrid.ts):
// undici's WebAssembly build of the parser undici itself uses, driven
// directly. Benchmark code only; it reaches into undici's files (pinned).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const wasm = require('undici/lib/llhttp/llhttp_simd-wasm.js') as Buffer<ArrayBuffer>;

/** One parser's callbacks; `at` is an address in wasm memory (see text/bytes). */
export interface Callbacks {
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
let buf = 0;
let bufSize = 0;

/** Hop-by-hop fields (and Host, which the proxies write themselves). */
export const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);
const METHODS: Record<number, string> = { 0: 'DELETE', 1: 'GET', 2: 'HEAD', 3: 'POST', 4: 'PUT' };

/** A new parser of requests or responses calling `cb`; returns its handle. */
export function parser(type: 'request' | 'response', cb: Callbacks): number {
  const ptr = ll.llhttp_alloc!(type === 'request' ? 1 : 2);
  parsers.set(ptr, cb);
  return ptr;
}

/** Frees a parser. */
export function free(ptr: number): void {
  if (parsers.delete(ptr)) ll.llhttp_free!(ptr);
}

/** Feeds one chunk to parser `ptr`, calling back synchronously; false on a parse error. */
export function feed(ptr: number, chunk: Buffer): boolean {
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

/** The text at `at` (inside a callback). */
export const text = (at: number, len: number): string => view.toString('latin1', at - viewAt, at - viewAt + len);
/** A copy of the bytes at `at` (inside a callback). */
export const bytes = (at: number, len: number): Buffer => Buffer.from(view.subarray(at - viewAt, at - viewAt + len));
/** The request method of parser `ptr` (inside `head`). */
export const method = (ptr: number): string => METHODS[ll.llhttp_get_method!(ptr)] ?? 'GET';
