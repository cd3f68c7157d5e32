// One client connection of the net engine's server (server.ts): its llhttp
// parser, the request being served and its response, pipelining, the body
// of a request answered early, upgrades, and the state the server's timeout
// sweep reads. The rules it keeps from node:http are listed in server.ts.
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { ERROR, Parser } from './llhttp.ts';
import type { ParserHandler } from './llhttp.ts';
import { NetRequest, NetResponse } from './messages.ts';
import type { MessageOwner } from './messages.ts';
import type { Http1Server } from './server.ts';

const CLOSE_400 = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';
const CLOSE_408 = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n';
const CLOSE_431 = 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n';
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
/** A `close` token in a Connection value. */
const CLOSE_TOKEN = /(?:^|,)[ \t]*close[ \t]*(?:,|$)/i;
/** node:http's continueExpression. */
const CONTINUE_EXPECTED = /(?:^|\W)100-continue(?:$|\W)/i;
/**
 * Bytes of pipelined requests held while an earlier response is pending;
 * beyond, the socket is not read until it is sent. Reading goes on below it
 * so a client that goes away is noticed (a paused socket never sees its FIN).
 */
const PIPELINE_BYTES = 64 * 1024;
/** How long a socket closed with an error answer may take to read it before it is cut. */
const LINGER_MS = 2_000;

/** Connection states the timeout sweep reads. */
const HEAD = 0;
const BODY = 1;
const RESPONDING = 2;
export const IDLE = 3;
/** Answered and closing (or handed to 'upgrade'): no timeout of ours applies. */
const CLOSING = 4;
/** Accepted, nothing received yet: idle for a drain, under the headers timeout. */
export const FRESH = 5;

/** One client connection: parser, the request being served, its state for the sweep. */
export class Connection implements ParserHandler, MessageOwner {
  readonly socket: net.Socket;
  readonly keepAliveSeconds: number;
  state = FRESH;
  /** When the current state began (ms since epoch). */
  since = Date.now();
  readonly #server: Http1Server;
  readonly #parser: Parser;
  readonly #onRequest: (req: NetRequest, res: NetResponse) => void;
  #req: NetRequest | undefined;
  #res: NetResponse | undefined;
  /** Bytes after a request that arrived while its response was pending. */
  #pending: Buffer | undefined;
  /** The parser stopped after a request whose response is pending. */
  #held = false;
  /** The request is an upgrade handed to the 'upgrade' event. */
  #upgrading = false;
  /** The request was answered before its body was read: the rest is read and dropped. */
  #dumping = false;

