// Wiring of the controller, in pipeline order:
//   source → cache → build loop (compile) → snapshot store → stream server.
// No logic of its own beyond start-up order and reporting: each stage is
// built and tested in its own module.
import { randomBytes } from 'node:crypto';
import { DEFAULT_SECRET, type Listener, type Snapshot, type TlsSecret } from '../api/snapshot.ts';
import type { Running } from '../cli/startup.ts';
import { listenError, StartupError } from '../cli/startup.ts';
import { logLevel, UsageError, type FlagValues } from '../cli/flags.ts';
import { isCidr } from '../api/validate.ts';
import { ObjectCache } from './cache.ts';
import { compile } from './compile/builder.ts';
import { recompileEndpoints } from './compile/endpoints.ts';
import type { CompileResult, Condition } from './compile/types.ts';
import { generateDefaultCertificate, loadKeyPair } from './default-cert.ts';
import { TurnoutError } from './errors.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import { BuildLoop } from './loop.ts';
import { SnapshotStore } from './snapshot/store.ts';
import { formatProblem, type Source, type SourceProblem } from './sources/source.ts';
import { ManifestSource } from './sources/manifests.ts';
import { StreamServer, type StreamTls } from './stream/server.ts';
import type { Authenticator } from './stream/auth.ts';
import { streamAuthFromFlags } from './stream/auth-flags.ts';
import { isLoopback } from '../lib/net.ts';
import { startControllerAdmin } from './admin.ts';
import { sourceMode } from './kube-flags.ts';

/** Everything the controller needs, already validated (the CLI builds it from flags). */
export interface ControllerConfig {
  /** The manifest folder; or give `source` (the Kubernetes source), exactly one of the two. */
  readonly manifests?: string;
  readonly source?: Source;
  readonly ingressClass: string;
  readonly listeners: Readonly<Record<string, Listener>>;
  readonly defaultCertificate: TlsSecret;
  readonly defaultTimeoutMs: number;
  /** --enable-external-name (CompileOptions.externalNames). */
  readonly externalNames?: boolean;
  /** `token` (shared) or `auth` (e.g. ServiceAccount TokenReviews) decides who may connect. */
  readonly stream: { readonly host: string; readonly port: number; readonly token?: string; readonly auth?: Authenticator; readonly tls?: StreamTls };
  readonly log: Logger;
}

/** A running controller: its stages, for the admin page and for local mode. */
export class Controller {
  readonly cache = new ObjectCache();
  readonly store = new SnapshotStore();
  readonly source: Source;
  readonly loop: BuildLoop;
  readonly stream: StreamServer;
  #conditions: ReadonlyMap<string, readonly Condition[]> = new Map();
  readonly #log: Logger;
  readonly #resultListeners = new Set<(result: CompileResult) => void>();

  private constructor(cfg: ControllerConfig) {
    this.#log = cfg.log;
    if ((cfg.source === undefined) === (cfg.manifests === undefined)) {
      throw new TurnoutError('INVALID_ARGUMENT', 'the controller needs exactly one source: manifests or source');
    }
    this.source = cfg.source ?? new ManifestSource({ dir: cfg.manifests!, log: cfg.log });
    this.loop = new BuildLoop({
      cache: this.cache,
      compile,
      compileEndpoints: (input, previous) => recompileEndpoints(input, previous, cfg.externalNames === true),
      store: this.store,
      options: {
        ingressClass: cfg.ingressClass,
        listeners: cfg.listeners,
        defaultCertificate: cfg.defaultCertificate,
        defaultTimeoutMs: cfg.defaultTimeoutMs,
        externalNames: cfg.externalNames === true,
      },
      onResult: (result) => this.#onResult(result),
      log: cfg.log,
    });
    this.stream = new StreamServer({ ...cfg.stream, store: this.store, log: cfg.log });
  }

  /**
   * Starts every stage in pipeline order: the stream listens first (so a port
   * in use fails fast), the source syncs fully before the first build (so no
   * proxy is handed a snapshot with routes missing), then the loop builds.
   */
  static async start(cfg: ControllerConfig): Promise<Controller> {
    const c = await Controller.listen(cfg);
    await c.sync();
    return c;
  }

