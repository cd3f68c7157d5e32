// `turnout local`: a controller and a proxy in one process, joined by the same
// websocket stream a cluster uses (loopback, random per-run token), so local
// mode exercises exactly the code paths of a deployment.
import { logLevel, type FlagValues } from './flags.ts';
import { listenError, StartupError, type Running } from './startup.ts';
import { Controller, defaultCertificate, edgeFlags, proxyListeners, randomToken } from '../controller/main.ts';
import { statusPage } from '../controller/admin.ts';
import { startAdminServer } from '../proxy/admin.ts';
import { StreamClient } from '../proxy/stream/client.ts';
import { logStream, startServing } from '../proxy/main.ts';
import { createLogger } from '../lib/log.ts';

/** Starts local mode; resolves once the first snapshot is served, rejects with a StartupError otherwise. */
export async function runLocal(flags: FlagValues): Promise<Running> {
  const level = logLevel(flags);
  const plog = createLogger({ level, base: { component: 'proxy' } });
  const clog = createLogger({ level, base: { component: 'controller' } });
  const bind = flags.bind as string;
  const token = randomToken();

  const controller = await Controller.start({
    manifests: flags.manifests as string,
    ingressClass: flags['ingress-class'] as string,
    listeners: proxyListeners(bind, flags['http-port'] as number, flags['https-port'] as number, edgeFlags(flags)),
    defaultCertificate: await defaultCertificate(flags),
    defaultTimeoutMs: flags['upstream-timeout'] as number,
    externalNames: flags['enable-external-name'] === true,
    stream: { host: '127.0.0.1', port: 0, token },
    log: clog,
  });
  const plane = await startServing(flags, plog).catch(async (err) => {
    await controller.close();
    throw err;
  });
  const cleanup: Array<() => Promise<void>> = [() => controller.close(), () => plane.close()];
  const closeAll = async () => {
    for (const fn of cleanup.reverse()) await fn().catch(() => {});
  };

  try {
    const adminPort = flags['admin-port'] as number;
    const admin = await startAdminServer({ source: plane, port: adminPort, address: bind, extraRoutes: { '/status': statusPage(controller) }, log: plog })
      .catch((err) => { throw listenError('--admin-port', bind, adminPort, err); });
    cleanup.push(() => admin.close());

    const client = new StreamClient({ url: `ws://127.0.0.1:${controller.stream.port}`, token, proxyId: 'local', applier: plane.applier });
    cleanup.push(() => client.close());
    logStream(client, plog);
    await firstApply(client);
    const l = plane.status().listeners;
    plog.info('serving', { listeners: Object.values(l).map((x) => `${x.protocol}://${x.address}:${x.port}`), admin: `http://${bind}:${admin.port}` });
  } catch (err) {
    await closeAll();
    throw err;
  }
  return { close: closeAll };
}

// The first snapshot decides whether start-up worked: a listener that cannot
// bind (port in use) is a NACK, which local mode turns into exit status 2.
function firstApply(client: StreamClient): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      client.off('applied', onApplied);
      client.off('nacked', onNacked);
    };
    const onApplied = () => { done(); resolve(); };
    const onNacked = (e: { code: string; reason: string }) => {
      done();
      reject(new StartupError(e.code === 'LISTENER_BIND_FAILED' ? e.reason : `first snapshot refused: ${e.code}: ${e.reason}`));
    };
    client.on('applied', onApplied);
    client.on('nacked', onNacked);
    client.start();
  });
}
