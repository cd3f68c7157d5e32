// Raw HTTP answers on a socket that left Node's HTTP server (an upgrade):
// the proxy's own errors, relayed answers, and a lingering close.
import { STATUS_CODES, validateHeaderName, validateHeaderValue } from 'node:http';
import type { Duplex } from 'node:stream';
import { ClientError } from './errors.ts';
import type { ClientErrorKind } from './errors.ts';

/**
 * A response head as raw bytes. Throws on a name or value that is not a
 * valid header (as ServerResponse.writeHead does): what comes from Node's
 * parsers always is, but route filters and redirect locations come from the
 * snapshot, and a CR or LF written raw would split the response.
 */
export function responseHead(status: number, reason: string, headers: readonly string[]): string {
  let out = `HTTP/1.1 ${status} ${reason}\r\n`;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    const value = headers[i + 1] as string;
    validateHeaderName(name);
    validateHeaderValue(name, value);
    out += `${name}: ${value}\r\n`;
  }
  return out + '\r\n';
}

/** One of the proxy's own errors, then close. */
export function refuse(socket: Duplex, err: ClientErrorKind, lingerMs: number): void {
  answer(socket, err.status, [
    'content-type', 'text/plain; charset=utf-8',
    'content-length', String(Buffer.byteLength(err.body)),
    'cache-control', 'no-store',
  ], err.body, lingerMs);
}

/**
 * Writes a whole response made by the proxy and closes. FIN first, and the
 * socket cut only after `lingerMs` if the client does not close: destroying
 * at once could turn unread client bytes into a reset that loses the answer.
 */
export function answer(socket: Duplex, status: number, headers: readonly string[], body: string, lingerMs: number): void {
  if (socket.destroyed) return;
  let head: string;
  try {
    head = responseHead(status, STATUS_CODES[status] ?? '', [...headers, 'connection', 'close']);
  } catch {
    const err = ClientError.UPSTREAM_INVALID;
    return answer(socket, err.status, ['content-type', 'text/plain; charset=utf-8', 'content-length', String(Buffer.byteLength(err.body))], err.body, lingerMs);
  }
  socket.end(head + body);
  lingerThenDestroy(socket, lingerMs);
}

/** Destroys `socket` if it is still open after `ms` (a peer that never closes its half). */
export function lingerThenDestroy(socket: Duplex, ms: number): void {
  if (socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), ms);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  // A paused socket never reads the client's FIN; read and discard so it can close.
  socket.resume();
}
