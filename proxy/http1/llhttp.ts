// llhttp, the HTTP/1.1 parser of Node and undici, for the net-level HTTP/1.1
// engine (server.ts) and upstream client: undici's WebAssembly build, driven
// directly. Both sides of the proxy then parse with the same strict state
// machine Node's own server uses (llhttp 9; no lenient flag is ever set, so
// CL+TE, obs-fold, bare LF, bad chunk sizes and bad tokens are errors).
//
// This reaches into undici's files (lib/llhttp/*, undici pinned exactly in
// package-lock.json): the module is not a public export of undici. A bump of
// undici that moves them fails the first test that builds a parser.
//
// One Parser per connection. Callbacks arrive synchronously inside execute(),
// already assembled: a URL, a header name or value split across two reads is
// delivered once, whole. Body chunks are views into the chunk given to
// execute() (no copy): a handler that keeps one past its callback must not
// let the caller reuse that chunk (socket reads never are).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** What a parser reports to; return values follow llhttp (see each). */
export interface ParserHandler {
  /** A message begins. */
  onMessageBegin(): void;
  /** The request target, whole (requests only). */
  onUrl(url: string): void;
  /** One header field, whole, name as sent. */
  onHeader(name: string, value: string): void;
  /**
   * The head is complete. Return 0 to read the body as framed, 1 to read no
   * body (a response to HEAD), 2 for "no body, and stop here" (an upgrade).
   * Any other value is an error (execute() returns ERROR.USER).
   */
  onHeadersComplete(): number;
  /** A piece of the body (chunked framing already removed). */
  onBody(chunk: Buffer): void;
  /** One trailer field of a chunked body, before onMessageComplete. */
  onTrailer(name: string, value: string): void;
  /** The message is complete. Return 0 to go on, or ERROR.PAUSED to stop after it. */
  onMessageComplete(): number;
}

/** llhttp's error numbers the engine acts on (llhttp's full list: undici/lib/llhttp/constants.js). */
export const ERROR = {
  OK: 0,
  /** A callback refused: the head grew past the limit (headerOverflow), or a handler said no. */
  USER: 24,
  PAUSED: 21,
  PAUSED_UPGRADE: 22,
  PAUSED_H2_UPGRADE: 23,
  CB_HEADERS_COMPLETE: 17,
} as const;

/** Parser types. */
const TYPE = { request: 1, response: 2 } as const;

// Method numbers to names, llhttp's table (constants.js METHODS).
const METHOD_NAMES: string[] = (() => {
  const methods = (require('undici/lib/llhttp/constants.js') as { METHODS: Record<string, number> }).METHODS;
  const out: string[] = [];
  for (const [name, n] of Object.entries(methods)) out[n] = name;
  return out;
})();

interface Exports {
  memory: WebAssembly.Memory;
  malloc(size: number): number;
  free(ptr: number): void;
  llhttp_alloc(type: number): number;
  llhttp_free(ptr: number): void;
  llhttp_execute(ptr: number, data: number, len: number): number;
  llhttp_finish(ptr: number): number;
  llhttp_resume(ptr: number): void;
  llhttp_resume_after_upgrade(ptr: number): void;
  llhttp_reset(ptr: number): void;
  llhttp_get_errno(ptr: number): number;
  llhttp_get_error_reason(ptr: number): number;
  llhttp_get_error_pos(ptr: number): number;
  llhttp_get_method(ptr: number): number;
  llhttp_get_status_code(ptr: number): number;
  llhttp_get_http_major(ptr: number): number;
  llhttp_get_http_minor(ptr: number): number;
  llhttp_get_upgrade(ptr: number): number;
  llhttp_should_keep_alive(ptr: number): number;
  llhttp_message_needs_eof(ptr: number): number;
}

// The parser running execute() now (callbacks are synchronous, one at a time)
// and where its chunk sits in wasm memory.
let current: Parser | undefined;
// The empty chunk: what chunkRef and RawHead.chunk hold outside execute().
const EMPTY = Buffer.alloc(0);
let chunkRef: Buffer = EMPTY;
let chunkAt = 0;

// The wasm memory as bytes (replaced when the memory grows: the old one is
// then detached and reads as empty). Spans are read from it by their
// absolute offset: plain Uint8Array loads, no Buffer method.
let mem = new Uint8Array(0);

function span(at: number, len: number): string {
  const start = at - chunkAt;
  return chunkRef.toString('latin1', start, start + len);
}

