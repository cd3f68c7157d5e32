// HTTP/2 requests on Node's http2 stream API (the 'stream' event), instead
// of its compatibility API (Http2ServerRequest/Response): docs/data-plane.md
// measured Node's http2 server answering by itself at 22.6 µs per request
// through streams and 36.3 µs through the compatibility objects. H2Request and
// H2Response carry the part of those objects the proxy uses (decide.ts,
// forward.ts, exchange.ts, errors.ts, listeners.ts), with the same behaviour:
// - request: headers as Node's stream event gives them (pseudo-headers
//   included, repeats joined as Node joins them), rawHeaders, method and url
//   from :method and :path, the session's TLS socket (not Node's Proxy in
//   front of it: docs/performance.md, "HTTP/2 per request, second pass"); the body is a Readable fed
//   by the stream (`body`), read by the upstream dispatch;
// - response: writeHead() holds status and headers, and write() the first
//   body chunk, until the end or the next turn of the event loop (a second
//   chunk sends them at once), so an upstream's trailers-only answer (gRPC
//   errors) leaves as ONE HEADERS frame with END_STREAM, which gRPC clients
//   require, and an answer that ends in the same turn as its headers (an
//   HTTP/1.1 upstream's, usually) responds without waiting for trailers:
//   HEADERS and one DATA frame with END_STREAM (docs/performance.md, "HTTP/2
//   per request": the trailers path cost ~20 µs per request); headers are
//   validated where they are set (a throw leaves nothing set);
//   addTrailers() before end() sends them after the body, as a trailing
//   HEADERS frame; destroy() resets the stream (a truncated body is visible);
// - events: 'drain', and 'close' when the stream closed (writableFinished
//   tells a complete response from a cut one, as forward.ts expects).
import { INVALID_VALUE_CHAR, throwInvalidField, TOKEN } from './field-rules.ts';
import { ResponseEvents } from './response-events.ts';
import { streamOpened } from './h2-sessions.ts';
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';

// Response fields HTTP/2 forbids (RFC 9113 §8.2.2): connection-specific, the
// upstream's HTTP/1.1 framing. Dropped here rather than refused: Node would throw.
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te']);
// Never trailers: those, and the fields that frame or route a message.
const NOT_TRAILERS = new Set([...CONNECTION_SPECIFIC, 'trailer', 'content-length', 'host']);

/**
 * Response field names already checked (TOKEN), as given → lower case: the
 * same few names (an upstream's content-type, date, server...) come with
 * every response, and a lookup costs less than a lower-casing and a regexp
 * test. Bounded: past SENT_NAMES_MAX names, new ones are checked each time.
 */
const sentNames = new Map<string, string>();
/** Status codes as the strings :status carries (a number converted per response otherwise). */
const STATUS_TEXT: readonly string[] = Array.from({ length: 600 }, (_, i) => String(i));
const statusText = (status: number): string => STATUS_TEXT[status] ?? String(status);
const SENT_NAMES_MAX = 1024;

/** An HTTP/2 request (one stream). */
export class H2Request {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly httpVersionMajor = 2;
  readonly httpVersionMinor = 0;
  readonly httpVersion = '2.0';
  readonly stream: ServerHttp2Stream;
  readonly socket: Socket;

  /**
   * `socket`: the session's TLS socket (servers.ts keeps it per session).
   * Without it, Node's `session.socket`, a Proxy in front of that socket
   * whose every property read is a trap; the proxy reads a few per request
   * (client address, X-Forwarded-Port). Either way client-address.ts finds
   * the accepted TCP socket behind it as _parent.
   */
  constructor(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[], socket?: Socket) {
    this.stream = stream;
    this.headers = headers;
    this.rawHeaders = rawHeaders;
    this.method = headers[':method'] as string;
    this.url = headers[':path'] as string;
    this.socket = socket ?? (stream.session!.socket as Socket);
  }

  /**
   * The request body as a Readable of its own (made on first use): the
   * upstream client destroys the body it has sent, and destroying the
   * stream itself would reset the response too.
   */
  get body(): Readable {
    return (this.#body ??= new H2Body(this.stream));
  }

  #body: H2Body | undefined;

  /** The client reset the stream or it ended badly (for a retry with a streamed body). */
  get destroyed(): boolean {
    return this.stream.destroyed;
  }
}

/** A request body read off its stream, with backpressure; destroying it leaves the stream alone. */
class H2Body extends Readable {
  readonly #stream: ServerHttp2Stream;

