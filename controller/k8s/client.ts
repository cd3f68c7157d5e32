// The controller's one door to a Kubernetes API server: plain JSON requests
// plus the watch stream, authenticated by @kubernetes/client-node's KubeConfig
// (kubeconfig file or in-cluster ServiceAccount). Raw JSON on purpose: the
// generated models turn timestamps into Date objects and drop unknown fields,
// while the compiler reads RFC 3339 strings and Route is a CRD without a model.
// Everything above this file talks to the narrow KubeClient interface, so unit
// tests hand in plain objects instead of a fake API server.
import { TurnoutError } from '../errors.ts';

/** An API answer other than 2xx: `code` is the HTTP status, `reason` the Status reason (Conflict, NotFound, Forbidden). */
export class KubeApiError extends Error {
  readonly code: number;
  readonly reason: string;
  constructor(code: number, reason: string, message: string) {
    super(message);
    this.name = 'KubeApiError';
    this.code = code;
    this.reason = reason;
  }
}

/** A list answer: the items and the collection's resourceVersion. */
export interface KubeList<T = unknown> {
  readonly items: T[];
  readonly metadata?: { resourceVersion?: string };
}

/** The watch transport client-node's ListWatch expects (its Watch class has this shape). */
export interface WatchTransport {
  watch(
    path: string,
    query: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, obj: any, raw?: any) => void,
    done: (err: any) => void,
  ): Promise<{ abort(): void }>;
}

/** What the source, the status writer and the lease need from the API server. */
export interface KubeClient {
  /** GET/POST/PUT/PATCH/DELETE `path` with an optional JSON body; rejects with KubeApiError on non-2xx. */
  request<T = unknown>(method: string, path: string, opts?: { query?: Record<string, string>; body?: unknown; contentType?: string; timeoutMs?: number }): Promise<T>;
  readonly watch: WatchTransport;
}

/** Content type of a JSON merge patch (RFC 7386): CRDs have no strategic merge. */
export const MERGE_PATCH = 'application/merge-patch+json';

/**
 * A KubeClient from a kubeconfig file, or the in-cluster configuration when
 * `kubeconfig` is undefined. The library is loaded only here, so the proxy and
 * `turnout local` never load it.
 */
export async function kubeClient(kubeconfig?: string): Promise<KubeClient> {
  const k8s = await import('@kubernetes/client-node');
  const { fetch } = await import('undici');
  const config = new k8s.KubeConfig();
  if (kubeconfig !== undefined) config.loadFromFile(kubeconfig);
  else config.loadFromCluster();
  const cluster = config.getCurrentCluster();
  if (cluster === null) throw new TurnoutError('INVALID_ARGUMENT', 'the Kubernetes configuration names no current cluster');
  const server = cluster.server.replace(/\/+$/, '');
  return {
    async request(method, path, opts = {}) {
      const url = new URL(server + path);
      for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v);
      const ctx = new k8s.RequestContext(url.toString(), method as never);
      await config.applySecurityAuthentication(ctx);
      const headers: Record<string, string> = { ...ctx.getHeaders(), Accept: 'application/json' };
      if (opts.body !== undefined) headers['Content-Type'] = opts.contentType ?? 'application/json';
      const res = await fetch(url, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        dispatcher: ctx.getDispatcher(),
        signal: AbortSignal.timeout(opts.timeoutMs ?? 60_000),
      });
      const text = await res.text();
      if (res.status < 200 || res.status > 299) throw apiError(res.status, text);
      return (text === '' ? undefined : JSON.parse(text)) as never;
    },
    watch: new k8s.Watch(config) as unknown as WatchTransport,
  };
}

/** A KubeApiError from a failed answer; the Status message is kept short (it may quote the request). */
export function apiError(code: number, body: string): KubeApiError {
  let reason = '';
  let message = `HTTP ${code}`;
  try {
    const status = JSON.parse(body) as { reason?: unknown; message?: unknown };
    if (typeof status.reason === 'string') reason = status.reason;
    if (typeof status.message === 'string') message = `HTTP ${code}: ${status.message.slice(0, 300)}`;
  } catch {
    // not a Status object (a proxy's HTML page): the code says enough
  }
  return new KubeApiError(code, reason, message);
}

/** The HTTP status of an API or watch error, when it has one. */
export function errorCode(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | undefined;
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return undefined;
}

/** One line about an error for logs and problems, never a response body. */
export function describeError(err: unknown): string {
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  const cause = (err as { cause?: { code?: unknown } })?.cause?.code;
  const text = `${message}${typeof cause === 'string' ? ` (${cause})` : ''}`;
  return (code !== undefined && !text.includes(String(code)) ? `HTTP ${code}: ${text}` : text).slice(0, 300);
}