// Header names, and short values and targets: the same few dozen arrive in
// every message ("Host", "keep-alive", "/", "text/plain"). A span whose bytes
// match one decoded before comes back as that same string, without decoding
// it again (a Buffer's toString is a call into C++ costing more than the
// hash and the compare: docs/performance.md); consumers that use names as
// property keys then meet a string V8 has already internalized, and
// lowerName() finds its lower case by identity. Bounded: SLOTS entries per
// table, replaced on a collision, so new strings only cost the compare.
const SLOTS = 256;
const NAME_MAX = 32;
const VALUE_MAX = 64;
const names: Array<string | undefined> = new Array(SLOTS).fill(undefined);
const values: Array<string | undefined> = new Array(SLOTS).fill(undefined);

function cachedSpan(table: Array<string | undefined>, at: number, len: number): string {
  const b = mem;
  let h = len;
  for (let i = at; i < at + len; i++) h = Math.imul(h ^ (b[i] as number), 0x01000193);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  // Two ways per slot: two names in common use that share a slot (before
  // this, Content-Length and Connection did) do not evict each other.
  const slot = h & (SLOTS - 2);
  const first = table[slot];
  if (first !== undefined && same(first, b, at, len)) return first;
  const second = table[slot + 1];
  if (second !== undefined && same(second, b, at, len)) return second;
  const s = span(at, len);
  table[slot + 1] = first;
  table[slot] = s;
  return s;
}

function same(s: string, b: Uint8Array, at: number, len: number): boolean {
  if (s.length !== len) return false;
  let i = 0;
  while (i < len && s.charCodeAt(i) === b[at + i]) i++;
  return i === len;
}

function nameSpan(at: number, len: number): string {
  return len > NAME_MAX ? span(at, len) : cachedSpan(names, at, len);
}

function valueSpan(at: number, len: number): string {
  return len > VALUE_MAX ? span(at, len) : cachedSpan(values, at, len);
}

const lower = new Map<string, string>();
const LOWER_MAX = 1024;

/**
 * `name` in lower case, for header names from a parser: the same string for
 * the same name (a name of nameSpan's cache is found by identity, no
 * toLowerCase per message). Bounded: the memo is cleared past LOWER_MAX names.
 */
export function lowerName(name: string): string {
  let l = lower.get(name);
  if (l === undefined) {
    if (lower.size >= LOWER_MAX) lower.clear();
    l = name.toLowerCase();
    lower.set(name, l);
  }
  return l;
}

// Whether a span ends where the chunk does (so the next execute() may continue it).
function atEnd(at: number, len: number): boolean {
  return at + len - chunkAt === chunkRef.length;
}

const ll: Exports = (() => {
  let mod: WebAssembly.Module;
  try {
    mod = new WebAssembly.Module(require('undici/lib/llhttp/llhttp_simd-wasm.js') as Buffer<ArrayBuffer>);
  } catch {
    mod = new WebAssembly.Module(require('undici/lib/llhttp/llhttp-wasm.js') as Buffer<ArrayBuffer>);
  }
  const instance = new WebAssembly.Instance(mod, {
    env: {
      wasm_on_message_begin: () => current!.messageBegin(),
      wasm_on_url: (_p: number, at: number, len: number) => current!.url(valueSpan(at, len), len),
      wasm_on_status: (_p: number, _at: number, len: number) => current!.count(len),
      wasm_on_header_field: (_p: number, at: number, len: number) => current!.field(nameSpan(at, len), len, atEnd(at, len)),
      wasm_on_header_value: (_p: number, at: number, len: number) => {
        const p = current!;
        return p.recording ? p.rawValue(at - chunkAt, len) : p.value(valueSpan(at, len), len, atEnd(at, len));
      },
      wasm_on_headers_complete: () => current!.headersComplete(),
      wasm_on_body: (_p: number, at: number, len: number) => {
        const start = at - chunkAt;
        current!.handler.onBody(chunkRef.subarray(start, start + len));
        return 0;
      },
      wasm_on_message_complete: () => current!.messageComplete(),
    },
  });
  return instance.exports as unknown as Exports;
})();

/**
 * A response head's fields as the parser found them, without a string per
 * value (a parser made with `rawHead`): names as sent (nameSpan's strings),
 * values as offsets into the chunk being parsed, trailing whitespace already
 * cut. Valid only inside onHeadersComplete, and only when `active` (the head
 * arrived in one read; a head split across reads was reported through
 * onHeader instead). The proxy relays most upstream fields without ever
 * reading their values as strings (response-headers.ts relayRawHead).
 */