  constructor(stream: ServerHttp2Stream) {
    super();
    this.#stream = stream;
    stream.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) stream.pause();
    });
    let ended = false;
    stream.once('end', () => {
      ended = true;
      this.push(null);
    });
    // A reset before the body's end: the reader sees the request aborted.
    stream.once('close', () => {
      if (!ended) this.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    });
  }

  override _read(): void {
    this.#stream.resume();
  }
}

/** The response to an H2Request; see the top of the file. */
export class H2Response extends ResponseEvents {
  statusCode = 200;
  readonly stream: ServerHttp2Stream;
  /**
   * Status and headers set, not yet sent (writeHead): a flat [':status', n,
   * name, value, ...] list, which Node's respond() takes as it is (an object
   * would be copied and walked by key).
   */
  #held: string[] | undefined;
  /** The first body chunk, held with the headers until the end or the next turn. */
  #heldChunk: Uint8Array | string | undefined;
  #trailers: OutgoingHttpHeaders | undefined;
  #sent = false;
  #ended = false;
  #queued = false;
  #drainWired = false;

  constructor(stream: ServerHttp2Stream) {
    super();
    this.stream = stream;
    // The stream's one 'close' listener of ours, also counting the session's
    // open streams (h2-sessions.ts streamOpened). once(), not on(): measured,
    // on() here cost ~10 µs per request more (h2load A/B, load 5; not understood).
    const closed = streamOpened(stream.session);
    stream.once('close', () => {
      this.emit('close');
      closed?.();
    });
    stream.on('error', ignore);
  }