  /**
   * The first half of start(): the stream listens, nothing is published yet.
   * Lets the caller serve /healthz and /readyz (503) while a cluster source
   * syncs, which can take long (or forever, without RBAC).
   */
  static async listen(cfg: ControllerConfig): Promise<Controller> {
    const c = new Controller(cfg);
    try {
      await c.stream.listen();
    } catch (err) {
      throw listenError('the snapshot stream', cfg.stream.host, cfg.stream.port, err);
    }
    c.source.onProblems((problems) => c.#reportProblems(problems));
    return c;
  }

  /** The second half of start(): the source syncs fully, then the loop builds and publishes the first snapshot. */
  async sync(): Promise<void> {
    try {
      await this.source.start(this.cache);
    } catch (err) {
      await this.stream.close();
      if (err instanceof TurnoutError && err.code === 'MANIFEST_DIR_NOT_FOUND') throw new StartupError(err.message);
      throw err;
    }
    this.#reportProblems(this.source.problems());
    this.loop.start();
    await this.loop.firstSnapshot();
  }

  /** The newest published snapshot. */
  get snapshot(): Snapshot | undefined {
    return this.store.current;
  }

  /** Conditions of the last compile, keyed "Kind/namespace/name". */
  get conditions(): ReadonlyMap<string, readonly Condition[]> {
    return this.#conditions;
  }

  /** Calls `listener` with every compile result (the status writer); returns an unsubscribe function. */
  onResult(listener: (result: CompileResult) => void): () => void {
    this.#resultListeners.add(listener);
    return () => void this.#resultListeners.delete(listener);
  }

  /** Stops watching and streaming; proxies keep serving their last snapshot. */
  async close(): Promise<void> {
    this.loop.close();
    await this.source.close();
    await this.stream.close();
  }

  // Logs condition changes only: a stable problem is reported once, not on every build.
  #onResult(result: CompileResult): void {
    const before = this.#conditions;
    this.#conditions = result.conditions;
    for (const l of [...this.#resultListeners]) {
      try {
        l(result);
      } catch (err) {
        this.#log.error('a compile result listener threw', { err });
      }
    }
    for (const [obj, conds] of result.conditions) {
      // The same list (incremental builds keep unchanged objects' conditions, and
      // objects served without problems share one): nothing to compare.
      const was = before.get(obj);
      if (was === conds) continue;
      if (JSON.stringify(was ?? []) === JSON.stringify(conds)) continue;
      for (const c of conds) {
        const bad = (c.type === 'Accepted' || c.type === 'ResolvedRefs') ? c.status === 'False' : c.status === 'True';
        if (bad) this.#log.warn(`${obj}: ${c.type}=${c.status} ${c.reason}: ${c.message}`);
      }
    }
  }

  #reportProblems(problems: readonly SourceProblem[]): void {
    for (const p of problems) this.#log[p.severity === 'error' ? 'error' : 'warn'](formatProblem(p));
  }
}