export class RawHead {
  /** The head arrived whole in this read: the fields below describe it. */
  active = false;
  /** Number of fields. */
  count = 0;
  /** The chunk the value offsets point into (the current read). */
  chunk: Buffer = EMPTY;
  readonly names: string[] = [];
  /** Per field: value start, value length. */
  spans = new Int32Array(64);

  /** The value of field `i` as a string. */
  value(i: number): string {
    const at = this.spans[2 * i] as number;
    const len = this.spans[2 * i + 1] as number;
    // Inside execute() the span cache can answer (a repeated value, no C++ call).
    if (this.chunk === chunkRef) return valueSpan(chunkAt + at, len);
    return this.chunk.toString('latin1', at, at + len);
  }

  /** The value of field `i` read as a decimal number, as Number() reads it (a Content-Length llhttp has checked). */
  integer(i: number): number {
    const at = this.spans[2 * i] as number;
    const len = this.spans[2 * i + 1] as number;
    if (len === 0 || len > 15) return Number(this.value(i));
    const b = this.chunk;
    let n = 0;
    for (let k = at; k < at + len; k++) {
      const d = (b[k] as number) - 48;
      if (d < 0 || d > 9) return Number(this.value(i));
      n = n * 10 + d;
    }
    return n;
  }

  /** Appends a field (the span grows when needed). */
  push(name: string, at: number, len: number): void {
    const i = this.count++;
    if (2 * i + 2 > this.spans.length) {
      const grown = new Int32Array(this.spans.length * 2);
      grown.set(this.spans);
      this.spans = grown;
    }
    this.names[i] = name;
    this.spans[2 * i] = at;
    this.spans[2 * i + 1] = len;
  }
}


// One input buffer in wasm memory, shared by every parser, grown by pages.
let inputPtr = 0;
let inputSize = 0;
let inputView = new Uint8Array(0);

/**
 * One llhttp parser for requests or responses. Not reentrant across parsers:
 * a handler must not call execute() of another parser from a callback.
 */
export class Parser {
  readonly handler: ParserHandler;
  readonly #ptr: number;
  readonly #maxHead: number;
  #headBytes = 0;
  #url = '';
  #name = '';
  #value = '';
  /** 0 nothing pending, 1 reading a field name, 2 reading a value. */
  #state = 0;
  /** No span yet in this execute() (a span now may continue the last one). */
  #fresh = false;
  /** The last span ended at its chunk's end. */
  #pieceAtEnd = false;
  /** Between the head and the message's end: fields now are trailers. */
  #inBody = false;
  /** The head passed maxHeadBytes (execute() returned ERROR.USER because of it). */
  headerOverflow = false;
  /** Where execute() stopped in its chunk after a pause or an error. */
  stoppedAt = 0;
  /**
   * With `rawHead`: the head's fields, when it arrived in one read (see
   * RawHead); onHeader is then not called for them. Undefined otherwise.
   */
  readonly rawHead: RawHead | undefined;
  /** Head fields are being recorded into rawHead (not turned into strings). */
  recording = false;
  /** Value offset and length of the field being recorded (-1: none yet). */
  #rawAt = -1;
  #rawLen = 0;

  /**
   * `maxHeadBytes` bounds the target (or status text) plus every field's
   * name and value, as Node's maxHeaderSize does. `rawHead`: report a head
   * that arrives in one read through `rawHead` instead of onHeader (trailers
   * still come through onTrailer).
   */
  constructor(type: keyof typeof TYPE, handler: ParserHandler, maxHeadBytes: number, rawHead = false) {
    this.handler = handler;
    this.#maxHead = maxHeadBytes;
    this.#ptr = ll.llhttp_alloc(TYPE[type]);
    this.rawHead = rawHead ? new RawHead() : undefined;
  }

