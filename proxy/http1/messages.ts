// The request and response of the net-level HTTP/1.1 engine (server.ts): the
// part of node:http's IncomingMessage and ServerResponse that the proxy uses
// (decide.ts, forward.ts, exchange.ts, errors.ts, upgrade.ts, listeners.ts),
// with node:http's observable behaviour where a client can see it:
// - request headers: names lower-cased, repeats joined as Node joins them
//   (set-cookie an array, cookie "; ", the single-valued fields Node keeps
//   first, the rest ", "), rawHeaders in order as sent;
// - response head: writeHead() validates every field as Node does (a throw
//   leaves nothing written) and adds what Node adds when absent: Date,
//   Connection (keep-alive or close) with Keep-Alive: timeout=N, and
//   Transfer-Encoding: chunked for a body of unknown length (an HTTP/1.0
//   client gets a body delimited by the close instead). HEAD, 1xx, 204 and
//   304 responses carry no body whatever is written;
// - the head goes out with the first body bytes, and everything written in one
//   turn of the event loop leaves in one write (a small first chunk is held
//   for it, COALESCE_BYTES; later writes are corked until the next tick, as
//   Node does);
// - events: 'drain' (the socket drained), 'finish' then 'close' once the
//   last byte was handed to the kernel, or 'close' alone when the connection
//   died first (writableFinished tells them apart, as forward.ts expects).
import { throwInvalidField, VALID_FIELD_BLOCK } from '../field-rules.ts';
import { ResponseEvents } from '../response-events.ts';
import { lowerName } from './llhttp.ts';
import { STATUS_CODES } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';

/** What a message needs from its connection (server.ts). */
export interface MessageOwner {
  readonly socket: Socket;
  /** Client idle time in seconds for Keep-Alive: timeout=N (0: no such field). */
  readonly keepAliveSeconds: number;
  /** The request body's reader wants more: read the socket again. */
  resumeBody(): void;
  /** The response's last byte was handed to the socket; `keepAlive` says whether another request may follow. */
  responseEnded(res: NetResponse, keepAlive: boolean): void;
  /** The response gave up mid-way (destroy()): the connection is cut. */
  responseDestroyed(res: NetResponse): void;
}

// Fields Node keeps only the first of when repeated (IncomingMessage's
// matchKnownFields): a second Host or Content-Type is ignored there, so here.
const SINGLE = new Set([
  'age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host', 'if-modified-since',
  'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'referer', 'retry-after',
  'server', 'user-agent',
]);

/** A client request; a Readable of its body (ended at once when it has none). */
export class NetRequest extends Readable {
  method = 'GET';
  url = '';
  readonly headers: IncomingHttpHeaders = {};
  readonly rawHeaders: string[] = [];
  readonly httpVersionMajor = 1;
  httpVersionMinor = 1;
  httpVersion = '1.1';
  /** The whole body arrived (or there was none). */
  complete = false;
  readonly socket: Socket;
  readonly #owner: MessageOwner;

  constructor(owner: MessageOwner) {
    super();
    this.#owner = owner;
    this.socket = owner.socket;
  }

  /** Adds one header as received (name as sent). */
  addHeader(name: string, value: string): void {
    this.rawHeaders.push(name, value);
    const key = lowerName(name);
    const prev = this.headers[key];
    if (prev === undefined) {
      (this.headers as Record<string, string | string[]>)[key] = key === 'set-cookie' ? [value] : value;
    } else if (key === 'set-cookie') {
      (prev as string[]).push(value);
    } else if (!SINGLE.has(key)) {
      (this.headers as Record<string, string>)[key] = `${prev as string}${key === 'cookie' ? '; ' : ', '}${value}`;
    }
  }

  /** A piece of the body, as the parser delivers it. */
  addBody(chunk: Buffer): void {
    this.#bodied = true;
    this.push(chunk);
  }

  /**
   * The request is complete. A body's reader gets its end now, an empty
   * chunked one included (the upstream client then sees a body of length 0
   * that has ended, as with node:http); a request without a body ends only
   * once something reads it (most never are: ending a stream nobody reads
   * costs a tick per request).
   */
  finish(): void {
    this.complete = true;
    if (this.#bodied || this.#wanted || this.headers['transfer-encoding'] !== undefined) this.push(null);
  }

  /** A body chunk was pushed (its end must be too). */
  #bodied = false;
  /** Something asked to read before the request was complete. */
  #wanted = false;

  override _read(): void {
    if (this.complete) {
      if (!this.#bodied) this.push(null);
      return;
    }
    this.#wanted = true;
    this.#owner.resumeBody();
  }

  /**
   * As IncomingMessage: a request cut before its end emits 'aborted', and the
   * error is emitted only to 'error' listeners (a body nobody reads must not
   * become an uncaught exception).
   */
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.complete) this.emit('aborted');
    cb(this.listenerCount('error') === 0 ? null : err);
  }
}

