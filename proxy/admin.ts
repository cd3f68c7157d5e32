// The admin server: health, readiness and a summary of what is being served.
// It binds loopback by default because it is for the node (kubelet probes,
// an operator with port-forward), not for clients. It never shows keys,
// certificates, endpoints or routes: counts and the version only.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DataPlaneStatus } from './apply.ts';
import type { Logger } from './log.ts';
import { errorFields, silentLogger } from './log.ts';

/** Options of startAdminServer. */
export interface AdminOptions {
  /** Where the status comes from: a DataPlane, or anything with status(). */
  readonly source: { status(): DataPlaneStatus };
  /** `--admin-port`; 0 picks a free port (tests). */
  readonly port: number;
  /** Address to bind. Default 127.0.0.1. */
  readonly address?: string;
  /**
   * Extra routes (e.g. `/conditions` in local mode): called first for every
   * request; return true when it answered.
   */
  readonly extraRoutes?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
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

/** Starts the admin server; rejects if it cannot bind. */
export async function startAdminServer(options: AdminOptions): Promise<AdminServer> {
  const log = options.log ?? silentLogger;
  const server = http.createServer({ headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000 }, (req, res) => {
    try {
      if (options.extraRoutes?.(req, res)) return;
      handle(req, res, options.source.status());
    } catch (err) {
      log.error('admin request failed', errorFields(err));
      if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
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

function handle(req: http.IncomingMessage, res: http.ServerResponse, status: DataPlaneStatus): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return send(res, 405, 'text/plain', 'method not allowed\n');
  }
  const path = (req.url ?? '/').split('?')[0];
  switch (path) {
    case '/healthz':
      // Liveness: the event loop answers. Says nothing about configuration.
      return send(res, 200, 'text/plain', 'ok\n');
    case '/readyz':
      // Ready once a snapshot is served: before that every request would be 503.
      return status.version === undefined
        ? send(res, 503, 'text/plain', 'no snapshot applied\n')
        : send(res, 200, 'text/plain', 'ok\n');
    case '/snapshot':
      return send(res, 200, 'application/json', `${JSON.stringify(snapshotSummary(status), null, 2)}\n`);
    default:
      return send(res, 404, 'text/plain', 'not found\n');
  }
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

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, {
    'content-type': `${type}; charset=utf-8`,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}
