// A minimal HTTP/1.1 response reader for the bench's own clients (the
// change-window probe and the long-lived connections): they write
// precomputed request bytes on raw sockets and only need, per response, the
// status and whether the server announced it will close. Bodies are skipped
// by Content-Length or chunked framing; nothing else of HTTP is needed here.

/** One complete response. */
export interface Response {
  status: number;
  /** The server sent `Connection: close`: it will close after this response. */
  close: boolean;
}

/** Feeds bytes in; complete responses come out, in order. Throws on bytes that are not HTTP/1.1 framing. */
export class ResponseReader {
  #buf: Buffer = Buffer.alloc(0);
  #head: Response | undefined;
  #remaining = 0; // body bytes still to skip (Content-Length) or -1 for chunked
  #chunkLeft = -1; // bytes left in the current chunk incl. its CRLF, -1 = expecting a size line

  /** Whether a response has started but not finished. */
  get partial(): boolean {
    return this.#head !== undefined || this.#buf.length > 0;
  }

  push(chunk: Buffer): Response[] {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    const out: Response[] = [];
    for (;;) {
      if (this.#head === undefined) {
        const end = this.#buf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (this.#buf.length > 64 * 1024) throw new Error('response head over 64 KiB');
          return out;
        }
        const head = this.#buf.subarray(0, end).toString('latin1');
        this.#buf = this.#buf.subarray(end + 4);
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
        if (!m) throw new Error(`not an HTTP/1.1 response: ${head.slice(0, 40)}`);
        const status = Number(m[1]);
        const close = /\r\nconnection:[^\r]*\bclose\b/i.test(head);
        const chunked = /\r\ntransfer-encoding:[^\r]*\bchunked\b/i.test(head);
        const len = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        this.#head = { status, close };
        this.#remaining = status === 204 || status === 304 ? 0 : chunked ? -1 : len ? Number(len[1]) : 0;
        this.#chunkLeft = -1;
      }
      if (this.#remaining > 0) {
        const n = Math.min(this.#remaining, this.#buf.length);
        this.#buf = this.#buf.subarray(n);
        this.#remaining -= n;
        if (this.#remaining > 0) return out;
      } else if (this.#remaining < 0 && !this.#skipChunks()) {
        return out;
      }
      out.push(this.#head);
      this.#head = undefined;
    }
  }

  // Skips chunks; true once the last chunk (and its empty trailer) went by.
  #skipChunks(): boolean {
    for (;;) {
      if (this.#chunkLeft < 0) {
        const eol = this.#buf.indexOf('\r\n');
        if (eol < 0) return false;
        const size = parseInt(this.#buf.subarray(0, eol).toString('latin1'), 16);
        if (!Number.isFinite(size)) throw new Error('bad chunk size');
        this.#buf = this.#buf.subarray(eol + 2);
        if (size === 0) {
          // No trailers expected: the final CRLF.
          if (this.#buf.length < 2) { this.#buf = Buffer.concat([Buffer.from('0\r\n'), this.#buf]); return false; }
          this.#buf = this.#buf.subarray(2);
          return true;
        }
        this.#chunkLeft = size + 2;
      }
      const n = Math.min(this.#chunkLeft, this.#buf.length);
      this.#buf = this.#buf.subarray(n);
      this.#chunkLeft -= n;
      if (this.#chunkLeft > 0) return false;
      this.#chunkLeft = -1;
    }
  }
}