// Date header, as Node caches it: one string per second, dropped by a timer
// at the next second (no clock read per response).
let dateText: string | undefined;
function utcDate(): string {
  if (dateText === undefined) {
    const d = new Date();
    dateText = d.toUTCString();
    setTimeout(dropDate, 1000 - d.getMilliseconds()).unref();
  }
  return dateText;
}

function dropDate(): void {
  dateText = undefined;
}

function uncork(socket: Socket): void {
  socket.uncork();
}

// Responses whose head (and held first chunk) leave at the end of this turn.
// A promise reaction, not process.nextTick: a tick costs an async id, a
// context frame and a property load on `process` each (~1.5 % of the
// proxy's user time per keep-alive request); it runs in the same turn, after
// the ticks. Every other path to the socket flushes first, so order holds.
const flushQueue: NetResponse[] = [];
const RESOLVED = Promise.resolve();
function flushAtTurnEnd(res: NetResponse): void {
  if (flushQueue.push(res) === 1) void RESOLVED.then(flushQueued);
}
function flushQueued(): void {
  try {
    for (let i = 0; i < flushQueue.length; i++) flushQueue[i]!.flushHeld();
  } finally {
    flushQueue.length = 0;
  }
}

/**
 * A first body chunk up to this size waits for the end of the turn (or for
 * end()) to leave with the head in one buffer: a proxied small response is
 * then one write of one buffer, not a writev of three.
 */
const COALESCE_BYTES = 4096;
const LAST_CHUNK = '0\r\n\r\n';
const EMPTY = Buffer.alloc(0);

// Status lines, made once per status (as text for writeHead, as bytes for writeHeadBytes).
const statusLines: string[] = [];
const statusBytes: Buffer[] = [];
function statusLine(status: number): string {
  return (statusLines[status] ??= `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`);
}
function statusLineBytes(status: number): Buffer {
  return (statusBytes[status] ??= Buffer.from(statusLine(status), 'latin1'));
}

// The lines after the fields (Date, Connection, Keep-Alive, framing, the
// blank line) take a few forms, made once each (the one with a Date once a
// second): building them per response made a rope that Buffer#write had to
// flatten on its slow path, ~2 % of the proxy's user time per keep-alive request.
const ADD_DATE = 1;
const KEEP_ALIVE = 2;
const CLOSE = 4;
const CHUNKED = 8;
interface EndLines { readonly text: string; readonly bytes: Buffer; readonly date: string | undefined; readonly seconds: number }
const endLinesByForm: Array<EndLines | undefined> = [];
function endLines(form: number, seconds: number): EndLines {
  const date = form & ADD_DATE ? utcDate() : undefined;
  const cached = endLinesByForm[form];
  if (cached !== undefined && cached.date === date && cached.seconds === seconds) return cached;
  let text = date === undefined ? '' : `Date: ${date}\r\n`;
  if (form & KEEP_ALIVE) text += seconds > 0 ? `Connection: keep-alive\r\nKeep-Alive: timeout=${seconds}\r\n` : 'Connection: keep-alive\r\n';
  else if (form & CLOSE) text += 'Connection: close\r\n';
  if (form & CHUNKED) text += 'Transfer-Encoding: chunked\r\n';
  text += '\r\n';
  const made = { text, bytes: Buffer.from(text, 'latin1'), date, seconds };
  endLinesByForm[form] = made;
  return made;
}

/** The response to a NetRequest; see the top of the file. */
export class NetResponse extends ResponseEvents {
  statusCode = 200;
  headersSent = false;
  writableEnded = false;
  writableFinished = false;
  destroyed = false;
  /** Cleared to ask the client to reconnect after this response (a draining listener); read when the head is built. */
  shouldKeepAlive: boolean;
  readonly req: NetRequest;
  readonly #owner: MessageOwner;
  readonly #socket: Socket;
  /** Built by writeHead() (a string) or writeHeadBytes(), sent with the first body bytes or at end(). */
  #head: string | Buffer | undefined;
  /** The first body chunk, held to leave with the head (COALESCE_BYTES). */
  #held: Uint8Array | string | undefined;
  #hasBody: boolean;
  #chunked = false;
  /** The connection stays open after this response (decided with the head). */
  #keep = false;
  readonly #http10: boolean;

