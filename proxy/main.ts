// Wiring of `turnout proxy`: stream client → DataPlane (apply → route), plus
// the admin port. The proxy serves its last applied snapshot for as long as the
// controller is unreachable; it never needs the controller to keep serving.
import { hostname } from 'node:os';
import { logLevel, UsageError, type FlagValues } from '../cli/flags.ts';
import { heapFlagsOf } from '../cli/heap.ts';
import { listenError, readFlagFile, readToken, type Running } from '../cli/startup.ts';
import { isLoopback } from '../lib/net.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import { startAdminServer } from './admin.ts';
import { DataPlane, type DataPlaneStatus } from './apply.ts';
import type { Http1Engine } from './servers.ts';
import type { SnapshotApplier } from './applier.ts';
import { WorkerSet } from './workers.ts';
import { StreamClient } from './stream/client.ts';
import { persistingApplier, restoreState, StateStore } from './state.ts';
import { RESYNC_NACK_CODES } from '../api/stream.ts';

/**
 * Logs the stream's lifecycle. Applies and refusals are logged by the
 * DataPlane; only deltas that did not fit never reach it, so they are logged here.
 */
export function logStream(client: StreamClient, log: Logger): void {
  client.on('connected', ({ url, protocol }) => log.info('connected to controller', { url, protocol }));
  client.on('disconnected', ({ code, reason, status, error, retryInMs }) =>
    log.warn('disconnected from controller; serving the last snapshot', { code, ...(status === undefined ? {} : { status }), reason, err: error, retryInMs }));
  client.on('nacked', ({ version, code, reason }) => {
    if (RESYNC_NACK_CODES.has(code)) log.info('delta did not fit; asked for a full snapshot', { version, code, reason });
  });
}

/** What serves traffic: one in-process DataPlane, or a supervisor of worker processes. */
export interface Serving {
  readonly applier: SnapshotApplier;
  status(): DataPlaneStatus;
  /** Drains every listener (and worker) within --drain-timeout. */
  close(): Promise<void>;
}

/**
 * The data plane of every command serving traffic, from its flags:
 * --workers 0 serves in this process, N forks N workers (workers.ts).
 */
export async function startServing(flags: FlagValues, log: Logger): Promise<Serving> {
  const drainTimeoutMs = flags['drain-timeout'] as number;
  const reusePort = flags['reuse-port'] as boolean;
  const count = flags.workers as number;
  const dns = { minTtlMs: flags['dns-min-ttl'] as number, maxTtlMs: flags['dns-max-ttl'] as number };
  const http1Engine = flags['http1-engine'] as Http1Engine;
  if (count === 0) {
    const plane = new DataPlane({ log, drainTimeoutMs, reusePort, dns, http1Engine });
    return { applier: plane, status: () => plane.status(), close: () => plane.close() };
  }
  if (!reusePort) throw new UsageError(`${flags.workers} workers share their ports with SO_REUSEPORT: --workers needs --reuse-port (or --workers 0)`);
  // Workers get the proxy's heap flags (cli/heap.ts), also under `turnout local`.
  const set = await WorkerSet.start({ count, config: { drainTimeoutMs, reusePort, dns, http1Engine, logLevel: logLevel(flags) }, execArgv: heapFlagsOf(flags), log });
  log.info('workers started', { workers: count, pids: set.pids() });
  // A little longer than the workers' own drain, so they cut and exit first.
  return { applier: set, status: () => set.status(), close: () => set.close(drainTimeoutMs + 5_000) };
}

/** `turnout proxy`. */
export async function runProxy(flags: FlagValues): Promise<Running> {
  const log = createLogger({ level: logLevel(flags), base: { component: 'proxy' } });
  const url = flags.controller as string;
  if (!/^wss?:\/\/[^/]+\/?$/.test(url)) throw new UsageError(`proxy: --controller must be wss://HOST:PORT (or ws:// to loopback), got ${JSON.stringify(url)}`);
  const { protocol, hostname: host } = new URL(url);
  if (protocol === 'ws:' && !isLoopback(host.replace(/^\[|\]$/g, ''))) {
    throw new UsageError(`proxy: --controller ${url} is not loopback: use wss:// so the token and private keys are encrypted`);
  }
  const ca = flags['controller-ca'] === undefined ? undefined : await readFlagFile(flags['controller-ca'] as string, '--controller-ca');
  // Read now so a missing or short token fails start-up; then again before
  // every connection, since a projected ServiceAccount token rotates.
  const tokenFile = flags['token-file'] as string;
  await readToken(tokenFile);
  const token = () => readToken(tokenFile);
  const stateDir = flags['state-dir'] as string | undefined;
  const state = stateDir === undefined ? undefined : await StateStore.open({ dir: stateDir, log });
  const plane = await startServing(flags, log);
  const adminAt = { address: flags['admin-bind'] as string, port: flags['admin-port'] as number };
  const admin = await startAdminServer({ source: plane, ...adminAt, log }).catch(async (err) => {
    await plane.close();
    throw listenError('--admin-port', adminAt.address, adminAt.port, err);
  });
  // Before the client starts, so the hello names the restored version and the
  // controller answers with a delta, or nothing when it has the same one.
  if (state) await restoreState(state, plane.applier, log);
  const client = new StreamClient({
    url, token, applier: state ? persistingApplier(plane.applier, state) : plane.applier, ...(ca ? { tls: { ca } } : {}),
    // Delta candidates as overlays (stream/overlay.ts): in-process serving and a worker supervisor alike (workers.ts copies them plain for a worker out of step).
    overlays: true,
    proxyId: (flags['proxy-id'] as string | undefined) ?? `${hostname()}-${process.pid}`,
  });
  logStream(client, log);
  client.start();
  log.info('proxy started', { controller: url, admin: `${admin.address}:${admin.port}`, ...(state ? { stateDir: state.dir } : {}) });
  return {
    async close() {
      // Admin last: /healthz and the counters stay up while the listeners drain.
      await client.close();
      log.info('draining', { timeoutMs: flags['drain-timeout'] });
      await plane.close();
      await state?.idle();
      await admin.close();
    },
  };
}