  constructor(server: Http1Server, socket: net.Socket, onRequest: (req: NetRequest, res: NetResponse) => void) {
    this.#server = server;
    this.socket = socket;
    this.#onRequest = onRequest;
    this.keepAliveSeconds = Math.floor(server.keepAliveTimeout / 1000);
    this.#parser = new Parser('request', this, server.maxHeaderSize);
    socket.on('data', (chunk: Buffer) => this.#data(chunk));
    socket.on('error', () => {});
    socket.on('end', () => this.#end());
    socket.on('drain', () => this.#res?.emit('drain'));
  }

  #data(chunk: Buffer): void {
    // Closing: what the client still sends is read and dropped (#close).
    if (this.state === CLOSING) return;
    if (this.#held) {
      const pending = this.#pending === undefined ? chunk : Buffer.concat([this.#pending, chunk]);
      this.#pending = pending;
      if (pending.length > PIPELINE_BYTES) this.socket.pause();
      return;
    }
    if (this.state === IDLE || this.state === FRESH) {
      this.state = HEAD;
      this.since = Date.now();
    }
    const ret = this.#parser.execute(chunk);
    if (ret === ERROR.OK) {
      this.#backpressure();
      return;
    }
    const rest = chunk.subarray(this.#parser.stoppedAt);
    if (ret === ERROR.PAUSED) {
      // A complete request whose response is still pending: hold the rest.
      this.#held = true;
      this.#pending = rest.length > 0 ? rest : undefined;
      return;
    }
    if (ret === ERROR.PAUSED_UPGRADE && this.#upgrading) return this.#upgrade(rest);
    if (ret === ERROR.PAUSED_UPGRADE) {
      // CONNECT, or an upgrade refused by the callback whose request was served as a plain one.
      if (this.#req?.method === 'CONNECT') return void this.socket.destroy();
      this.#parser.resumeAfterUpgrade();
      return this.#data(rest);
    }
    this.#close(this.#parser.headerOverflow ? CLOSE_431 : CLOSE_400);
  }

  /** A request body the proxy reads slower than it arrives: stop reading until it asks (resumeBody). */
  #backpressure(): void {
    const req = this.#req;
    if (req !== undefined && this.state === BODY && !this.#dumping && req.readableLength >= req.readableHighWaterMark) this.socket.pause();
  }

  resumeBody(): void {
    if (this.state === BODY) this.socket.resume();
  }

  /**
   * The client closed its side. As node:http (without httpAllowHalfOpen): the
   * client is taken as gone, a request cut mid-way is aborted, and our side
   * ends too, so a response in progress is not finished ('close' without
   * 'finish' tells the proxy to abort its upstream exchange). A request cut
   * mid-way is a framing error (400 unless a response has begun, as node:http).
   */
  #end(): void {
    if (this.state === CLOSING) return;
    // Between requests there is nothing to finish (and llhttp, resumed after
    // the pause at a message's end, would still call the EOF unsafe).
    const between = this.#held || this.state === IDLE || this.state === FRESH;
    if (!between && this.#parser.finish() !== ERROR.OK) return this.#close(CLOSE_400);
    if (this.#req !== undefined && !this.#req.complete) this.#req.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    this.state = CLOSING;
    this.socket.end();
  }

  // ---- parser callbacks ----

  onMessageBegin(): void {
    // #data() set both when these bytes ended an idle time; a message
    // begun later in the same read (after a request answered early) sets them here.
    if (this.state !== HEAD) {
      this.state = HEAD;
      this.since = Date.now();
    }
    this.#req = new NetRequest(this);
  }

  onUrl(url: string): void {
    this.#req!.url = url;
  }

  onHeader(name: string, value: string): void {
    this.#req!.addHeader(name, value);
  }

  onTrailer(): void {
    // Request trailers are not forwarded (node:http + undici never did either).
  }

  onHeadersComplete(): number {
    const p = this.#parser;
    const req = this.#req!;
    req.method = p.method();
    const minor = p.httpMinor();
    if (p.httpMajor() !== 1) return -1;
    if (minor !== 1) {
      req.httpVersionMinor = minor;
      req.httpVersion = `1.${minor}`;
    }
    if (minor === 1 && req.headers.host === undefined) return -1;
    this.state = BODY;
    if (p.upgrade()) {
      if (req.method === 'CONNECT') return 0;
      if (this.#server.shouldUpgrade(req)) {
        this.#upgrading = true;
        return 0;
      }
    }
    // llhttp keeps an HTTP/1.0 request alive on `Connection: keep-alive`
    // even when the same field also says close; node:http lets close win.
    const keep = p.shouldKeepAlive() && (minor !== 0 || !CLOSE_TOKEN.test(String(req.headers.connection)));
    const res = new NetResponse(this, req, keep);
    this.#res = res;
    // As node:http without checkContinue/checkExpectation listeners (HTTP/1.1
    // only): 100 Continue when 100-continue is anywhere in the (joined)
    // value, 417 otherwise.
    const expect = minor === 1 ? req.headers.expect : undefined;
    if (expect !== undefined) {
      if (!CONTINUE_EXPECTED.test(expect)) {
        res.writeHead(417, ['content-length', '0']);
        res.end();
        return 0;
      }
      this.socket.write(CONTINUE);
    }
    this.#serve(req, res);
    return 0;
  }

  #serve(req: NetRequest, res: NetResponse): void {
    try {
      this.#onRequest(req, res);
    } catch {
      // The listener's handler catches its own errors; this one keeps a bug
      // in the engine from taking the process down.
      if (!res.headersSent) res.writeHead(500, ['content-length', '0']);
      res.end();
    }
  }

  onBody(chunk: Buffer): void {
    const req = this.#req;
    if (req !== undefined && !this.#dumping) req.addBody(chunk);
  }

  onMessageComplete(): number {
    const req = this.#req!;
    if (this.#upgrading || req.method === 'CONNECT') {
      req.complete = true;
      return 0;
    }
    req.finish();
    this.#dumping = false;
    if (this.#res !== undefined && !this.#res.writableEnded) {
      this.state = RESPONDING;
      return ERROR.PAUSED;
    }
    // Answered before the request was read whole (a 404 to a POST): ready now.
    this.#idle();
    return 0;
  }

  #idle(): void {
    this.#req = undefined;
    this.state = IDLE;
    this.since = Date.now();
  }

  // ---- response callbacks (messages.ts) ----

  responseEnded(res: NetResponse, keepAlive: boolean): void {
    if (res !== this.#res) return;
    if (!keepAlive) return this.#close(undefined);
    this.#res = undefined;
    const req = this.#req;
    if (req !== undefined && !req.complete) {
      // Answered before its body was read (a 400, a 404, a redirect): read
      // the rest and drop it, as node:http's _dump(), so the connection can
      // carry the next request (bounded by requestTimeout).
      this.#dumping = true;
      req.removeAllListeners('data');
      req.resume();
      this.socket.resume();
      return;
    }
    if (req === undefined) return;
    // The request was read whole: ready for the next one.
    this.#idle();
    if (this.#held) {
      this.#held = false;
      this.#parser.resume();
      this.socket.resume();
      const pending = this.#pending;
      this.#pending = undefined;
      if (pending !== undefined) this.#data(pending);
    }
  }

  responseDestroyed(_res: NetResponse): void {
    this.socket.destroy();
  }

  // ---- end of life ----

  #upgrade(head: Buffer): void {
    const socket = this.socket;
    socket.removeAllListeners('data');
    socket.removeAllListeners('end');
    socket.removeAllListeners('drain');
    socket.removeAllListeners('error');
    this.state = CLOSING;
    this.#parser.free();
    this.#server.emit('upgrade', this.#req, socket as Duplex, head);
  }

  /**
   * Closes after `answer` (one of the server's own errors; not when a
   * response already began: then the connection is cut) or after the
   * response just ended. What the client sends meanwhile is read and
   * dropped, for LINGER_MS at most, so our FIN is not overtaken by a reset.
   */
  #close(answer: string | undefined): void {
    const socket = this.socket;
    // #data drops what arrives from now on. (Not removeAllListeners('data'):
    // deleting the key turned each socket's listener table into a
    // dictionary, ~2 % of user time per request under Connection: close.)
    this.state = CLOSING;
    if (answer !== undefined) {
      // An error (framing, timeout): the request in progress is aborted now,
      // in this turn, so the upstream exchange it started is abandoned
      // before its first byte is written (undici writes on a later tick):
      // nothing of a request that failed to parse reaches a backend.
      const req = this.#req;
      if (req !== undefined && !req.complete) req.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
      this.#res?.connectionClosed();
    }
    // node:http's rule (socketOnError): its own error answer unless a
    // response has begun: on a fresh connection, and after answered requests
    // too. A response cut half-way must look cut (no FIN); answers already
    // complete still leave (end() uncorks, destroy() would drop them).
    if (answer !== undefined && socket.writable && this.#res?.headersSent !== true) socket.end(answer);
    else if (this.#res !== undefined && this.#res.headersSent && !this.#res.writableEnded) socket.destroy();
    else socket.end();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    socket.resume();
  }

  /** The sweep: a state that lasted past its timeout ends the connection. */
  expire(now: number): void {
    const s = this.#server;
    if (this.state === IDLE) {
      if (s.keepAliveTimeout > 0 && now - this.since > s.keepAliveTimeout) this.socket.destroy();
    } else if (this.state === HEAD || this.state === FRESH) {
      if (s.headersTimeout > 0 && now - this.since > s.headersTimeout) this.#close(CLOSE_408);
    } else if (this.state === BODY) {
      // `since` is still the request's first byte (BODY follows HEAD without a reset).
      if (s.requestTimeout > 0 && now - this.since > s.requestTimeout) this.#close(CLOSE_408);
    }
  }

  /** The socket closed: frees the parser and tells the request and response. */
  closed(): void {
    if (!this.#upgrading) this.#parser.free();
    const req = this.#req;
    if (req !== undefined && !req.complete && !this.#upgrading) req.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    this.#res?.connectionClosed();
  }
}
