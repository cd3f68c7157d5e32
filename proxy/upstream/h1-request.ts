// One request of the lean HTTP/1.1 upstream client (h1-pool.ts): its wire
// head, built and checked once at dispatch, and the controller its handler
// drives (undici 8's DispatchController: abort, pause, resume).
//
// The head follows undici's writeH1 so that an upstream cannot tell the two
// clients apart by framing:
// - the header list is sent as given (flat [name, value, ...] from decide.ts),
//   plus `host` from the endpoint when the list has none, and
//   `connection: keep-alive` (`close` for HEAD, for `reset`, for a request
//   whose Connection header says close, and for a body on a method that
//   expects none: undici does not reuse those connections either);
// - Content-Length in the list is taken out and rewritten by the framing: a
//   Buffer body gets its own length (a different one in the list is an
//   error), a stream keeps the listed length or, with none, is sent chunked
//   (the client's own Transfer-Encoding was stripped as hop-by-hop, forward.ts);
//   no body: `content-length: 0` for methods that expect one, else nothing;
// - Transfer-Encoding, Keep-Alive, Upgrade and Expect in the list, bad names,
//   values with CR, LF or NUL, a bad path or method are refused (undici's
//   InvalidArgumentError): what would let one request smuggle another.
// A refusal is reported as undici 8 does, to the handler's onResponseError,
// synchronously, with code UND_ERR_INVALID_ARG.
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { UpstreamCode, UpstreamError } from '../errors.ts';
import { putFieldName, TOKEN } from '../field-rules.ts';

/** Where a request is in its life. */
export const STATE = { QUEUED: 0, RUNNING: 1, DONE: 2 } as const;

/** What a request tells the connection running it (h1-connection.ts). */
export interface RequestRunner {
  abortRequest(req: H1Request, reason: Error): void;
  resumeRequest(req: H1Request): void;
  pauseRequest(req: H1Request): void;
}

// Methods whose requests carry a body by definition (undici's list).
const EXPECTS_PAYLOAD = new Set(['PUT', 'POST', 'PATCH', 'QUERY', 'PROPFIND', 'PROPPATCH']);
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'QUERY', 'PROPFIND', 'PROPPATCH']);
// undici's: a path byte outside 0x21-0xff (spaces, controls, CR/LF).
const BAD_PATH = /[^\u0021-\u00ff]/;
const CONTENT_LENGTH = /^\d+$/;

function invalid(message: string): UpstreamError {
  return new UpstreamError(UpstreamCode.INVALID_ARG, message, 'InvalidArgumentError');
}

/** Whether `body` is a Node readable stream (what forward.ts passes for a streamed body). */
function isStream(body: unknown): body is Readable {
  return typeof body === 'object' && body !== null && typeof (body as Readable).on === 'function' && typeof (body as Readable).pipe === 'function';
}

/**
 * One dispatched request: the handler, the head to write, the body, and the
 * controller (this object) given to the handler in onRequestStart. One
 * allocation per request besides the head string.
 */
export class H1Request implements Dispatcher.DispatchController {
  readonly handler: Dispatcher.DispatchHandler;
  /**
   * Request line, headers and framing, ending with the blank line, as the
   * bytes written (for a stream: streamHead()). Built as bytes, not a string
   * of many pieces, which the socket write had to flatten (docs/performance.md).
   */
  readonly head: Buffer;
  /** Bytes of `head` before its framing (a stream's framing is decided when it is written). */
  readonly #startLength: number;
  /** A body sent with the head (null: none, or a stream). */
  readonly body: Buffer | null;
  /** A body streamed after the head. */
  readonly stream: Readable | null;
  readonly isHead: boolean;
  /** The connection must not be reused after this request. */
  readonly reset: boolean;
  /** 0: off. */
  readonly headersTimeout: number;
  /** 0: off. */
  readonly bodyTimeout: number;
  state: number = STATE.QUEUED;
  /** The connection running it (set when it starts). */
  runner: RequestRunner | undefined;
  #paused = false;
  #aborted = false;
  #reason: Error | null = null;

