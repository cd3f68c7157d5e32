// The request body side of one upstream connection (h1-connection.ts): a
// streamed body (the client's request stream) written with backpressure,
// framed by its Content-Length or, without one, chunked. The head waits for
// the first body chunk (or the end), as undici's does: a client body that
// fails before its first byte (a bad chunk size) never reaches the upstream.
// Never more than the declared length is written (what follows would be read
// as another request); a shorter body is an error too. One writer per
// connection, reused by each request that streams: listeners are bound once.
import type net from 'node:net';
import type { Readable } from 'node:stream';
import { UpstreamCode, UpstreamError } from '../errors.ts';

/** What the writer reports to: its connection. */
export interface BodyOwner {
  readonly socket: net.Socket;
  /** The body failed: the request fails with `err` and the connection closes. */
  bodyFailed(err: Error): void;
  /** Some body bytes were written. */
  bodySent(): void;
}

function noop(): void {}

function lengthMismatch(message: string): UpstreamError {
  return new UpstreamError(UpstreamCode.REQ_CONTENT_LENGTH_MISMATCH, message, 'RequestContentLengthMismatchError');
}

/** Writes one request body at a time to its connection's socket. */
export class BodyWriter {
  readonly #owner: BodyOwner;
  #stream: Readable | undefined;
  /** The request head, until the first body chunk or the end. */
  #head: string | undefined;
  /** The declared length, or -1: chunked. */
  #length = -1;
  #sent = 0;

  constructor(owner: BodyOwner) {
    this.#owner = owner;
    owner.socket.on('drain', this.#onDrain);
  }

  /** A body is being written (not ended yet). */
  get active(): boolean {
    return this.#stream !== undefined;
  }

  /** Starts writing `s` after `head` (which ends with the framing header). */
  start(s: Readable, head: string, length: number): void {
    this.#stream = s;
    this.#head = head;
    this.#length = length;
    this.#sent = 0;
    s.on('data', this.#onData);
    s.on('end', this.#onEnd);
    s.on('error', this.#onError);
    s.on('close', this.#onClose);
    if (s.readableEnded) {
      this.#onEnd();
      return;
    }
    s.resume();
  }

  /** Detaches from the body; `destroy` also destroys it (a failed or cut-short upload, as undici). */
  stop(destroy: boolean): void {
    const s = this.#stream;
    if (s === undefined) return;
    this.#stream = undefined;
    this.#head = undefined;
    s.off('data', this.#onData);
    s.off('end', this.#onEnd);
    s.off('error', this.#onError);
    s.off('close', this.#onClose);
    if (destroy) {
      // A late 'error' of a stream nobody reads any more must not be unhandled.
      s.on('error', noop);
      s.destroy();
    }
  }

  #writeHead(): void {
    if (this.#head === undefined) return;
    this.#owner.socket.write(this.#head, 'latin1');
    this.#head = undefined;
  }

  readonly #onData = (chunk: Buffer): void => {
    const len = chunk.length;
    if (len === 0 || this.#stream === undefined) return;
    const s = this.#owner.socket;
    let ok: boolean;
    if (this.#length >= 0) {
      if (this.#sent + len > this.#length) {
        this.#owner.bodyFailed(lengthMismatch('request body longer than its content-length'));
        return;
      }
      this.#sent += len;
      s.cork();
      this.#writeHead();
      ok = s.write(chunk);
      s.uncork();
    } else {
      this.#sent += len;
      s.cork();
      this.#writeHead();
      s.write(`${len.toString(16)}\r\n`, 'latin1');
      s.write(chunk);
      ok = s.write('\r\n', 'latin1');
      s.uncork();
    }
    this.#owner.bodySent();
    if (!ok) this.#stream?.pause();
  };

  readonly #onEnd = (): void => {
    if (this.#stream === undefined) return;
    if (this.#length >= 0 && this.#sent !== this.#length) {
      this.#owner.bodyFailed(lengthMismatch('request body shorter than its content-length'));
      return;
    }
    const s = this.#owner.socket;
    s.cork();
    this.#writeHead();
    if (this.#length < 0) s.write('0\r\n\r\n', 'latin1');
    s.uncork();
    this.stop(false);
  };

  readonly #onError = (err: Error): void => {
    if (this.#stream !== undefined) this.#owner.bodyFailed(err);
  };

  readonly #onClose = (): void => {
    if (this.#stream !== undefined) this.#owner.bodyFailed(new UpstreamError(UpstreamCode.ABORTED, 'request body closed before its end', 'RequestAbortedError'));
  };

  readonly #onDrain = (): void => {
    this.#stream?.resume();
  };
}
