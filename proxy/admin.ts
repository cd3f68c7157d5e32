// The proxy's admin pages: health, readiness and a summary of what is being
// served, mounted on the shared admin server (lib/admin-server.ts). They never
// show keys, certificates, endpoints or routes: the version, the listeners and counts.
import { healthz, startAdminHttp } from '../lib/admin-server.ts';
import type { AdminHttp, AdminRoutes } from '../lib/admin-server.ts';
import type { DataPlaneStatus } from './apply.ts';
import type { Logger } from '../lib/log.ts';
import { errorFields, silentLogger } from '../lib/log.ts';

/** Options of startAdminServer. */
export interface AdminOptions {
  /** Where the status comes from: a DataPlane, or anything with status(). */
  readonly source: { status(): DataPlaneStatus };
  /** `--admin-port`; 0 picks a free port (tests). */
  readonly port: number;
  /** Address to bind. Default 127.0.0.1. */
  readonly address?: string;
  /** More pages, e.g. `/status` in local mode; they cannot replace the proxy's own. */
  readonly extraRoutes?: AdminRoutes;
  readonly log?: Logger;
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

/** Starts the proxy's admin server; rejects with the listen error (EADDRINUSE...) if it cannot bind. */
export function startAdminServer(options: AdminOptions): Promise<AdminHttp> {
  const log = options.log ?? silentLogger;
  return startAdminHttp({
    routes: { ...options.extraRoutes, ...proxyAdminRoutes(options.source) },
    port: options.port,
    address: options.address,
    onError: (err) => log.error('admin server error', errorFields(err)),
  });
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
    longLived: status.longLived,
  };
}
