// The small HTTP server behind every admin port (controller and proxy). It
// binds loopback by default because it is for the node (kubelet probes, an
// operator with port-forward), not for clients; it answers GET/HEAD on a fixed
// set of paths, and its pages never carry key material.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What one admin page answers. */
export interface AdminPage {
  readonly status: number;
  /** A string is sent as text/plain; anything else as indented JSON. */
  readonly body: unknown;
}

/** Admin pages by path, each computed per request. */
export type AdminRoutes = Readonly<Record<string, () => AdminPage>>;

/** Options of startAdminHttp. */
export interface AdminHttpOptions {
  readonly routes: AdminRoutes;
  /** 0 picks a free port (tests). */
  readonly port: number;
  /** Default 127.0.0.1. */
  readonly address?: string;
  readonly onError?: (err: unknown) => void;
}

/** A running admin server. */
export interface AdminHttp {
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Starts an admin server; rejects with the listen error (EADDRINUSE...) if it cannot bind. */
export async function startAdminHttp(options: AdminHttpOptions): Promise<AdminHttp> {
  // Tight limits: the admin port serves tiny pages to probes, nothing slow or big.
  const server = http.createServer({ headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000, maxHeaderSize: 8192 }, (req, res) => {
    try {
      answer(req, res, options.routes);
    } catch (err) {
      options.onError?.(err);
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
  server.on('error', (err) => options.onError?.(err));
  const a = server.address() as AddressInfo;
  return {
    address: a.address,
    port: a.port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

function answer(req: http.IncomingMessage, res: http.ServerResponse, routes: AdminRoutes): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return send(res, { status: 405, body: 'method not allowed\n' });
  }
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  const page = Object.hasOwn(routes, path) ? routes[path] : undefined;
  send(res, page ? page() : { status: 404, body: `not found; try ${Object.keys(routes).join(', ')}\n` });
}

function send(res: http.ServerResponse, page: AdminPage): void {
  const text = typeof page.body === 'string' ? page.body : `${JSON.stringify(page.body, null, 2)}\n`;
  res.writeHead(page.status, {
    'content-type': typeof page.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

/** The liveness page: the event loop answers. Says nothing about configuration. */
export const healthz = (): AdminPage => ({ status: 200, body: 'ok\n' });
