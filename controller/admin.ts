// The controller's admin pages: what it publishes, what it found wrong in its
// input, and which proxies are connected. `/status` is also mounted on the
// proxy's admin port in local mode, where there is no kubectl to show status.
import { snapshotCounts } from '../api/snapshot.ts';
import { healthz, startAdminHttp, type AdminHttp, type AdminPage } from '../lib/admin-server.ts';
import type { Controller } from './main.ts';
import { withProgrammed } from './programmed.ts';

/**
 * `/status`: every object with its conditions from the last compile plus
 * Programmed (joined from the connected proxies), and the sources' problems.
 */
export function statusPage(controller: Controller): () => AdminPage {
  return () => ({
    status: 200,
    body: {
      version: controller.snapshot?.version ?? null,
      problems: controller.source.problems(),
      objects: Object.fromEntries(withProgrammed(controller.conditions, controller.stream.sessions(), (v) => controller.store.get(v))),
    },
  });
}

/** Starts the controller's admin server. */
export function startControllerAdmin(controller: Controller, at: { host: string; port: number }, onError?: (err: unknown) => void): Promise<AdminHttp> {
  return startAdminHttp({
    address: at.host,
    port: at.port,
    onError,
    routes: {
      '/healthz': healthz,
      // Ready once every source kind synced and a snapshot is published: proxies connecting before would wait.
      '/readyz': () => (!controller.source.synced ? { status: 503, body: 'sources not synced\n' }
        : controller.snapshot ? { status: 200, body: 'ok\n' } : { status: 503, body: 'no snapshot published\n' }),
      '/snapshot': () => {
        const s = controller.snapshot;
        return { status: 200, body: s ? { version: s.version, ...snapshotCounts(s) } : { version: null } };
      },
      '/status': statusPage(controller),
      '/proxies': () => ({ status: 200, body: controller.stream.sessions() }),
    },
  });
}
