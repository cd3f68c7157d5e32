// Helpers for the stream tests: real sockets on 127.0.0.1 port 0, bounded
// waits, and cleanups run in reverse order. Not used by production code.
import type { EventEmitter } from 'node:events';
import { connect as netConnect, createServer as createNetServer, type Socket } from 'node:net';
import { STREAM_PATH } from '../../api/stream.ts';
import type { StreamClient, StreamClientEvents } from '../../proxy/stream/client.ts';
import type { Authenticator } from './auth.ts';

/** Cleanups of one test file; call `runCleanups` from `after()`. */
export function cleanupList(): { add: (fn: () => Promise<unknown> | unknown) => void; run: () => Promise<void> } {
  const fns: (() => Promise<unknown> | unknown)[] = [];
  return {
    add: (fn) => void fns.push(fn),
    run: async () => {
      for (const fn of fns.reverse()) await fn();
    },
  };
}

/** Polls `check` every 10 ms; throws after `ms` (generous: other tests share the machine). */
export async function waitUntil(check: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The next `event` of a stream client whose payload satisfies `match`; rejects after `ms`. */
export function nextEvent<K extends keyof StreamClientEvents>(
  client: StreamClient, event: K, match: (data: StreamClientEvents[K][0]) => boolean = () => true, ms = 10_000,
): Promise<StreamClientEvents[K][0]> {
  const emitter = client as unknown as EventEmitter;
  return new Promise((resolve, reject) => {
    const on = (data: StreamClientEvents[K][0]) => {
      if (!match(data)) return;
      clearTimeout(timer);
      emitter.off(event, on);
      resolve(data);
    };
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`no ${event} within ${ms} ms`));
    }, ms);
    emitter.on(event, on);
  });
}

/** A compact JWT shape (unsigned: the API server, here a fake reviewer, is what judges it). */
export function fakeJwt(claims: Record<string, unknown>): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${b64({ alg: 'RS256', kid: 'test' })}.${b64(claims)}.${Buffer.from('signature').toString('base64url')}`;
}

/** An authenticator whose answers the test releases one at a time. */
export class GatedAuthenticator implements Authenticator {
  readonly calls: string[] = [];
  readonly #waiting: ((ok: boolean) => void)[] = [];
  #onCall: (() => void) | undefined;

  authenticate(bearer: string): Promise<{ ok: true; identity: string } | { ok: false; status: 401; reason: string }> {
    this.calls.push(bearer);
    this.#onCall?.();
    return new Promise((resolve) => this.#waiting.push((ok) => resolve(ok ? { ok: true, identity: 'gated' } : { ok: false, status: 401, reason: 'gated no' })));
  }

  /** Resolves when authenticate() has been called `n` times in all. */
  async called(n: number): Promise<void> {
    await waitUntil(() => this.calls.length >= n, 10_000, `${n} authenticate() calls`);
  }

  /** Answers the oldest waiting call. */
  release(ok: boolean): void {
    const next = this.#waiting.shift();
    if (next === undefined) throw new Error('no authenticate() call is waiting');
    next(ok);
  }
}

/** Writes a websocket upgrade request by hand; resolves with the open socket and what it receives. */
export async function rawUpgrade(port: number, headers: Record<string, string>): Promise<{ socket: Socket; received: () => string; ended: Promise<void> }> {
  const socket = netConnect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let text = '';
  socket.on('data', (d) => (text += d.toString('latin1')));
  socket.on('error', () => {});
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const lines = [
    `GET ${STREAM_PATH} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: Upgrade', 'Upgrade: websocket',
    'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  return { socket, received: () => text, ended };
}

/**
 * A TCP relay between proxies and the controller whose controller-to-proxy
 * direction can be stopped: to the controller, the proxy then looks exactly
 * like one that stopped reading its socket (a SIGSTOPped or wedged process).
 * Closing either side closes the other.
 */
export async function stallableRelay(targetPort: number): Promise<{ port: number; stall: () => void; resume: () => void; close: () => Promise<void> }> {
  const upstreams = new Set<Socket>();
  const server = createNetServer((down) => {
    const up = netConnect(targetPort, '127.0.0.1');
    upstreams.add(up);
    const end = () => {
      up.destroy();
      down.destroy();
      upstreams.delete(up);
    };
    down.on('data', (d) => up.write(d));
    up.on('data', (d) => down.write(d));
    for (const s of [up, down]) s.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    /** Stops reading from the controller on every current connection (new ones flow). */
    stall: () => {
      for (const up of upstreams) up.pause();
    },
    /** Reads again (the proxy woke up): it then sees whatever the controller sent, or that it hung up. */
    resume: () => {
      for (const up of upstreams) up.resume();
    },
    close: async () => {
      for (const up of upstreams) up.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
