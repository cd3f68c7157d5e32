// The harness of the differential tests (differential.test.ts, fuzz.test.ts):
// one echo backend behind two direct proxies, one per HTTP/1.1 engine, and a
// raw client that sends the same bytes to each and reduces what comes back to
// what a client and the upstream can observe. Shared so the hand-written
// corpus and the generated one are judged by the same eyes.
import net from 'node:net';
import type { Echoed, TestServer } from '../testkit.ts';
import { cluster, directProxy, echoBackend, route, vhost } from '../testkit.ts';
import type { DirectProxy } from '../testkit.ts';

/** What one exchange of bytes looked like from outside. */
export interface Observed {
  readonly statuses: number[];
  readonly closed: boolean;
  readonly upstream: Array<Pick<Echoed, 'method' | 'url' | 'body'> & { framing: string; headers?: string }>;
  /** With `detail`: each response's framing and header names (not Date), as the client saw them. */
  readonly heads?: string[];
}

/** The two engines behind one backend: what both tests start before their cases. */
export interface Rig {
  readonly proxies: Record<'node' | 'net', DirectProxy>;
  close(): Promise<void>;
}

/** Starts an echo backend and a direct proxy per engine routing everything to it. */
export async function startRig(): Promise<Rig> {
  const backend: TestServer = await echoBackend('b');
  const proxies = {} as Record<'node' | 'net', DirectProxy>;
  for (const engine of ['node', 'net'] as const) {
    const p = await directProxy({ engine });
    p.use({ virtualHosts: { '*': vhost([route('Prefix', '/', 'c/b:1')]) }, clusters: { 'c/b:1': cluster(backend.port) } });
    proxies[engine] = p;
  }
  return {
    proxies,
    async close() {
      await Promise.all(Object.values(proxies).map((p) => p.close()));
      await backend.close();
    },
  };
}

/** How one exchange is sent and read. */
export interface ExchangeOptions {
  /** Which final responses answer HEAD (no body): all of them, or by index. */
  readonly head?: boolean | readonly boolean[];
  /** Half-close after the last piece (FIN, still reading). */
  readonly fin?: boolean;
  /**
   * Send that FIN only once the answers stopped coming (quietMs), not 10 ms
   * after the last piece: a FIN while a request is being answered races the
   * answer on both engines, so only a FIN to an idle or waiting server has
   * one right outcome.
   */
  readonly finWhenQuiet?: boolean;
  /** Fill Observed.heads and the upstream's full header list. */
  readonly detail?: boolean;
  /**
   * Per piece: before sending it, wait until this many final responses came
   * (or the connection closed, or it went quiet). Sends a pipeline one
   * request at a time.
   */
  readonly waitFor?: readonly number[];
  /** Quiet time that ends the exchange (ms, default 300). */
  readonly quietMs?: number;
}

/**
 * Sends `pieces` (one write each, 10 ms apart) and collects the answer until
 * the server closes or goes quiet.
 */
export function exchange(port: number, pieces: readonly string[], options: ExchangeOptions = {}): Promise<Observed> {
  const { fin = false, finWhenQuiet = false, waitFor, quietMs = 300 } = options;
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let quiet: NodeJS.Timeout | undefined;
    let closed = false;
    let done = false;
    let wake: (() => void) | undefined;
    const read = () => observe(Buffer.concat(chunks).toString('latin1'), closed, options);
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(quiet);
      socket.destroy();
      wake?.();
      resolve(read());
    };
    // Quiet ends the exchange only once everything was sent (waiting for
    // answers before a piece or the FIN has a quiet time of its own).
    let sending = true;
    const arm = () => {
      clearTimeout(quiet);
      if (!sending) quiet = setTimeout(finish, quietMs);
    };
    // Resolves once `n` final responses came, the socket closed, or quietMs passed without one.
    const answered = (n: number) => new Promise<void>((r) => {
      const check = () => {
        if (done || closed || read().statuses.filter((s) => s >= 200).length >= n) return r();
        const t = setTimeout(() => {
          wake = undefined;
          r();
        }, quietMs);
        wake = () => {
          clearTimeout(t);
          wake = undefined;
          check();
        };
      };
      check();
    });
    socket.on('connect', async () => {
      for (const [i, p] of pieces.entries()) {
        const n = waitFor?.[i] ?? 0;
        if (n > 0) await answered(n);
        if (socket.destroyed || done) break;
        socket.write(p, 'latin1');
        await new Promise((r) => setTimeout(r, 10));
      }
      if (fin && finWhenQuiet) await answered(Number.POSITIVE_INFINITY);
      if (fin && !socket.destroyed) socket.end();
      sending = false;
      arm();
    });
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      arm();
      wake?.();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      closed = true;
      finish();
    });
  });
}

