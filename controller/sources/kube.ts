// The Kubernetes source: one supervised informer per kind the compiler reads
// (Ingress, IngressClass, Service, EndpointSlice, TLS Secrets, Routes),
// writing normalised objects into the same ObjectCache the manifest folder
// feeds. `synced` turns true only when EVERY informer has listed once, so a
// restarting controller never publishes a snapshot with routes missing.
//
// Objects are cached without their status, resourceVersion and managedFields:
// those change on every status write and kubectl apply without changing what
// is served, and the cache's content hash then dedupes them (no rebuild, no
// status-write feedback loop). The status half (resourceVersion, generation,
// status) of Ingresses and Routes is kept aside, for the status writer to
// compare against.
import type { ObjectCache } from '../cache.ts';
import { objectKey } from '../cache.ts';
import { createLogger, type Logger } from '../../lib/log.ts';
import { TurnoutError } from '../errors.ts';
import type { KubeClient } from '../k8s/client.ts';
import type { KubeObject } from '../k8s/types.ts';
import { shapeProblem } from '../k8s/shape.ts';
import { SupervisedInformer, type InformerSpec, type SupervisedInformerOptions } from './kube-informer.ts';
import type { Source, SourceProblem } from './source.ts';

/** One watched kind: where it lives in the API and what its objects are called. */
interface KindSpec {
  readonly kind: string;
  readonly apiVersion: string;
  /** "/api/v1" or "/apis/GROUP/VERSION". */
  readonly prefix: string;
  readonly resource: string;
  readonly namespaced: boolean;
  readonly fieldSelector?: string;
}

