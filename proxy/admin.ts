// The proxy's admin server: health, readiness and a summary of what is being
// served. It binds loopback by default because it is for the node (kubelet
// probes, an operator with port-forward), not for clients. It never shows keys,
// certificates, endpoints or routes: the version, the listeners and counts.
//
// Pages use the AdminPage shape of lib/admin-server.ts, so they can also be
// mounted on that shared server (proxyAdminRoutes). This server exists besides
// it for one reason: `extraRoutes` may be a raw `(req, res) => boolean` hook.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { healthz } from '../lib/admin-server.ts';
import type { AdminPage, AdminRoutes } from '../lib/admin-server.ts';
import type { DataPlaneStatus } from './apply.ts';
import type { Logger } from './log.ts';
import { errorFields, silentLogger } from './log.ts';

/** A raw extra handler: return true when it answered the request. */
export type AdminHook = (req: http.IncomingMessage, res: http.ServerResponse) => boolean;

/** Options of startAdminServer. */
export interface AdminOptions {
  /** Where the status comes from: a DataPlane, or anything with status(). */
  readonly source: { status(): DataPlaneStatus };
  /** `--admin-port`; 0 picks a free port (tests). */
  readonly port: number;
  /** Address to bind. Default 127.0.0.1. */
  readonly address?: string;
  /**
   * More pages, e.g. `/conditions` in local mode: a map of pages (they cannot
   * replace the proxy's own), or a hook called first for every request.
   */
  readonly extraRoutes?: AdminRoutes | AdminHook;
  readonly log?: Logger;
}

/** A running admin server. */
export interface AdminServer {
  readonly server: http.Server;
  readonly address: string;
  /** The bound port (useful with port 0). */
  readonly port: number;
  close(): Promise<void>;
}

/** The proxy's pages over a status source, for this server or lib/admin-server.ts. */
export function proxyAdminRoutes(source: { status(): DataPlaneStatus }): AdminRoutes {
  return {
    '/healthz': healthz,
    // Ready once a snapshot is served: before that every request would be 503.
    '/readyz': () => source.status().version === undefined
      ? { status: 503, body: 'no snapshot applied\n' }
      : { status: 200, body: 'ok\n' },
    '/snapshot': () => ({ status: 200, body: snapshotSummary(source.status()) }),
  };
}

/** Starts the admin server; rejects with the listen error (EADDRINUSE...) if it cannot bind. */
export async function startAdminServer(options: AdminOptions): Promise<AdminServer> {
  const log = options.log ?? silentLogger;
  const extra = options.extraRoutes;
  const hook = typeof extra === 'function' ? extra : undefined;
  const routes: AdminRoutes = { ...(typeof extra === 'object' ? extra : {}), ...proxyAdminRoutes(options.source) };
  // Tight limits: the admin port serves tiny pages to probes, nothing slow or big.
  const server = http.createServer({ headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000, maxHeaderSize: 8192 }, (req, res) => {
    try {
      if (hook?.(req, res)) return;
      answer(req, res, routes);
    } catch (err) {
      log.error('admin request failed', errorFields(err));
      if (!res.headersSent) send(res, { status: 500, body: 'internal error\n' });
      else res.destroy();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.address ?? '127.0.0.1', port: options.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.error('admin server error', errorFields(err)));
  const a = server.address() as AddressInfo;
  return {
    server,
    address: a.address,
    port: a.port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** The `/snapshot` document: version, time, listeners and counts only. */
export function snapshotSummary(status: DataPlaneStatus): Record<string, unknown> {
  const c = status.counts;
  return {
    version: status.version ?? null,
    appliedAt: status.appliedAt?.toISOString() ?? null,
    listeners: status.listeners,
    virtualHosts: c?.virtualHosts ?? 0,
    routes: c?.routes ?? 0,
    clusters: c?.clusters ?? 0,
    endpoints: c?.endpoints ?? 0,
    secrets: c?.secrets ?? 0,
    upstreamPools: status.upstreamPools,
  };
}

function answer(req: http.IncomingMessage, res: http.ServerResponse, routes: AdminRoutes): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return send(res, { status: 405, body: 'method not allowed\n' });
  }
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  const page = Object.hasOwn(routes, path) ? routes[path] : undefined;
  send(res, page ? page() : { status: 404, body: 'not found\n' });
}

// Same rendering as lib/admin-server.ts: strings as text, anything else as JSON.
function send(res: http.ServerResponse, page: AdminPage): void {
  const text = typeof page.body === 'string' ? page.body : `${JSON.stringify(page.body, null, 2)}\n`;
  res.writeHead(page.status, {
    'content-type': typeof page.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}
