// The lean HTTP/1.1 upstream client: a pool of plain-TCP connections to one
// endpoint, speaking HTTP/1.1 with llhttp (../http1/llhttp.ts), in place of
// undici's Pool for endpoints without a protocol when PoolOptions.http1Client
// is 'lean' (pools.ts). docs/data-plane.md measured undici's per-request
// machinery as part of the gap to nginx; this does only what the proxy uses.
//
// It implements the part of undici's Dispatcher that exchange.ts, attempt.ts
// and mirror.ts call, with undici 8's handler API, and keeps what they rely
// on: error codes (attempt.ts CONNECT_FAILURES and classify(), retry.ts
// RESET_CODES; catalog: errors.ts UpstreamCode), onRequestStart only once
// the connection exists (attempt.ts's `started`: "a byte may have been
// written"), response headers as an object with lower-case names and repeated
// names as arrays (or, to a handler with onResponseStartRaw, the head as
// parsed: h1-fields.ts RawHeadHandler), 1xx responses skipped, trailers,
// pause/resume.
//
// Pool behaviour (undici's Pool options in pools.ts): at most `connections`
// sockets, requests queue beyond them in order; one request per connection
// at a time; an idle connection closes after keepAliveTimeoutMs, or sooner
// when a response's `Keep-Alive: timeout=N` says so (N s minus 2 s, undici's
// margin); a connection the server ended is never picked again (it leaves
// the pool on 'end'). A connect failure fails the request that opened the
// connection (the socket's code, ECONNREFUSED..., or UND_ERR_CONNECT_TIMEOUT),
// and queued requests open connections of their own.
//
// Differences from undici, on purpose:
// - a longer Keep-Alive hint does not lengthen the idle time (undici lets a
//   hint raise it up to 10 min): the proxy, not the server, closes first;
// - a response without length cut by a reset, or a chunked one cut by a close
//   of a `Connection: close` response, is an error (undici treats both as a
//   complete response);
// - statusMessage is always '' (the proxy never reads it);
// - a request aborted in onRequestStart (nothing written) leaves its
//   connection in the pool, unless it streams a body (undici closes it).
// Requests are written in bursts: a request given an idle connection, and a
// queued one given a connection that just freed up (as undici does for that
// case), is written after the event loop turn's I/O, with the others of the
// turn (one setImmediate per pool; onRequestStart runs then too). Writing
// each at once woke the upstream once per request: measured with
// bench/h1-client.ts (freed connections) the upstream spent ~40 % more CPU
// per request and the client ~35 % more; under a whole proxy (every request,
// as bench/h1-load.ts measures) the proxy spent ~20 % more per request.
import type { Dispatcher } from 'undici';
import { UpstreamCode, UpstreamError } from '../errors.ts';
import type { UpstreamDispatcher } from './balancer.ts';
import { H1Connection } from './h1-connection.ts';
import type { ConnectionOwner } from './h1-connection.ts';
import { H1Request, STATE } from './h1-request.ts';

/** The settings of one pool; pools.ts fills them from its PoolOptions. */
export interface H1PoolOptions {
  readonly connections: number;
  readonly keepAliveTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /** For requests that give no bodyTimeout (0: off). */
  readonly bodyTimeoutMs: number;
  /** For requests that give no headersTimeout (0: off). Default 300 s, undici's. */
  readonly headersTimeoutMs?: number;
}

/** HTTP/1.1 connections to one endpoint ("ip", port), dispatching requests as undici's Pool does. */
export class H1Pool implements UpstreamDispatcher, ConnectionOwner {
  readonly keepAliveMs: number;
  readonly #host: string;
  readonly #port: number;
  readonly #hostHeader: string;
  readonly #max: number;
  readonly #connectTimeoutMs: number;
  readonly #headersTimeoutMs: number;
  readonly #bodyTimeoutMs: number;
  /** Idle connections, most recently used last (picked first: its socket is warm). */
  readonly #idle: H1Connection[] = [];
  readonly #all = new Set<H1Connection>();
  /** Requests waiting for a connection, from #head on. */
  #queue: H1Request[] = [];
  #head = 0;
  /** Connections that take the next queued requests in #flush. */
  #freed: H1Connection[] = [];
  #flushScheduled = false;
  #closing = false;
  #destroyed = false;
  #closed: Promise<void> | undefined;
  #resolveClosed: (() => void) | undefined;

  /** `host` is an IP address (v6 without brackets). */
  constructor(host: string, port: number, options: H1PoolOptions) {
    this.#host = host;
    this.#port = port;
    const h = host.includes(':') ? `[${host}]` : host;
    // undici's default Host: the origin, without the default port.
    this.#hostHeader = `host: ${h}${port === 80 ? '' : `:${port}`}\r\n`;
    this.#max = Math.max(1, options.connections);
    this.keepAliveMs = options.keepAliveTimeoutMs;
    this.#connectTimeoutMs = options.connectTimeoutMs;
    this.#headersTimeoutMs = options.headersTimeoutMs ?? 300_000;
    this.#bodyTimeoutMs = options.bodyTimeoutMs;
  }

  /** Connections open or opening (tests, admin). */
  get connections(): number {
    return this.#all.size;
  }

  /** Requests waiting for a connection (tests). */
  get queued(): number {
    return this.#queue.length - this.#head;
  }