  /**
   * Parses `chunk`; callbacks run inside. Returns ERROR.OK, ERROR.PAUSED (a
   * handler paused after a message; `stoppedAt` is where the next one starts),
   * ERROR.PAUSED_UPGRADE (an upgrade's head ended at `stoppedAt`), or another
   * error number (see errorReason(), headerOverflow).
   */
  execute(chunk: Buffer): number {
    if (chunk.length > inputSize) {
      if (inputPtr !== 0) ll.free(inputPtr);
      inputSize = Math.ceil(chunk.length / 4096) * 4096;
      inputPtr = ll.malloc(inputSize);
    }
    if (inputView.length !== inputSize || inputView.byteOffset !== inputPtr) {
      // A new input buffer, or the memory grew (every old view is detached, length 0).
      mem = new Uint8Array(ll.memory.buffer);
      inputView = mem.subarray(inputPtr, inputPtr + inputSize);
    }
    inputView.set(chunk);
    current = this;
    chunkRef = chunk;
    chunkAt = inputPtr;
    this.#fresh = true;
    let ret: number;
    const raw = this.rawHead;
    if (raw !== undefined) raw.chunk = chunk;
    try {
      ret = ll.llhttp_execute(this.#ptr, inputPtr, chunk.length);
      // The head goes on in the next read, whose bytes replace these: what
      // was recorded becomes strings now, and the rest of this head too.
      if (this.recording) this.#unrecord();
    } finally {
      current = undefined;
      chunkRef = EMPTY;
      if (raw !== undefined) raw.chunk = EMPTY;
    }
    this.stoppedAt = ret === ERROR.OK ? chunk.length : ll.llhttp_get_error_pos(this.#ptr) - inputPtr;
    return ret;
  }

  /** The peer closed: completes a body delimited by the close, or says the message was cut (an error number). */
  finish(): number {
    current = this;
    try {
      return ll.llhttp_finish(this.#ptr);
    } finally {
      current = undefined;
    }
  }

  /** Continues after ERROR.PAUSED. */
  resume(): void {
    ll.llhttp_resume(this.#ptr);
  }

  /** Continues after ERROR.PAUSED_UPGRADE, parsing what follows as HTTP (an upgrade that was not taken). */
  resumeAfterUpgrade(): void {
    ll.llhttp_resume_after_upgrade(this.#ptr);
  }

  /** llhttp's reason for the last error, for logs (never shown to clients). */
  errorReason(): string {
    if (this.headerOverflow) return 'header overflow';
    const p = ll.llhttp_get_error_reason(this.#ptr);
    if (p === 0) return `llhttp error ${ll.llhttp_get_errno(this.#ptr)}`;
    const mem = new Uint8Array(ll.memory.buffer);
    const end = mem.indexOf(0, p);
    return Buffer.from(mem.buffer, p, end - p).toString('latin1');
  }

  /** The request method's name (inside onHeadersComplete and after). */
  method(): string {
    return METHOD_NAMES[ll.llhttp_get_method(this.#ptr)] ?? 'GET';
  }

  status(): number {
    return ll.llhttp_get_status_code(this.#ptr);
  }

  httpMajor(): number {
    return ll.llhttp_get_http_major(this.#ptr);
  }

  httpMinor(): number {
    return ll.llhttp_get_http_minor(this.#ptr);
  }

  /** The message asked for an upgrade (Connection: upgrade + Upgrade, or CONNECT). */
  upgrade(): boolean {
    return ll.llhttp_get_upgrade(this.#ptr) === 1;
  }

  /** Whether the connection may carry another message after this one (version, Connection). */
  shouldKeepAlive(): boolean {
    return ll.llhttp_should_keep_alive(this.#ptr) === 1;
  }

  /** The body of this response ends only when the connection closes (no length, not chunked). */
  needsEof(): boolean {
    return ll.llhttp_message_needs_eof(this.#ptr) === 1;
  }

  /** Frees the wasm side; the parser is unusable afterwards. Idempotent. */
  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    ll.llhttp_free(this.#ptr);
  }

  #freed = false;

  // ---- called by the wasm callbacks (module scope above) ----

  messageBegin(): number {
    this.#headBytes = 0;
    this.#url = '';
    this.#state = 0;
    this.#inBody = false;
    const raw = this.rawHead;
    if (raw !== undefined) {
      raw.active = false;
      raw.count = 0;
      this.recording = true;
      this.#rawAt = -1;
    }
    this.handler.onMessageBegin();
    return 0;
  }

  count(len: number): number {
    // As Node's parser binding (TrackHeader) and undici: the target (or
    // status text), names and values count, the head's other bytes do not;
    // reaching the limit is an overflow.
    this.#headBytes += len;
    if (this.#headBytes < this.#maxHead) return 0;
    this.headerOverflow = true;
    return -1;
  }

  url(s: string, len: number): number {
    this.#url += s;
    this.#fresh = false;
    return this.count(len);
  }

  // A name or value split across two reads arrives as two spans, the first
  // ending at its chunk's end and the second first in the next chunk; any
  // other field span starts a new field (llhttp calls nothing for an empty
  // value, so "a name after a name" happens).
  field(s: string, len: number, atChunkEnd: boolean): number {
    if (this.recording) {
      // A name after a name: the previous field's value was empty.
      if (this.#state !== 0) this.#record();
      this.#name = s;
      this.#state = 1;
      this.#fresh = false;
      this.#pieceAtEnd = atChunkEnd;
      return this.count(len);
    }
    const continued = this.#state === 1 && this.#fresh && this.#pieceAtEnd;
    if (!continued) {
      if (this.#state !== 0) this.#emit();
      if (this.#url !== '') this.#flushUrl();
    }
    this.#name = continued ? this.#name + s : s;
    this.#state = 1;
    this.#fresh = false;
    this.#pieceAtEnd = atChunkEnd;
    return this.count(len);
  }

  value(s: string, len: number, atChunkEnd: boolean): number {
    this.#value = this.#state === 2 ? this.#value + s : s;
    this.#state = 2;
    this.#fresh = false;
    this.#pieceAtEnd = atChunkEnd;
    return this.count(len);
  }

  headersComplete(): number {
    const raw = this.recording ? this.rawHead as RawHead : undefined;
    if (raw !== undefined) {
      if (this.#state !== 0) this.#record();
      this.recording = false;
      raw.active = true;
    } else if (this.#state !== 0) this.#emit();
    if (this.#url !== '') this.#flushUrl();
    this.#inBody = true;
    this.#fresh = false;
    if (raw === undefined) return this.handler.onHeadersComplete();
    try {
      return this.handler.onHeadersComplete();
    } finally {
      raw.active = false;
    }
  }

  messageComplete(): number {
    if (this.#state !== 0) this.#emit();
    this.#inBody = false;
    return this.handler.onMessageComplete();
  }

  /** A value span while recording (offset into the chunk). */
  rawValue(at: number, len: number): number {
    if (this.#state === 2) {
      // llhttp gave one value in two spans within a read: join them if they
      // touch, else give up recording for this head.
      if (this.#rawAt + this.#rawLen === at) this.#rawLen += len;
      else {
        this.#unrecord();
        return this.value(chunkRef.toString('latin1', at, at + len), len, at + len === chunkRef.length);
      }
    } else {
      this.#rawAt = at;
      this.#rawLen = len;
    }
    this.#state = 2;
    this.#fresh = false;
    this.#pieceAtEnd = at + len === chunkRef.length;
    return this.count(len);
  }

  /** Records the field read so far (trailing whitespace cut, as #emit does). */
  #record(): void {
    const raw = this.rawHead as RawHead;
    let at = 0;
    let len = 0;
    if (this.#state === 2) {
      at = this.#rawAt;
      len = this.#rawLen;
      const b = chunkRef;
      while (len > 0 && (b[at + len - 1] === 32 || b[at + len - 1] === 9)) len--;
    }
    raw.push(this.#name, at, len);
    this.#name = '';
    this.#state = 0;
  }

  /**
   * Stops recording this head: the fields recorded so far go to onHeader,
   * and a field still being read continues as strings (it may go on in the
   * next read).
   */
  #unrecord(): void {
    const raw = this.rawHead as RawHead;
    this.recording = false;
    raw.chunk = chunkRef;
    for (let i = 0; i < raw.count; i++) this.handler.onHeader(raw.names[i] as string, raw.value(i));
    raw.count = 0;
    if (this.#state === 2) this.#value = chunkRef.toString('latin1', this.#rawAt, this.#rawAt + this.#rawLen);
  }

  #flushUrl(): void {
    this.handler.onUrl(this.#url);
    this.#url = '';
  }

  #emit(): void {
    // Trailing whitespace is not part of a field value (RFC 9112 §5: OWS);
    // llhttp skips the leading one only. node:http drops both.
    let value = this.#value;
    const last = value.charCodeAt(value.length - 1);
    if (last === 32 || last === 9) value = value.replace(/[ \t]+$/, '');
    if (this.#inBody) this.handler.onTrailer(this.#name, value);
    else this.handler.onHeader(this.#name, value);
    this.#name = '';
    this.#value = '';
    this.#state = 0;
  }
}

