// One upstream HTTP/1.1 connection of an H1Pool (h1-pool.ts): a socket, its
// llhttp response parser (../http1/llhttp.ts) and the one request it runs at a
// time (no pipelining). Behaviour follows undici's client-h1 where the proxy
// can notice it; the differences are listed in h1-pool.ts.
//
// Every socket, parser and handler callback of this file catches what it
// calls: a failure reaches the request's handler once (onResponseError) and
// the socket is destroyed; nothing throws out of a socket event (that would
// take the proxy down). A connection is reused only when the response said so
// (HTTP/1.1 without Connection: close), the request did not ask for a reset,
// the whole message was read with nothing after it, and the request body was
// fully written.
import net from 'node:net';
import type { Dispatcher } from 'undici';
import { ERROR, lowerName, Parser } from '../http1/llhttp.ts';
import type { ParserHandler, RawHead } from '../http1/llhttp.ts';
import { UpstreamCode, UpstreamError } from '../errors.ts';
import { BodyWriter } from './h1-body.ts';
import type { BodyOwner } from './h1-body.ts';
import { addField, NO_TRAILERS, parserError, rawFields, socketError } from './h1-fields.ts';
import type { Fields, RawHeadHandler } from './h1-fields.ts';
import { STATE } from './h1-request.ts';
import type { H1Request, RequestRunner } from './h1-request.ts';
import { ConnectionTimers, WAIT } from './h1-timers.ts';
import type { TimerOwner } from './h1-timers.ts';

/** The pool side of a connection (h1-pool.ts). */
export interface ConnectionOwner {
  /** Idle time of a connection unless a response's Keep-Alive hint is shorter. */
  readonly keepAliveMs: number;
  /** The TCP connect finished: run `first` (the request the connection was opened for). */
  connected(conn: H1Connection, first: H1Request): void;
  /** The response ended and the connection may carry another request. */
  released(conn: H1Connection): void;
  /** The socket closed; the connection is gone. */
  closed(conn: H1Connection): void;
}

/** undici's default response head limit (Node's maxHeaderSize). */
export const MAX_HEAD_BYTES = 16 * 1024;
// undici's keepAliveTimeoutThreshold: a server's "timeout=N" hint is taken as
// N s minus this, so the proxy closes before the server does.
const HINT_MARGIN_MS = 2_000;
const HINT = /timeout=(\d+)/;

/**
 * The buffer every upstream socket reads into (net's `onread`): reads are
 * handled one at a time and synchronously, so one buffer serves them all.
 * Without it each read allocated a 64 KiB buffer, wrapped it in a Buffer and
 * went through the Readable's push, 'data' event and read-more tick.
 * Whatever outlives the read is copied: header strings always are, body
 * chunks in onBody().
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

// A request's state read again after a callback that may have ended it.
function ended(req: H1Request): boolean {
  return req.state === STATE.DONE;
}

/** One socket to the endpoint, running one request at a time. */
export class H1Connection implements ParserHandler, RequestRunner, BodyOwner, TimerOwner {
  readonly socket: net.Socket;
  readonly #owner: ConnectionOwner;
  readonly #parser: Parser;
  /** The request running, or (before the connect) the one the connection was opened for. */
  req: H1Request | undefined;
  #connected = false;
  /** Destroyed, or the server ended it: never reused. */
  #closed = false;
  /** The socket's own error, reported when it closes. */
  #socketError: Error | undefined;
  /** An error a parser callback raised (execute() then returns ERROR.USER). */
  #userError: Error | undefined;
  #connectTimer: NodeJS.Timeout | undefined;
  readonly #timers = new ConnectionTimers(this);
  /** The idle time after this response (the Keep-Alive hint applied). */
  #idleMs: number;
  // Response state, reset per message.
  #interim = false;
  #headDone = false;
  #complete = false;
  #headers: Fields | undefined;
  #trailers: Fields | undefined;
  #length = -1;
  #chunked = false;
  #keepAliveHint: string | undefined;
  #read = 0;
  #reuse = false;
  /** Body chunks read while the handler is paused, and whether the end came too. */
  #held: Buffer[] | undefined;
  #endHeld = false;
  // Request state.
  #written = false;
  /** Streams request bodies (created for the first request that has one). */
  #body: BodyWriter | undefined;

