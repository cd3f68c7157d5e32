// Test helpers of the lean HTTP/1.1 client (h1-pool.test.ts,
// h1-response.test.ts): a handler that records everything it hears, and a
// raw loopback server that answers each request head with exact bytes.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Dispatcher } from 'undici';
import type { UpstreamDispatcher } from './balancer.ts';
import { H1Pool } from './h1-pool.ts';
import type { H1PoolOptions } from './h1-pool.ts';

/** Everything a handler heard, in order; resolved at the end or the error. */
export interface Outcome {
  started: boolean;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  trailers: Record<string, string | string[] | undefined> | undefined;
  error: (Error & { code?: string }) | undefined;
  /** 'start', 'response 200', 'data', 'end', 'error CODE'. */
  events: string[];
}

/** Hooks a test adds to the recording handler (called after recording). */
export type Hooks = Partial<{
  start(c: Dispatcher.DispatchController): void;
  response(c: Dispatcher.DispatchController, status: number): void;
  data(c: Dispatcher.DispatchController, chunk: Buffer): void;
}>;

/** Dispatches `opts` and resolves with what the handler heard. */
export function send(pool: UpstreamDispatcher, opts: Partial<Dispatcher.DispatchOptions>, hooks: Hooks = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const o: Outcome = { started: false, status: 0, headers: {}, body: '', trailers: undefined, error: undefined, events: [] };
    const chunks: Buffer[] = [];
    pool.dispatch({ method: 'GET', path: '/', headers: [], ...opts } as Dispatcher.DispatchOptions, {
      onRequestStart(c) {
        o.started = true;
        o.events.push('start');
        hooks.start?.(c);
      },
      onResponseStart(c, status, headers) {
        o.status = status;
        o.headers = headers;
        o.events.push(`response ${status}`);
        hooks.response?.(c, status);
      },
      onResponseData(c, chunk) {
        chunks.push(Buffer.from(chunk));
        o.events.push('data');
        hooks.data?.(c, chunk);
      },
      onResponseEnd(_c, trailers) {
        o.trailers = trailers;
        o.body = Buffer.concat(chunks).toString('latin1');
        o.events.push('end');
        resolve(o);
      },
      onResponseError(_c, err) {
        o.error = err;
        o.body = Buffer.concat(chunks).toString('latin1');
        o.events.push(`error ${(err as { code?: string }).code ?? err.name}`);
        resolve(o);
      },
    });
  });
}

/** A pool to 127.0.0.1:port with test-friendly defaults. */
export function pool(port: number, options: Partial<H1PoolOptions> = {}): H1Pool {
  return new H1Pool('127.0.0.1', port, { connections: 4, keepAliveTimeoutMs: 10_000, connectTimeoutMs: 2_000, bodyTimeoutMs: 0, ...options });
}

/** A loopback server that sees request heads as text and writes whatever the test says. */
export interface RawServer {
  readonly port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Request heads seen, in order ("GET / HTTP/1.1\r\n..."). */
  readonly heads: string[];
  /** Every byte received, per connection. */
  readonly received: string[];
  readonly sockets: net.Socket[];
  close(): Promise<void>;
}

/**
 * Starts a RawServer; `answer` runs for each complete request head (a body,
 * if any, is not waited for) with the socket and the head.
 */
export async function rawServer(answer: (socket: net.Socket, head: string, n: number) => void): Promise<RawServer> {
  const heads: string[] = [];
  const received: string[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    const index = sockets.length;
    sockets.push(socket);
    received.push('');
    let buffered = '';
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => {
      received[index] += d.toString('latin1');
      buffered += d.toString('latin1');
      for (let end = buffered.indexOf('\r\n\r\n'); end >= 0; end = buffered.indexOf('\r\n\r\n')) {
        const head = buffered.slice(0, end + 4);
        buffered = buffered.slice(end + 4);
        heads.push(head);
        answer(socket, head, heads.length);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get connections() {
      return sockets.length;
    },
    heads,
    received,
    sockets,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Waits until `cond` holds, polling every 10 ms, at most `ms`; returns whether it held. */
export async function until(cond: () => boolean, ms = 5_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}