/** Every kind the source watches. Secrets are only TLS Secrets: the rest are none of our business and may be large. */
export const WATCHED_KINDS: readonly KindSpec[] = [
  { kind: 'Ingress', apiVersion: 'networking.k8s.io/v1', prefix: '/apis/networking.k8s.io/v1', resource: 'ingresses', namespaced: true },
  { kind: 'IngressClass', apiVersion: 'networking.k8s.io/v1', prefix: '/apis/networking.k8s.io/v1', resource: 'ingressclasses', namespaced: false },
  { kind: 'Service', apiVersion: 'v1', prefix: '/api/v1', resource: 'services', namespaced: true },
  { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', prefix: '/apis/discovery.k8s.io/v1', resource: 'endpointslices', namespaced: true },
  { kind: 'Secret', apiVersion: 'v1', prefix: '/api/v1', resource: 'secrets', namespaced: true, fieldSelector: 'type=kubernetes.io/tls' },
  { kind: 'Route', apiVersion: 'turnout.dev/v1alpha1', prefix: '/apis/turnout.dev/v1alpha1', resource: 'routes', namespaced: true },
];

/** The collection path of a kind, cluster-wide or in one namespace. */
export function collectionPath(spec: Pick<KindSpec, 'prefix' | 'resource' | 'namespaced'>, namespace?: string): string {
  return spec.namespaced && namespace !== undefined
    ? `${spec.prefix}/namespaces/${encodeURIComponent(namespace)}/${spec.resource}`
    : `${spec.prefix}/${spec.resource}`;
}

/** What the API server last said about an object's status (the status writer diffs against it). */
export interface ObservedStatus {
  readonly uid?: string;
  readonly resourceVersion?: string;
  readonly generation?: number;
  readonly status?: any;
}

/** Annotation kubectl apply stores the whole previous object in: noise, and large. */
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * The cached form of an API object: kind and apiVersion set (list items lack
 * them), and the fields that change without changing what is served removed:
 * status, resourceVersion, managedFields, selfLink, the last-applied annotation.
 */
export function normalise(obj: any, kind: string, apiVersion: string): KubeObject {
  const { status: _status, metadata, ...rest } = obj ?? {};
  const { managedFields: _m, resourceVersion: _rv, selfLink: _s, ...meta } = metadata ?? {};
  if (meta.annotations && LAST_APPLIED in meta.annotations) {
    const { [LAST_APPLIED]: _a, ...annotations } = meta.annotations;
    meta.annotations = annotations;
  }
  return { ...rest, apiVersion, kind, metadata: meta };
}

/** Options of KubeSource. */
export interface KubeSourceOptions {
  readonly client: Pick<KubeClient, 'request' | 'watch'>;
  /** Watch one namespace only (IngressClasses are cluster-scoped and always watched). */
  readonly namespace?: string;
  /** Passed to every informer (backoff, watchdog, clock). */
  readonly informer?: Partial<Pick<SupervisedInformerOptions, 'initialBackoffMs' | 'maxBackoffMs' | 'watchdogMs' | 'listTimeoutMs' | 'now' | 'random'>>;
  readonly log?: Logger;
}

/** The Kubernetes Source. See the module comment. */
export class KubeSource implements Source {
  readonly name: string;
  readonly informers: readonly SupervisedInformer[];
  readonly #log: Logger;
  readonly #listeners = new Set<(problems: readonly SourceProblem[]) => void>();
  readonly #statusListeners = new Set<(key: string) => void>();
  /** objectKey → observed status, for Ingresses and Routes. */
  readonly #observed = new Map<string, ObservedStatus>();
  /** objectKey → why the object was refused (wrong shape). */
  readonly #invalid = new Map<string, string>();
  #problems: readonly SourceProblem[] = [];
  #cache: ObjectCache | undefined;
  #synced = false;
  #closed = false;

  constructor(opts: KubeSourceOptions) {
    this.name = opts.namespace === undefined ? 'kubernetes' : `kubernetes:${opts.namespace}`;
    this.#log = opts.log ?? createLogger({ level: 'warn' });
    this.informers = WATCHED_KINDS.map((k) => {
      const spec: InformerSpec = { name: k.kind, path: collectionPath(k, opts.namespace), ...(k.fieldSelector ? { fieldSelector: k.fieldSelector } : {}) };
      const inf = new SupervisedInformer({
        ...opts.informer,
        spec,
        client: opts.client,
        log: this.#log,
        handlers: {
          upsert: (obj) => this.#upsert(k, obj),
          remove: (obj) => this.#remove(k, obj),
          resynced: (objs) => this.#resync(k, objs),
        },
      });
      inf.onErrorChange(() => this.#publishProblems());
      return inf;
    });
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** Starts every informer; resolves once all have listed (retrying errors meanwhile, so possibly never). */
  async start(cache: ObjectCache): Promise<void> {
    if (this.#cache !== undefined) throw new TurnoutError('INVALID_ARGUMENT', `${this.name} was already started`);
    this.#cache = cache;
    for (const inf of this.informers) inf.start();
    await Promise.all(this.informers.map((inf) => inf.whenSynced()));
    if (!this.#closed) this.#synced = true;
  }

  /** The status the API server last reported for an Ingress or Route ("Kind/ns/name"). */
  observed(key: string): ObservedStatus | undefined {
    return this.#observed.get(key);
  }

  /** Calls `listener` with the key of every Ingress/Route whose observed status (or presence) changed. */
  onObservedChange(listener: (key: string) => void): () => void {
    this.#statusListeners.add(listener);
    return () => void this.#statusListeners.delete(listener);
  }

  problems(): readonly SourceProblem[] {
    return this.#problems;
  }

  onProblems(listener: (problems: readonly SourceProblem[]) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.informers.map((inf) => inf.close()));
  }

  #upsert(k: KindSpec, raw: any): void {
    const obj = normalise(raw, k.kind, k.apiVersion);
    const key = objectKey(k.kind, obj.metadata.namespace, obj.metadata.name);
    if (k.kind === 'Ingress' || k.kind === 'Route') {
      this.#setObserved(key, { uid: raw?.metadata?.uid, resourceVersion: raw?.metadata?.resourceVersion, generation: raw?.metadata?.generation, status: raw?.status });
    }
    // The API server validated it, but a CRD schema may be older than this controller.
    const problem = shapeProblem(k.kind, obj);
    if (problem !== undefined) {
      this.#cache!.remove(k.kind, obj.metadata.namespace, obj.metadata.name);
      if (this.#invalid.get(key) !== problem) {
        this.#invalid.set(key, problem);
        this.#publishProblems();
      }
      return;
    }
    if (this.#invalid.delete(key)) this.#publishProblems();
    this.#cache!.upsert(obj);
  }

  #remove(k: KindSpec, raw: any): void {
    const ns = raw?.metadata?.namespace;
    const name = raw?.metadata?.name;
    if (typeof name !== 'string') return;
    const key = objectKey(k.kind, ns, name);
    this.#cache!.remove(k.kind, ns, name);
    if (this.#observed.delete(key)) this.#emitObserved(key);
    if (this.#invalid.delete(key)) this.#publishProblems();
  }

  /** After a list: drop what this kind had cached but the list no longer has (deleted while not watching). */
  #resync(k: KindSpec, objs: readonly any[]): void {
    const cache = this.#cache!;
    const listed = new Set(objs.map((o) => objectKey(k.kind, o?.metadata?.namespace, o?.metadata?.name)));
    cache.batch(() => {
      for (const key of cache.keys()) {
        if (!key.startsWith(`${k.kind}/`) || listed.has(key)) continue;
        const parts = key.split('/');
        const [ns, name] = parts.length === 2 ? [undefined, parts[1]!] : [parts[1], parts[2]!];
        cache.remove(k.kind, ns, name);
      }
    });
    for (const key of [...this.#observed.keys()]) {
      if (key.startsWith(`${k.kind}/`) && !listed.has(key)) {
        this.#observed.delete(key);
        this.#emitObserved(key);
      }
    }
  }

  #setObserved(key: string, next: ObservedStatus): void {
    const prev = this.#observed.get(key);
    this.#observed.set(key, next);
    if (prev?.resourceVersion !== next.resourceVersion) this.#emitObserved(key);
  }

  #emitObserved(key: string): void {
    for (const l of [...this.#statusListeners]) l(key);
  }

  #publishProblems(): void {
    const problems: SourceProblem[] = [];
    for (const inf of this.informers) {
      if (inf.lastError !== undefined) {
        problems.push({ code: 'KUBE_WATCH_FAILED', severity: 'error', message: `${inf.spec.name} (${inf.spec.path}): ${inf.lastError}` });
      }
    }
    for (const [key, why] of [...this.#invalid].sort()) {
      problems.push({ code: 'KUBE_INVALID_OBJECT', severity: 'error', object: key, message: `${key} is ignored: ${why}` });
    }
    this.#problems = Object.freeze(problems);
    for (const l of [...this.#listeners]) l(this.#problems);
  }
}