/**
 * What the upstream got, less how its body was framed when both sides
 * forwarded the same non-empty body: a chunked client body goes up with a
 * Content-Length when it had all arrived by the time the upstream client
 * wrote the head, else chunked, on undici and the lean client alike.
 */
export function sameBody(o: Observed): Observed {
  return {
    ...o,
    upstream: o.upstream.map((u) => u.body === '' || !/cl=(\d+|undefined) te=(undefined|chunked)/.test(u.framing) ? u : {
      ...u, framing: u.framing.replace(/cl=\S+ te=\S+/, 'body'),
      headers: u.headers?.split(' | ').filter((h) => !h.startsWith('content-length:') && !h.startsWith('transfer-encoding:')).join(' | '),
    }),
  };
}

/** Lower-cased header map of a head's lines (the last of repeated names wins). */
function fields(lines: readonly string[]): Map<string, string> {
  return new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
}

/**
 * Statuses and echoed requests out of a raw response stream (1xx interim
 * answers included as statuses).
 */
export function observe(raw: string, closed: boolean, options: ExchangeOptions = {}): Observed {
  const { head = false, detail = false } = options;
  const statuses: number[] = [];
  const upstream: Array<Observed['upstream'][number]> = [];
  const heads: string[] = [];
  let finals = 0;
  let at = 0;
  while (at < raw.length) {
    const end = raw.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const lines = raw.slice(at, end).split('\r\n');
    const status = Number(lines[0]!.split(' ')[1]);
    statuses.push(status);
    const headers = fields(lines.slice(1));
    if (detail) {
      // Whether the connection was announced to stay, and for the backend's
      // answers which fields came with it. How an empty error answer is
      // framed (Content-Length: 0, chunked, or none before a close) is each
      // engine's own: both are read the same.
      const names = headers.has('x-backend') ? ` [${[...headers.keys()].filter((n) => n !== 'date').sort().join(',')}]` : '';
      heads.push(`${status} connection=${String(headers.get('connection'))}${names}`);
    }
    at = end + 4;
    let body = '';
    if (status < 200) continue;
    const isHead = typeof head === 'boolean' ? head : head[finals] === true;
    finals++;
    if (status === 204 || status === 304) continue;
    if (isHead) {
      if (headers.get('x-backend') === 'b') upstream.push({ method: 'HEAD', url: '', body: '', framing: `cl=${String(headers.get('content-length'))}` });
      continue;
    }
    if (headers.get('transfer-encoding') === 'chunked') {
      for (;;) {
        const eol = raw.indexOf('\r\n', at);
        if (eol < 0) break;
        const size = Number.parseInt(raw.slice(at, eol), 16);
        at = eol + 2;
        if (!(size > 0)) {
          at += 2;
          break;
        }
        body += raw.slice(at, at + size);
        at += size + 2;
      }
    } else if (headers.has('content-length')) {
      const n = Number(headers.get('content-length'));
      body = raw.slice(at, at + n);
      at += n;
    } else {
      body = raw.slice(at);
      at = raw.length;
    }
    if (headers.get('x-backend') === 'b') upstream.push(echoed(body, detail));
  }
  return detail ? { statuses, closed, upstream, heads } : { statuses, closed, upstream };
}

/** What the echo backend said it received (a cut-off body is kept as text). */
function echoed(body: string, detail: boolean): Observed['upstream'][number] {
  let e: Echoed;
  try {
    e = JSON.parse(body) as Echoed;
  } catch {
    return { method: '?', url: '?', body: `unparsed: ${body}`, framing: '?' };
  }
  const h = e.headers;
  const framing = `cl=${String(h['content-length'])} te=${String(h['transfer-encoding'])} host=${String(h.host)}`;
  if (!detail) return { method: e.method, url: e.url, body: e.body, framing };
  // Sorted, less what each upstream client writes its own way: the order of
  // its fields, its Connection (the lean client closes after a body on a
  // method without payload semantics, as h1-request.ts says), and the
  // proxy's port.
  const pairs: string[] = [];
  for (let i = 0; i + 1 < e.rawHeaders.length; i += 2) {
    const name = e.rawHeaders[i]!.toLowerCase();
    if (name !== 'connection' && name !== 'x-forwarded-port') pairs.push(`${name}: ${e.rawHeaders[i + 1]!}`);
  }
  return { method: e.method, url: e.url, body: e.body, framing, headers: pairs.sort().join(' | ') };
}
