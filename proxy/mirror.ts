// Request mirroring: a Route's `mirror` (the Gateway API's RequestMirror
// filter), fire-and-forget. forward.ts calls startMirror() after it has
// dispatched the client's request; the copy runs on its own and nothing about
// it reaches the client.
//
// Rules:
// - Only forwarded requests are mirrored: redirects, the proxy's own errors
//   and websocket handshakes (upgrade.ts) are not.
// - A request with a body is mirrored when forward.ts buffered it (a
//   Content-Length of at most its replay limit, 64 KiB by default): the copy
//   sends the same bytes. A body streamed to the main upstream (chunked, or
//   larger) is not mirrored: teeing a stream would tie the client to the
//   mirror's backpressure.
// - The copy has the client request's method, upstream path (after rewrite)
//   and upstream headers (after the route's request filter), X-Forwarded-*
//   included: the mirror sees what the main backend sees. It goes to an
//   endpoint of the mirror cluster, picked by that cluster's round-robin,
//   through the endpoint's shared pool. No retry.
// - Which requests: a deterministic counter per mirror (the route's frozen
//   `mirror` object, so tables that share the route continue its sequence).
//   Request n (0, 1, 2, ...) is mirrored when floor((n+1)·p/100) >
//   floor(n·p/100): 100 mirrors every request, 0 none, 50 every second one,
//   10 one in ten, spread evenly; any 100 consecutive requests of a cycle
//   mirror exactly p. No random generator. Each proxy replica counts its own.
// - The copy's response body is read and discarded. Failures (refused, reset,
//   invalid response) and the timeout (the route's timeoutMs, counted from
//   the copy's start, bounding the whole exchange) are logged at debug level
//   only. The copy pins the routing table until it ends, so its pool outlives
//   it like a client request's.
import type { Dispatcher } from 'undici';
import type { Mirror } from '../api/snapshot.ts';
import type { Logger } from '../lib/log.ts';
import { errorFields } from '../lib/log.ts';
import type { RoutingTable } from './routing/table.ts';

/** What is copied from the client's upstream request. */
export interface MirroredRequest {
  readonly method: string;
  /** The upstream request target (rewritten path plus query). */
  readonly path: string;
  /** The body as buffered for the main upstream; null for none. */
  readonly body?: Buffer | null;
  /** Flat [name, value, ...], as sent to the main upstream. */
  readonly headers: string[];
  /** Bound on the whole copy, in ms (the route's timeout). */
  readonly timeoutMs: number;
}

/** The mirror counters, keyed by the route's `mirror` object. */
const counters = new WeakMap<Mirror, { n: number }>();

/** Whether the next request of this mirror is copied (the counter rule above). Advances the counter. */
export function drawMirror(mirror: Mirror): boolean {
  const p = mirror.percent;
  if (p >= 100) return true;
  if (p <= 0) return false;
  let c = counters.get(mirror);
  if (c === undefined) counters.set(mirror, c = { n: 0 });
  const n = c.n;
  c.n = (n + 1) % 100;
  return Math.floor(((n + 1) * p) / 100) > Math.floor((n * p) / 100);
}

/**
 * Sends a copy of the request to the mirror cluster when the draw says so;
 * returns whether a copy was started. Never throws and never waits: the
 * caller's response is not touched.
 */
export function startMirror(table: RoutingTable, mirror: Mirror, request: MirroredRequest, log: Logger): boolean {
  if (mirror.cluster === undefined || !drawMirror(mirror)) return false;
  const endpoint = table.cluster(mirror.cluster)?.pick();
  if (endpoint === undefined) {
    log.debug('mirror skipped: no endpoint', { cluster: mirror.cluster });
    return false;
  }
  const copy = new MirrorCopy(table, mirror.cluster, endpoint.key, request.timeoutMs, log);
  try {
    endpoint.dispatcher.dispatch({
      method: request.method, path: request.path, headers: request.headers, body: request.body ?? null,
      headersTimeout: request.timeoutMs, bodyTimeout: request.timeoutMs,
    }, copy);
  } catch (err) {
    copy.onResponseError(undefined, err instanceof Error ? err : new Error(String(err)));
  }
  return true;
}

/** One mirrored copy: its answer is drained and dropped; its end, whatever it is, releases the table. */
class MirrorCopy implements Dispatcher.DispatchHandler {
  readonly #table: RoutingTable;
  readonly #fields: { cluster: string; endpoint: string };
  readonly #log: Logger;
  readonly #timer: NodeJS.Timeout;
  #controller: Dispatcher.DispatchController | undefined;
  #done = false;

  constructor(table: RoutingTable, cluster: string, endpoint: string, timeoutMs: number, log: Logger) {
    this.#table = table;
    this.#fields = { cluster, endpoint };
    this.#log = log;
    table.enter();
    this.#timer = setTimeout(() => {
      if (this.#end()) this.#log.debug('mirror timed out', { ...this.#fields, timeoutMs });
      this.#controller?.abort(new Error('mirror timeout'));
    }, timeoutMs);
    this.#timer.unref();
  }

  /** Marks the copy finished once; false when it already was. */
  #end(): boolean {
    if (this.#done) return false;
    this.#done = true;
    clearTimeout(this.#timer);
    this.#table.leave();
    return true;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    // Timed out while queued for a connection: do not send it at all.
    if (this.#done) controller.abort(new Error('mirror timeout'));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number): void {
    if (statusCode >= 200 && !this.#done) this.#log.debug('mirror answered', { ...this.#fields, statusCode });
  }

  onResponseData(): void {
    // Discarded.
  }

  onResponseEnd(): void {
    this.#end();
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    if (this.#end()) this.#log.debug('mirror failed', { ...this.#fields, ...errorFields(err) });
  }
}