  /**
   * Sends a request; the handler hears everything (undici 8's handler API).
   * Invalid options and a closed pool are reported to onResponseError
   * synchronously, as undici does. Returns false when the request had to queue.
   */
  dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    let req: H1Request;
    try {
      if (this.#destroyed) throw new UpstreamError(UpstreamCode.DESTROYED, 'the upstream pool was destroyed', 'ClientDestroyedError');
      if (this.#closing) throw new UpstreamError(UpstreamCode.CLOSED, 'the upstream pool is closed', 'ClientClosedError');
      req = new H1Request(opts, handler, this.#hostHeader, this.#headersTimeoutMs, this.#bodyTimeoutMs);
    } catch (err) {
      handler.onResponseError?.(null as unknown as Dispatcher.DispatchController, err as Error);
      return true;
    }
    const idle = this.#takeIdle();
    if (idle !== undefined) {
      // Written after this turn's I/O with the others (see the top of the file).
      this.#queue.push(req);
      this.#ready(idle);
      return true;
    }
    if (this.#all.size < this.#max) {
      this.#open(req);
      return true;
    }
    this.#queue.push(req);
    return false;
  }

  /** Stops taking requests; queued and running ones finish, then every connection closes. */
  close(): Promise<void> {
    if (this.#closed !== undefined) return this.#closed;
    this.#closing = true;
    this.#closed = new Promise((resolve) => { this.#resolveClosed = resolve; });
    for (const conn of this.#idle.splice(0)) conn.destroy(closedError());
    this.#checkClosed();
    return this.#closed;
  }

  /** Closes everything now: queued and running requests fail with `err` (default UND_ERR_DESTROYED). */
  destroy(err?: Error): Promise<void> {
    const reason = err ?? new UpstreamError(UpstreamCode.DESTROYED, 'the upstream pool was destroyed', 'ClientDestroyedError');
    this.#destroyed = true;
    const closed = this.close();
    for (let req = this.#dequeue(); req !== undefined; req = this.#dequeue()) {
      req.state = STATE.DONE;
      try {
        req.handler.onResponseError?.(req, reason);
      } catch {
        // Nobody to report a handler's failure to.
      }
    }
    for (const conn of [...this.#all]) conn.destroy(reason);
    this.#checkClosed();
    return closed;
  }

  // ---- ConnectionOwner ----

  connected(conn: H1Connection, first: H1Request): void {
    this.#use(conn, first);
  }

  released(conn: H1Connection): void {
    if (this.queued > 0) this.#ready(conn);
    else this.#park(conn);
  }

  /** `conn` takes the next queued request after this turn's I/O (one setImmediate per pool). */
  #ready(conn: H1Connection): void {
    this.#freed.push(conn);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flush);
    }
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    const freed = this.#freed;
    this.#freed = [];
    for (const conn of freed) {
      if (conn.dead) continue;
      if (this.#destroyed) conn.destroy(closedError());
      else this.#use(conn, this.#dequeue());
    }
  };

  closed(conn: H1Connection): void {
    this.#all.delete(conn);
    const i = this.#idle.lastIndexOf(conn);
    if (i >= 0) this.#idle.splice(i, 1);
    // A queued request gets the freed slot (a failed connect must not strand the queue).
    if (!this.#destroyed && this.queued > 0 && this.#all.size < this.#max) this.#open(this.#dequeue() as H1Request);
    this.#checkClosed();
  }

  // ---- internals ----

  #open(first: H1Request): void {
    let conn: H1Connection;
    try {
      conn = new H1Connection(this, this.#host, this.#port, this.#connectTimeoutMs, first);
    } catch (err) {
      // net.connect refused its arguments synchronously: this may run in a
      // socket callback (closed()), so report, never throw.
      first.state = STATE.DONE;
      try {
        first.handler.onResponseError?.(first, err as Error);
      } catch {
        // Nobody to report a handler's failure to.
      }
      return;
    }
    this.#all.add(conn);
  }

  /** Runs `req` on `conn`, then the queue's next ones while they end before a byte is written. */
  #use(conn: H1Connection, req: H1Request | undefined): void {
    while (req !== undefined) {
      // A connection closed by the early end leaves the queue to closed().
      if (conn.start(req) || conn.dead) return;
      req = this.#dequeue();
    }
    this.#park(conn);
  }

  #park(conn: H1Connection): void {
    if (this.#closing) {
      conn.destroy(closedError());
      return;
    }
    this.#idle.push(conn);
    conn.parked();
  }

  #takeIdle(): H1Connection | undefined {
    const idle = this.#idle;
    while (idle.length > 0) {
      const conn = idle.pop() as H1Connection;
      if (conn.usable) return conn;
    }
    return undefined;
  }

  #dequeue(): H1Request | undefined {
    if (this.#head >= this.#queue.length) return undefined;
    const req = this.#queue[this.#head++];
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return req;
  }

  #checkClosed(): void {
    if (this.#resolveClosed !== undefined && this.#all.size === 0 && this.queued === 0) {
      const resolve = this.#resolveClosed;
      this.#resolveClosed = undefined;
      resolve();
    }
  }
}

function closedError(): UpstreamError {
  return new UpstreamError(UpstreamCode.CLOSED, 'the upstream pool is closed', 'ClientClosedError');
}