  constructor(owner: MessageOwner, req: NetRequest, keepAlive: boolean) {
    super();
    this.#owner = owner;
    this.#socket = owner.socket;
    this.req = req;
    this.shouldKeepAlive = keepAlive;
    this.#hasBody = req.method !== 'HEAD';
    this.#http10 = req.httpVersionMinor === 0;
  }

  get socket(): Socket {
    return this.#socket;
  }

  /** Names of the fields set so far: none (writeHead() is all or nothing; for errors.ts's and exchange.ts's clean-up). */
  getHeaderNames(): string[] {
    return [];
  }

  /** See getHeaderNames(). */
  removeHeader(_name: string): void {}

  /**
   * Builds the head: `headers` flat [name, value, ...] (exchange.ts, redirects)
   * or an object (errors.ts). Throws on an invalid name or value, having
   * stored nothing.
   */
  writeHead(status: number, headers?: readonly string[] | Readonly<Record<string, string | number>>): this {
    if (this.#head !== undefined || this.headersSent) throw Object.assign(new Error('headers already written'), { code: 'ERR_HTTP_HEADERS_SENT' });
    const list: readonly (string | number)[] = headers === undefined ? [] : Array.isArray(headers) ? headers : Object.entries(headers).flat();
    let fields = '';
    let length = false;
    let date = false;
    let connection = false;
    let close = false;
    for (let i = 0; i < list.length; i += 2) {
      const name = list[i] as string;
      if (typeof name !== 'string') throwInvalidField(list);
      const value = String(list[i + 1]);
      // A CR LF inside a name or value could pass the block test below as a
      // line of its own (a lone CR or LF cannot): Node refuses any CR.
      if (value.includes('\r') || name.includes('\r')) throwInvalidField(list);
      fields += `${name}: ${value}\r\n`;
      const n = name.length;
      // Only these three change framing; compare lower-cased only at their lengths.
      if (n === 14 && name.toLowerCase() === 'content-length') length = true;
      else if (n === 4 && name.toLowerCase() === 'date') date = true;
      else if (n === 10 && name.toLowerCase() === 'connection') {
        connection = true;
        close ||= /\bclose\b/i.test(value);
      }
    }
    // Node's rules (validateHeaderName/Value), checked on the whole block at
    // once; per field only to throw Node's error for the first bad one.
    if (!VALID_FIELD_BLOCK.test(fields)) throwInvalidField(list);
    this.#head = `${statusLine(status)}${fields}${this.#headEnd(status, length, date, connection, close).text}`;
    return this;
  }

  /**
   * writeHead() for a block of `name: value\r\n` lines already checked by
   * Node's rules, as bytes: `fields[0, end)` (copied here). None of them is
   * Connection; `length`, `date`: a Content-Length, a Date line is among
   * them. response-headers.ts relayRawHead builds the block as it checks it;
   * the head is then bytes from end to end, never a string.
   */
  writeHeadBytes(status: number, fields: Uint8Array, end: number, length: boolean, date: boolean): this {
    if (this.#head !== undefined || this.headersSent) throw Object.assign(new Error('headers already written'), { code: 'ERR_HTTP_HEADERS_SENT' });
    const prefix = statusLineBytes(status);
    const suffix = this.#headEnd(status, length, date, false, false).bytes;
    const head = Buffer.allocUnsafe(prefix.length + end + suffix.length);
    head.set(prefix, 0);
    head.set(end === fields.length ? fields : fields.subarray(0, end), prefix.length);
    head.set(suffix, prefix.length + end);
    this.#head = head;
    return this;
  }

  /** What follows the fields (Date, Connection, framing, the blank line); decides keep-alive and framing. */
  #headEnd(status: number, length: boolean, date: boolean, connection: boolean, close: boolean): EndLines {
    let form = date ? 0 : ADD_DATE;
    if (status === 204 || status === 304 || status < 200) this.#hasBody = false;
    // Node's rule: keep-alive only when the client may and the body's end is
    // known without a close (a length, or chunked for an HTTP/1.1 client).
    // A caller's own `Connection: close` ends the connection too.
    const keep = this.shouldKeepAlive && !close && (length || !this.#http10 || !this.#hasBody);
    if (!connection) form |= keep ? KEEP_ALIVE : CLOSE;
    this.#keep = keep;
    if (!length && this.#hasBody) {
      if (this.#http10) this.#keep = false;
      else {
        form |= CHUNKED;
        this.#chunked = true;
      }
    }
    this.statusCode = status;
    return endLines(form, this.#owner.keepAliveSeconds);
  }

  /** Writes body bytes (ignored for a response without a body); false when the socket buffer is full. */
  write(chunk: Uint8Array | string): boolean {
    if (this.writableEnded || this.destroyed) return false;
    if (this.#head === undefined) this.writeHead(this.statusCode);
    const s = this.#socket;
    if (!this.#hasBody || chunk.length === 0) {
      if (!this.headersSent) flushAtTurnEnd(this);
      return !s.writableNeedDrain;
    }
    if (!this.headersSent && this.#held === undefined && chunk.length <= COALESCE_BYTES) {
      this.#held = chunk;
      flushAtTurnEnd(this);
      return true;
    }
    if (!s.writableCorked) {
      s.cork();
      process.nextTick(uncork, s);
    }
    this.flushHeld();
    if (!this.#chunked) return s.write(chunk);
    s.write(`${Buffer.byteLength(chunk).toString(16)}\r\n`);
    s.write(chunk);
    return s.write('\r\n');
  }

  /** Sends the head, with the held chunk if any (end of the turn, or before a later write). */
  flushHeld(): void {
    if (this.headersSent || this.destroyed) return;
    this.headersSent = true;
    const held = this.#held;
    this.#held = undefined;
    this.#socket.write(this.#frame(held, ''));
  }

  /** The head, then `chunk` framed (chunked or not), then `tail`, in one buffer. */
  #frame(chunk: Uint8Array | string | undefined, tail: string): Buffer {
    const head = this.#head as string | Buffer;
    const empty = chunk === undefined || chunk.length === 0;
    if (empty && typeof head === 'string') return Buffer.from(head + tail, 'latin1');
    if (empty && tail === '') return head as Buffer;
    const body = empty ? EMPTY : typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const size = this.#chunked && !empty ? `${body.length.toString(16)}\r\n` : '';
    const after = this.#chunked && !empty ? `\r\n${tail}` : tail;
    const out = Buffer.allocUnsafe(head.length + size.length + body.length + after.length);
    let at: number;
    if (typeof head === 'string') at = out.write(head, 0, 'latin1');
    else {
      out.set(head, 0);
      at = head.length;
    }
    // (Buffer#write is a call into C++ even for "".)
    if (size !== '') at += out.write(size, at, 'latin1');
    out.set(body, at);
    if (after !== '') out.write(after, at + body.length, 'latin1');
    return out;
  }

  /** Ends the response (with a last chunk of body); 'finish' and 'close' follow once it is handed to the socket. */
  end(cb?: () => void): this;
  end(chunk: string | Uint8Array, cb?: () => void): this;
  end(chunk?: string | Uint8Array | (() => void)): this {
    if (this.writableEnded || this.destroyed) return this;
    if (chunk !== undefined && typeof chunk !== 'function' && chunk.length > 0) this.write(chunk);
    else if (this.#head === undefined) this.writeHead(this.statusCode);
    this.writableEnded = true;
    const last = this.#chunked && this.#hasBody ? LAST_CHUNK : '';
    const done = (err?: Error | null) => (err ? this.connectionClosed() : this.#finished());
    if (this.headersSent) this.#socket.write(last, done);
    else {
      // The whole response in one buffer: head, the held chunk, the last chunk.
      this.headersSent = true;
      const held = this.#held;
      this.#held = undefined;
      this.#socket.write(this.#frame(held, last), done);
    }
    this.#owner.responseEnded(this, this.#keep);
    return this;
  }

  #finished(): void {
    if (this.destroyed) return;
    this.writableFinished = true;
    this.emit('finish');
    this.emit('close');
  }

  /** Gives up on the response: the connection is cut (a truncated body must be visible). */
  destroy(_err?: Error): this {
    if (this.destroyed) return this;
    // Body bytes already written but held for coalescing (or corked until the
    // turn ends) go out first, as node:http's would: the client sees the
    // response cut, not missing.
    if (this.#held !== undefined) this.flushHeld();
    while (this.#socket.writableCorked > 0) this.#socket.uncork();
    this.destroyed = true;
    this.#owner.responseDestroyed(this);
    return this;
  }

  /** The connection closed, or is being closed on an error, before the response finished (server.ts). Once. */
  connectionClosed(): void {
    if (this.writableFinished || this.#closed) return;
    this.#closed = true;
    this.destroyed = true;
    this.emit('close');
  }

  #closed = false;
}