  /** Opens the connection for `first` (which fails with the connect error if there is one). */
  constructor(owner: ConnectionOwner, host: string, port: number, connectTimeoutMs: number, first: H1Request) {
    this.#owner = owner;
    this.#idleMs = owner.keepAliveMs;
    this.req = first;
    // The socket first: a connect refused synchronously (a bad port) leaves no parser to free.
    const s = net.connect({ host, port, noDelay: true, onread: { buffer: READ_BUFFER, callback: this.#onRead } });
    this.socket = s;
    this.#parser = new Parser('response', this, MAX_HEAD_BYTES, true);
    s.on('connect', this.#onConnect);
    s.on('end', this.#onEnd);
    s.on('error', this.#onError);
    s.on('close', this.#onClose);
    if (connectTimeoutMs > 0) {
      this.#connectTimer = setTimeout(() => {
        this.#socketError = new UpstreamError(UpstreamCode.CONNECT_TIMEOUT, `connect timeout (${connectTimeoutMs} ms)`, 'ConnectTimeoutError');
        s.destroy();
      }, connectTimeoutMs);
    }
  }

  /** Whether the pool may give it a request (connected, idle, not ended by either side). */
  get usable(): boolean {
    return this.#connected && !this.#closed && this.req === undefined && !this.socket.destroyed && !this.socket.readableEnded;
  }

  /** Destroyed or ended by the server: it will only close now. */
  get dead(): boolean {
    return this.#closed;
  }

  /**
   * Runs `req`. Returns false when the request ended before a byte was written
   * (its handler aborted in onRequestStart, or its body stream was already
   * gone): the connection is still clean and free for the next one.
   */
  start(req: H1Request): boolean {
    this.req = req;
    req.state = STATE.RUNNING;
    req.runner = this;
    this.#written = false;
    this.#interim = false;
    this.#headDone = false;
    this.#complete = false;
    this.#endHeld = false;
    this.#held = undefined;
    const body = req.stream;
    if (body !== null && (body.destroyed || body.readableAborted)) {
      this.#endEarly(req, new UpstreamError(UpstreamCode.ABORTED, 'request body closed before it was sent', 'RequestAbortedError'));
      return false;
    }
    try {
      req.handler.onRequestStart?.(req, null);
    } catch (err) {
      if (req.state !== STATE.DONE) this.#endEarly(req, err as Error);
      return false;
    }
    if (ended(req)) return false;
    this.#written = true;
    this.#timers.wait(WAIT.HEADERS, req.headersTimeout);
    const s = this.socket;
    if (body !== null) {
      // The head waits for the first body chunk (or the end), as undici's
      // does: a client body that fails before its first byte (a bad chunk
      // size) never reaches the upstream at all.
      const { head, length } = req.streamHead(body);
      (this.#body ??= new BodyWriter(this)).start(body, head, length);
    } else if (req.body !== null) {
      s.cork();
      s.write(req.head);
      s.write(req.body);
      s.uncork();
    } else {
      s.write(req.head);
    }
    return true;
  }

  /** Becomes idle in the pool: closes itself after the idle time. */
  parked(): void {
    this.#timers.parked(this.#idleMs);
  }

  /** Closes the connection; a running request fails with `err`. */
  destroy(err: Error): void {
    if (this.req !== undefined && this.req.state !== STATE.DONE) this.#fail(err);
    else this.#destroySocket();
  }

  // ---- BodyOwner (the body writer calls these) ----

  /** The request body failed (the stream broke, or its length was wrong). */
  bodyFailed(err: Error): void {
    this.#fail(err);
  }

  /** Body bytes went out: the wait for response headers starts again (as undici). */
  bodySent(): void {
    this.#timers.progress(WAIT.HEADERS);
  }

  // ---- TimerOwner ----

  idleExpired(): void {
    if (this.req === undefined && this.#connected) this.#destroySocket();
  }

  waitExpired(mode: number): void {
    const req = this.req;
    if (req === undefined) return;
    if (mode === WAIT.HEADERS) this.#fail(new UpstreamError(UpstreamCode.HEADERS_TIMEOUT, 'no response headers in time', 'HeadersTimeoutError'));
    else if (!req.paused) this.#fail(new UpstreamError(UpstreamCode.BODY_TIMEOUT, 'no response body data in time', 'BodyTimeoutError'));
  }

  // ---- RequestRunner (the request's controller calls these) ----

  abortRequest(req: H1Request, reason: Error): void {
    if (req !== this.req) return;
    if (!this.#written) this.#endEarly(req, reason);
    else this.#fail(reason);
  }

  pauseRequest(req: H1Request): void {
    if (req === this.req && !this.#closed) this.socket.pause();
  }

  resumeRequest(req: H1Request): void {
    if (req !== this.req) return;
    try {
      this.#resume(req);
    } catch (err) {
      // A handler callback threw while held data was delivered: it must not
      // escape into whoever called resume() (a 'drain' listener).
      this.#fail(err as Error);
    }
  }

  #resume(req: H1Request): void {
    const held = this.#held;
    if (held !== undefined) {
      this.#held = undefined;
      for (let i = 0; i < held.length; i++) {
        if (req.state === STATE.DONE) return;
        if (req.paused) {
          this.#held = held.slice(i);
          return;
        }
        if (!this.#deliver(req, held[i] as Buffer)) return;
      }
    }
    if (req.state === STATE.DONE || req.paused) return;
    if (this.#endHeld) {
      this.#endHeld = false;
      this.#finish();
      return;
    }
    this.#timers.progress(WAIT.BODY);
    if (!this.#closed) this.socket.resume();
  }

  // ---- ParserHandler (called inside execute()) ----

  onMessageBegin(): void {
    this.#headers = undefined;
    this.#trailers = undefined;
    this.#length = -1;
    this.#chunked = false;
    this.#keepAliveHint = undefined;
    this.#read = 0;
  }

  onUrl(): void {}

  onHeader(name: string, value: string): void {
    const key = lowerName(name);
    if (key.length === 14 && key === 'content-length') this.#length = Number(value);
    else if (key.length === 10 && key === 'keep-alive') this.#keepAliveHint = value;
    else if (key.length === 17 && key === 'transfer-encoding') this.#chunked = true;
    addField((this.#headers ??= {}), key, value);
  }

  /** onHeader's reading of a head that arrived in one read (the parser's RawHead): only the values it needs become strings. */
  #readRaw(raw: RawHead): void {
    const names = raw.names;
    for (let i = 0; i < raw.count; i++) {
      const n = (names[i] as string).length;
      if (n !== 14 && n !== 10 && n !== 17) continue;
      const key = lowerName(names[i] as string);
      if (key === 'content-length') this.#length = raw.integer(i);
      else if (key === 'keep-alive') this.#keepAliveHint = raw.value(i);
      else if (key === 'transfer-encoding') this.#chunked = true;
    }
  }

  onHeadersComplete(): number {
    const req = this.req;
    if (req === undefined || req.state === STATE.DONE) return -1;
    const p = this.#parser;
    const raw = p.rawHead?.active === true ? p.rawHead : undefined;
    if (raw !== undefined) this.#readRaw(raw);
    const status = p.status();
    if (status < 200) {
      if (status === 101) {
        this.#userError = socketError('bad upgrade');
        return -1;
      }
      // 100 and 103 are read and dropped (not reported).
      this.#interim = true;
      return 0;
    }
    this.#headDone = true;
    let reuse = p.shouldKeepAlive() && !req.reset;
    if (status === 204 || status === 304) {
      // A length on a bodiless response may mean bytes follow that would be
      // read as the next response: answer this one, do not reuse (undici).
      if (this.#length > 0 || this.#chunked) reuse = false;
      this.#length = -1;
    }
    if (req.isHead) this.#length = -1;
    this.#idleMs = this.#owner.keepAliveMs;
    if (reuse && this.#keepAliveHint !== undefined) {
      const m = HINT.exec(this.#keepAliveHint);
      if (m !== null) {
        const ms = Number(m[1]) * 1000 - HINT_MARGIN_MS;
        if (ms <= 0) reuse = false;
        else if (ms < this.#idleMs) this.#idleMs = ms;
      }
    }
    this.#reuse = reuse;
    this.#timers.wait(WAIT.BODY, req.bodyTimeout);
    const h = req.handler as Dispatcher.DispatchHandler & RawHeadHandler;
    if (raw === undefined) h.onResponseStart?.(req, status, this.#headers ?? {}, '');
    else if (h.onResponseStartRaw !== undefined) h.onResponseStartRaw(req, status, raw);
    else h.onResponseStart?.(req, status, rawFields(raw), '');
    if (req.state === STATE.DONE) return -1;
    return req.isHead ? 1 : 0;
  }

  onBody(view: Buffer): void {
    const req = this.req;
    if (req === undefined || req.state === STATE.DONE) return;
    // A view into READ_BUFFER, which the next read overwrites: the handler
    // and #held get their own copy.
    const chunk = Buffer.copyBytesFrom(view);
    this.#read += chunk.length;
    if (req.paused || this.#held !== undefined) {
      (this.#held ??= []).push(chunk);
      return;
    }
    this.#deliver(req, chunk);
  }

  onTrailer(name: string, value: string): void {
    addField((this.#trailers ??= {}), name.toLowerCase(), value);
  }

  onMessageComplete(): number {
    if (this.#interim) {
      this.#interim = false;
      return 0;
    }
    this.#complete = true;
    return ERROR.PAUSED;
  }

  // ---- internals ----

  /** Hands one body chunk to the handler; false when the request ended in it. */
  #deliver(req: H1Request, chunk: Buffer): boolean {
    this.#timers.progress(WAIT.BODY);
    req.handler.onResponseData?.(req, chunk);
    return req.state !== STATE.DONE;
  }

  /** The response is complete: report the end, then reuse or close the connection. */
  #finish(): void {
    const req = this.req as H1Request;
    if (req.paused || this.#held !== undefined) {
      this.#endHeld = true;
      return;
    }
    this.req = undefined;
    req.state = STATE.DONE;
    req.runner = undefined;
    this.#timers.mode = WAIT.NONE;
    const writing = this.#body?.active === true;
    try {
      req.handler.onResponseEnd?.(req, this.#trailers ?? NO_TRAILERS);
    } catch {
      this.#reuse = false;
    }
    if (writing) {
      // Answered before the request body was sent: the rest of the body can
      // no longer be framed on this connection (undici destroys both).
      this.#body!.stop(true);
      this.#reuse = false;
    }
    if (!this.#reuse || this.#closed) {
      this.#destroySocket();
      return;
    }
    this.#parser.resume();
    this.#owner.released(this);
  }

  /**
   * A request ended before anything was written: report it. The connection
   * stays clean and is reused, except after a streamed body's request: its
   * client is usually gone, and undici closes the connection there too (the
   * next request then connects afresh, by which time a client body that
   * failed has been destroyed rather than sent: smuggling.test.ts).
   */
  #endEarly(req: H1Request, err: Error): void {
    if (req.stream !== null) this.#destroySocket();
    this.req = undefined;
    req.state = STATE.DONE;
    req.runner = undefined;
    try {
      req.handler.onResponseError?.(req, err);
    } catch {
      // The handler's own failure has nobody left to report to.
    }
  }

  /** Fails the current request (once) and closes the connection. */
  #fail(err: Error): void {
    const req = this.req;
    this.req = undefined;
    this.#timers.mode = WAIT.NONE;
    this.#destroySocket();
    this.#body?.stop(true);
    if (req === undefined || req.state === STATE.DONE) return;
    req.state = STATE.DONE;
    req.runner = undefined;
    try {
      req.handler.onResponseError?.(req, err);
    } catch {
      // As above.
    }
  }

  #destroySocket(): void {
    this.#closed = true;
    this.socket.destroy();
  }

  #parseError(ret: number): Error {
    const user = this.#userError;
    if (user !== undefined) {
      this.#userError = undefined;
      return user;
    }
    return parserError(this.#parser, ret);
  }

  // ---- event listeners: one set per connection, none per request ----

  readonly #onConnect = (): void => {
    clearTimeout(this.#connectTimer);
    this.#connected = true;
    const first = this.req as H1Request;
    this.req = undefined;
    this.#owner.connected(this, first);
  };

  readonly #onRead = (nread: number, buf: Buffer): boolean => {
    this.#onData(buf.subarray(0, nread));
    // Reading stops only through socket.pause() (backpressure, pauseRequest).
    return true;
  };

  readonly #onData = (chunk: Buffer): void => {
    const req = this.req;
    if (req === undefined || req.state !== STATE.RUNNING || !this.#written) {
      // Bytes nobody asked for (an idle connection, or an abandoned one).
      this.#destroySocket();
      return;
    }
    let ret: number;
    try {
      ret = this.#parser.execute(chunk);
    } catch (err) {
      // A handler callback threw inside the parser.
      this.#fail(err as Error);
      return;
    }
    if (this.req !== req || ended(req)) return;
    if (ret === ERROR.OK) return;
    if (ret === ERROR.PAUSED && this.#complete) {
      if (this.#parser.stoppedAt < chunk.length) this.#reuse = false;
      this.#finish();
      return;
    }
    this.#fail(this.#parseError(ret));
  };

  readonly #onEnd = (): void => {
    this.#closed = true;
    const req = this.req;
    if (req === undefined || req.state !== STATE.RUNNING) {
      this.socket.destroy();
      return;
    }
    if (this.#complete) {
      // The end is held for a paused handler; deliver it on resume.
      this.#reuse = false;
      return;
    }
    if (this.#headDone) {
      try {
        this.#parser.finish();
      } catch (err) {
        this.#fail(err as Error);
        return;
      }
      if (this.#complete) {
        this.#reuse = false;
        this.#finish();
        return;
      }
      if (!this.#reuse && this.#length >= 0 && this.#read < this.#length) {
        this.#fail(new UpstreamError(UpstreamCode.RES_CONTENT_LENGTH_MISMATCH, 'response body shorter than its content-length', 'ResponseContentLengthMismatchError'));
        return;
      }
    }
    this.#fail(socketError('other side closed'));
  };

  readonly #onError = (err: Error): void => {
    this.#socketError ??= err;
  };

  readonly #onClose = (): void => {
    this.#closed = true;
    clearTimeout(this.#connectTimer);
    this.#timers.clear();
    const req = this.req;
    if (req !== undefined && req.state !== STATE.DONE) this.#fail(this.#socketError ?? socketError('closed'));
    this.#body?.stop(true);
    this.#parser.free();
    this.#owner.closed(this);
  };
}