  /** Throws UND_ERR_INVALID_ARG for what cannot be sent (see the top of the file). */
  constructor(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler, hostHeader: string, defaultHeadersTimeout: number, defaultBodyTimeout: number) {
    this.handler = handler;
    const { method, path } = opts;
    if (typeof method !== 'string' || (!KNOWN_METHODS.has(method) && !TOKEN.test(method))) throw invalid('invalid request method');
    if (typeof path !== 'string' || path.charCodeAt(0) !== 47 || BAD_PATH.test(path)) throw invalid('invalid request path');
    if (method === 'CONNECT' || (opts.upgrade !== undefined && opts.upgrade !== null && opts.upgrade !== false)) throw invalid('upgrades are not supported by this client');
    this.headersTimeout = timeout(opts.headersTimeout, defaultHeadersTimeout, 'headersTimeout');
    this.bodyTimeout = timeout(opts.bodyTimeout, defaultBodyTimeout, 'bodyTimeout');
    this.isHead = method === 'HEAD';

    let body: Buffer | null = null;
    let stream: Readable | null = null;
    const b = opts.body;
    if (b === null || b === undefined) body = null;
    else if (Buffer.isBuffer(b)) body = b;
    else if (b instanceof Uint8Array) body = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    else if (typeof b === 'string') body = Buffer.from(b);
    else if (isStream(b)) stream = b;
    else throw invalid('body must be a Buffer, a string or a Readable stream');
    if (body !== null && body.length === 0) body = null;

    let close = opts.reset === true || this.isHead;
    // The field lines go to `lines` (module scratch) as they are checked.
    linesAt = 0;
    const h = opts.headers;
    if (Array.isArray(h)) {
      if (h.length % 2 !== 0) throw invalid('headers array must be even');
      for (let i = 0; i < h.length; i += 2) this.#header(h[i] as string, h[i + 1] as string | string[] | null | undefined);
    } else if (h !== null && h !== undefined && typeof h === 'object') {
      for (const name of Object.keys(h)) this.#header(name, (h as Record<string, string | string[] | undefined>)[name]);
    } else if (h !== null && h !== undefined) {
      throw invalid('headers must be an object or an array');
    }
    const hasHost = this.#sawHost;
    const listedLength = this.#listedLength;
    if (this.#sawClose) close = true;

    const expectsPayload = EXPECTS_PAYLOAD.has(method);
    this.#expectsPayload = expectsPayload;
    let framing: string;
    if (stream !== null) {
      framing = '';
      if (!expectsPayload) close = true;
    } else if (body !== null) {
      if (listedLength >= 0 && listedLength !== body.length) {
        throw new UpstreamError(UpstreamCode.REQ_CONTENT_LENGTH_MISMATCH, 'request body length does not match its content-length header', 'RequestContentLengthMismatchError');
      }
      framing = `content-length: ${body.length}\r\n\r\n`;
      if (!expectsPayload) close = true;
    } else {
      framing = expectsPayload ? 'content-length: 0\r\n\r\n' : '\r\n';
    }
    this.body = body;
    this.stream = stream;
    this.reset = close;
    // Method and path were checked above (a token; bytes 0x21-0xff).
    const host = hasHost ? '' : hostHeader;
    const connection = close ? 'connection: close\r\n' : 'connection: keep-alive\r\n';
    const start = method.length + path.length + 12 + host.length + connection.length + linesAt;
    const head = Buffer.allocUnsafe(start + framing.length);
    let at = put(head, method, 0);
    head[at++] = 32;
    at = put(head, path, at);
    at = put(head, ' HTTP/1.1\r\n', at);
    at = put(head, host, at);
    at = put(head, connection, at);
    head.set(lines.subarray(0, linesAt), at);
    put(head, framing, start);
    this.head = head;
    this.#startLength = start;
  }

  /**
   * A streamed body's head and length (-1: chunked), decided when it is
   * written: by then a body that had arrived whole is known (arrivedLength).
   */
  streamHead(stream: Readable): { head: string; length: number } {
    const length = this.#listedLength >= 0 ? this.#listedLength : arrivedLength(stream);
    // As undici: no `content-length: 0` for a method that expects no body (RFC 9110 §8.6).
    const framing = length === 0 && !this.#expectsPayload ? '\r\n' : length >= 0 ? `content-length: ${length}\r\n\r\n` : 'transfer-encoding: chunked\r\n\r\n';
    return { head: `${this.head.toString('latin1', 0, this.#startLength)}${framing}`, length };
  }

  #expectsPayload = false;
  #sawHost = false;
  #sawClose = false;
  #listedLength = -1;

  /** Checks one header and adds its wire lines to `lines`, unless the client writes it itself. */
  #header(name: string, value: string | string[] | null | undefined): void {
    if (value === undefined) return;
    // A string value's line checks the name as it copies it (addLine).
    if (typeof name !== 'string' || (typeof value !== 'string' && !TOKEN.test(name))) throw invalid('invalid header key');
    // Only names of these lengths can be one the client handles itself.
    const n = name.length;
    if (n === 4 || n === 6 || n === 7 || n === 10 || n === 14 || n === 17) {
      // Checked first here: only a token may be taken for one of these names.
      if (typeof value === 'string' && !TOKEN.test(name)) throw invalid('invalid header key');
      const lower = name.toLowerCase();
      if (lower === 'host') {
        if (this.#sawHost || typeof value !== 'string') throw invalid('invalid host header');
        this.#sawHost = true;
      } else if (lower === 'content-length') {
        if (this.#listedLength >= 0 || typeof value !== 'string' || !CONTENT_LENGTH.test(value)) throw invalid('invalid content-length header');
        this.#listedLength = Number(value);
        return;
      } else if (lower === 'connection') {
        for (const t of String(value).toLowerCase().split(',')) if (t.trim() === 'close') this.#sawClose = true;
        return;
      } else if (lower === 'transfer-encoding' || lower === 'keep-alive' || lower === 'upgrade' || lower === 'expect') {
        throw invalid(`invalid ${lower} header`);
      }
    }
    if (typeof value === 'string') addLine(name, value);
    else if (value === null) addLine(name, '');
    else for (const v of value) addLine(name, String(v));
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  get paused(): boolean {
    return this.#paused;
  }

  get reason(): Error | null {
    return this.#reason;
  }

  /** Stops the request; the handler gets onResponseError(reason) once, synchronously (as undici's controller). */
  abort(reason: Error): void {
    if (this.#aborted || this.state === STATE.DONE) return;
    this.#aborted = true;
    this.#reason = reason;
    this.runner?.abortRequest(this, reason);
  }

  /** No more onResponseData until resume() (bytes already read are held, the socket stops reading). */
  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.runner?.pauseRequest(this);
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.runner?.resumeRequest(this);
  }
}

// The field lines of the request being built (one at a time: the
// constructor is synchronous), grown when a head needs more.
let lines = Buffer.allocUnsafe(16 * 1024);
let linesAt = 0;

/**
 * Appends `name: value\r\n` to `lines`; throws for a name that is not a
 * token, a value with a byte Node and undici refuse (field-rules.ts
 * INVALID_VALUE_CHAR: so never CR, LF or NUL) or a character that is not one
 * byte. One loop per field instead of two regular expressions.
 */
function addLine(name: string, value: string): void {
  const nl = name.length;
  const need = linesAt + nl + value.length + 4;
  if (need > lines.length) {
    const grown = Buffer.allocUnsafe(Math.max(need, lines.length * 2));
    lines.copy(grown, 0, 0, linesAt);
    lines = grown;
  }
  const b = lines;
  let at = putFieldName(b, linesAt, name);
  if (at < 0) throw invalid('invalid header key');
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 32 && c !== 9) || c === 127 || c > 255) throw invalid(`invalid ${name} header`);
    b[at++] = c;
  }
  b[at++] = 13;
  b[at++] = 10;
  linesAt = at;
}