  // 'drain' is forwarded from the stream only once someone listens for it
  // (exchange.ts does under backpressure): most responses never need it.
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    if (event === 'drain') this.#wireDrain();
    return super.on(event, listener);
  }

  override once(event: string | symbol, listener: (...args: any[]) => void): this {
    if (event === 'drain') this.#wireDrain();
    return super.once(event, listener);
  }

  #wireDrain(): void {
    if (this.#drainWired) return;
    this.#drainWired = true;
    this.stream.on('drain', () => this.emit('drain'));
  }

  get headersSent(): boolean {
    return this.#sent || this.stream.headersSent;
  }

  get writableEnded(): boolean {
    return this.#ended;
  }

  /** The whole response left (END_STREAM sent) before the stream closed. */
  get writableFinished(): boolean {
    return this.#ended && this.stream.writableFinished;
  }

  get destroyed(): boolean {
    return this.stream.destroyed;
  }

  /** Names of the held headers (errors.ts and exchange.ts clear them after a refused header). */
  getHeaderNames(): string[] {
    const held = this.#held;
    if (held === undefined) return [];
    const names = new Set<string>();
    for (let i = 2; i < held.length; i += 2) names.add(held[i]!);
    return [...names];
  }

  removeHeader(name: string): void {
    const held = this.#held;
    if (held === undefined) return;
    const lower = name.toLowerCase();
    this.#held = held.filter((_, i) => i < 2 || held[i - (i % 2)] !== lower);
  }

  /**
   * Sets status and headers (flat [name, value, ...] or an object), sent with
   * the first body bytes, at end(), or on the next turn. Throws on an invalid
   * name or value, having set nothing.
   */
  writeHead(status: number, headers?: readonly string[] | Readonly<Record<string, string | number>>): this {
    const out: string[] = [':status', statusText(status)];
    const list: readonly (string | number)[] = headers === undefined ? [] : Array.isArray(headers) ? headers : Object.entries(headers).flat();
    for (let i = 0; i < list.length; i += 2) {
      const given = list[i] as string;
      const value = String(list[i + 1]);
      // node:http's own rules (the same expressions); its validators run only
      // to throw their error. A repeated name stays repeated: Node sends each
      // (and refuses repeats of single-value fields at respond()).
      let name = sentNames.get(given);
      if (name === undefined) {
        name = given.toLowerCase();
        if (!TOKEN.test(name)) throwInvalidField([name, value]);
        if (sentNames.size < SENT_NAMES_MAX) sentNames.set(given, name);
      }
      if (CONNECTION_SPECIFIC.has(name)) continue;
      if (INVALID_VALUE_CHAR.test(value)) throwInvalidField([name, value]);
      out.push(name, value);
    }
    this.statusCode = status;
    this.#held = out;
    this.#queue();
    return this;
  }

  /**
   * Trailers to send after the body (the upstream's, exchange.ts). Names
   * HTTP/2 forbids or that frame the message are left out, one at a time: the
   * rest still go.
   */
  addTrailers(trailers: Readonly<Record<string, string | string[] | undefined>>): void {
    // for-in, not Object.keys(): nearly every response has none, and an
    // empty object's keys would be an array allocated per response.
    for (const name in trailers) {
      const value = trailers[name];
      if (value === undefined || NOT_TRAILERS.has(name)) continue;
      (this.#trailers ??= {})[name] = value;
    }
  }

  /** Sends held headers (and the held first chunk) now: the next turn, or a second body chunk. */
  flushHeaders(): void {
    if (this.#sent || this.stream.destroyed) return;
    const chunk = this.#heldChunk;
    this.#heldChunk = undefined;
    // The end is not known yet, nor whether trailers will come: ask Node to
    // wait for them; none makes an empty DATA frame with END_STREAM.
    if (this.#respond(false, true) && chunk !== undefined) this.stream.write(chunk);
  }

  /** Sends the held headers; false if the stream was reset instead (a header Node refused). */
  #respond(endStream: boolean, waitForTrailers: boolean): boolean {
    this.#sent = true;
    const headers = this.#held ?? [':status', statusText(this.statusCode)];
    this.#held = undefined;
    try {
      if (!waitForTrailers) {
        this.stream.respond(headers, endStream ? END_STREAM : undefined);
        return true;
      }
      this.stream.respond(headers, WAIT_FOR_TRAILERS);
      this.stream.once('wantTrailers', () => this.stream.sendTrailers(this.#trailers ?? {}));
      return true;
    } catch {
      // A header Node refuses that writeHead() let through: the stream is
      // reset rather than answered wrong (writeHead() validates the common cases).
      this.stream.destroy();
      return false;
    }
  }

  /**
   * Writes a body chunk. The first one waits with the headers for the end
   * (a one-chunk answer then leaves as HEADERS and one DATA frame with
   * END_STREAM, without waiting for trailers) or the next turn.
   */
  write(chunk: Uint8Array | string): boolean {
    if (this.#ended || this.stream.destroyed) return false;
    if (!this.#sent) {
      if (this.#heldChunk === undefined && chunk.length > 0) {
        this.#heldChunk = chunk;
        this.#queue();
        return true;
      }
      this.flushHeaders();
      if (this.stream.destroyed) return false;
    }
    return this.stream.write(chunk);
  }

  end(cb?: () => void): this;
  end(chunk: string | Uint8Array, cb?: () => void): this;
  end(chunk?: string | Uint8Array | (() => void)): this {
    if (this.#ended || this.stream.destroyed) return this;
    const last = chunk !== undefined && typeof chunk !== 'function' && chunk.length > 0 ? chunk : undefined;
    this.#ended = true;
    if (this.#sent) {
      if (last === undefined) this.stream.end();
      else this.stream.end(last);
      return this;
    }
    // Everything is known now: the headers, the body of this turn, the trailers.
    const first = this.#heldChunk;
    this.#heldChunk = undefined;
    const trailers = this.#trailers !== undefined;
    if (first === undefined && last === undefined) {
      // Nothing but headers: one HEADERS frame with END_STREAM when there are no trailers.
      if (this.#respond(!trailers, trailers) && trailers) this.stream.end();
      return this;
    }
    if (!this.#respond(false, trailers)) return this;
    if (first !== undefined && last !== undefined) this.stream.write(first);
    this.stream.end(last ?? first!);
    return this;
  }

  /** Queues this response's held headers for the next turn (one setImmediate for all of a turn's responses). */
  #queue(): void {
    if (this.#queued) return;
    this.#queued = true;
    if (flushQueue.push(this) === 1) setImmediate(flushAll);
  }

  /** The next turn came: sends what is still held (flushAll). */
  flushQueued(): void {
    this.#queued = false;
    if (!this.#ended) this.flushHeaders();
  }

  /** Resets the stream: the client sees the response cut. */
  destroy(_err?: Error): this {
    this.stream.destroy();
    return this;
  }
}

// respond() options, shared: Node only reads them.
const END_STREAM = { endStream: true };
const WAIT_FOR_TRAILERS = { waitForTrailers: true };

function ignore(): void {}

/** Responses holding headers until the next turn, sent by one setImmediate. */
let flushQueue: H2Response[] = [];

function flushAll(): void {
  const queue = flushQueue;
  flushQueue = [];
  for (const res of queue) res.flushQueued();
}