/** `turnout controller`: reads the flags, loads the token and certificate, starts, serves admin. */
export async function runController(flags: FlagValues): Promise<Running> {
  const log = createLogger({ level: logLevel(flags), base: { component: 'controller' } });
  const streamAuth = await streamAuthFromFlags(flags);
  const streamBind = flags['stream-bind'] as string;
  const streamTls = await keyPairFlags(flags, 'stream-cert', 'stream-key');
  if (streamTls === undefined && !isLoopback(streamBind)) {
    throw new StartupError(`--stream-bind ${streamBind} without --stream-cert/--stream-key would send private keys and the token in cleartext`);
  }
  if (flags['default-cert'] === undefined) {
    // Versions are content hashes: each process's own self-signed certificate
    // gives it different versions, so proxies would re-apply everything when
    // they move between replicas or the controller restarts.
    log.warn('no --default-cert: using a self-signed certificate generated now; give replicas the same one');
  }
  // Kubernetes mode: the source, and (once started) the status writer under leader election.
  const kube = sourceMode(flags) === 'kubernetes' ? await (await import('./kube-mode.ts')).prepareKube(flags, log) : undefined;
  const controller = await Controller.listen({
    ...(kube ? { source: kube.source } : { manifests: flags.manifests as string }),
    ingressClass: flags['ingress-class'] as string,
    listeners: proxyListeners(flags['listen-address'] as string, flags['http-port'] as number, flags['https-port'] as number, edgeFlags(flags)),
    defaultCertificate: await defaultCertificate(flags),
    defaultTimeoutMs: flags['upstream-timeout'] as number,
    externalNames: flags['enable-external-name'] === true,
    stream: { host: streamBind, port: flags['stream-port'] as number, ...streamAuth, ...(streamTls ? { tls: streamTls } : {}) },
    log,
  });
  // Admin first: /healthz answers and /readyz says 503 while the sources sync.
  const adminAt = { host: flags['admin-bind'] as string, port: flags['admin-port'] as number };
  const admin = await startControllerAdmin(controller, adminAt, (err) => log.error('admin server error', { err })).catch(async (err) => {
    await controller.close();
    throw listenError('--admin-port', adminAt.host, adminAt.port, err);
  });
  try {
    await controller.sync();
  } catch (err) {
    await admin.close();
    await controller.close();
    throw err;
  }
  const stopKube = kube?.attach(controller);
  log.info('controller ready', { stream: `${flags['stream-bind']}:${controller.stream.port}`, admin: `${flags['admin-bind']}:${admin.port}` });
  return {
    async close() {
      await admin.close();
      await stopKube?.(); // releases the Lease, so another replica takes over at once
      await controller.close();
    },
  };
}

/** The listeners every proxy opens: one HTTP and one HTTPS port. */
export function proxyListeners(address: string, httpPort: number, httpsPort: number, edge: EdgeOptions = {}): Record<string, Listener> {
  if (httpPort === httpsPort) throw new StartupError(`--http-port and --https-port are both ${httpPort}`);
  const client = {
    ...(edge.proxyProtocol ? { proxyProtocol: true } : {}),
    ...(edge.trustedProxies !== undefined && edge.trustedProxies.length > 0 ? { trustedProxies: edge.trustedProxies } : {}),
  };
  return {
    http: { protocol: 'http', address, port: httpPort, ...client },
    https: { protocol: 'https', address, port: httpsPort, defaultSecret: DEFAULT_SECRET, ...client },
  };
}

/** How the proxies learn the client's address behind a load balancer (--proxy-protocol, --trusted-proxies). */
export interface EdgeOptions {
  readonly proxyProtocol?: boolean;
  readonly trustedProxies?: readonly string[];
}

/** --proxy-protocol and --trusted-proxies, checked; a bad CIDR is a UsageError naming the flag. */
export function edgeFlags(flags: FlagValues): EdgeOptions {
  const raw = flags['trusted-proxies'] as string | undefined;
  const trustedProxies = raw === undefined ? [] : raw.split(',').map((c) => c.trim()).filter((c) => c !== '');
  const bad = trustedProxies.find((c) => !isCidr(c));
  if (bad !== undefined) throw new UsageError(`--trusted-proxies: ${JSON.stringify(bad)} is not an IP address or a CIDR (e.g. 10.0.0.0/8)`);
  return { proxyProtocol: flags['proxy-protocol'] === true, trustedProxies };
}

/** --default-cert/--default-key, or a certificate self-signed now. */
export async function defaultCertificate(flags: FlagValues): Promise<TlsSecret> {
  return (await keyPairFlags(flags, 'default-cert', 'default-key')) ?? generateDefaultCertificate();
}

/** A certificate and key given by a pair of flags, both or neither; undefined for neither. */
async function keyPairFlags(flags: FlagValues, certFlag: string, keyFlag: string): Promise<TlsSecret | undefined> {
  const cert = flags[certFlag] as string | undefined;
  const key = flags[keyFlag] as string | undefined;
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) throw new StartupError(`--${certFlag} and --${keyFlag} must be given together`);
  return loadKeyPair(cert, key, `--${certFlag}`, `--${keyFlag}`).catch((err: Error) => {
    throw new StartupError(err.message);
  });
}

/** A fresh random token for local mode, where controller and proxy share a process. */
export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}