/**
 * Writes `s` (one byte per character, already checked) at `at`; the new end.
 * A loop for short strings; beyond, Buffer#write, a fast API call (~40 ns
 * whatever the length, measured against ~2 ns a character for the loop).
 */
function put(b: Buffer, s: string, at: number): number {
  if (s.length > 20) return at + b.write(s, at, 'latin1');
  for (let i = 0; i < s.length; i++) b[at++] = s.charCodeAt(i);
  return at;
}

function timeout(v: number | null | undefined, fallback: number, name: string): number {
  if (v === null || v === undefined) return fallback;
  if (!Number.isFinite(v) || v < 0) throw invalid(`invalid ${name}`);
  return v;
}

/**
 * The length of a body stream that has already received all of its bytes
 * (its end is queued, nothing read yet), else -1. undici's rule
 * (util.bodyLength): such a body goes out with a Content-Length, not chunked,
 * which servers that refuse chunked requests accept. A client's chunked body
 * that arrived whole before the dispatch is the common case.
 */
function arrivedLength(stream: Readable): number {
  const state = (stream as { _readableState?: { ended?: boolean; objectMode?: boolean; length?: number } })._readableState;
  return state?.ended === true && state.objectMode === false && Number.isFinite(state.length) ? state.length as number : -1;
}
