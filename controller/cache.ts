// The object cache between the sources (manifest folder, Kubernetes informers)
// and the compiler. Sources write objects in; the build loop reads one
// consistent view out. Like Contour's KubernetesCache, `upsert` says whether a
// rebuild is needed, so unchanged objects (a relist, an editor saving the same
// bytes) never trigger a compile.
import { createHash } from 'node:crypto';
import { canonicalJson, deepFreeze } from '../api/version.ts';
import type { CompileInput } from './compile/types.ts';
import type { EndpointSlice, Ingress, IngressClass, KubeObject, Route, Secret, Service } from './k8s/types.ts';
import { TurnoutError } from './errors.ts';
import { lowerBound } from '../lib/sorted.ts';

/** The kinds the compiler reads; everything else is the caller's to ignore and report. */
export const CACHED_KINDS = ['Ingress', 'IngressClass', 'Service', 'EndpointSlice', 'Secret', 'Route'] as const;

/** One of CACHED_KINDS. */
export type CachedKind = (typeof CACHED_KINDS)[number];

/** Kinds without a namespace; every other cached kind defaults to "default". */
const CLUSTER_SCOPED: ReadonlySet<string> = new Set(['IngressClass']);

/** Lets a source filter (and report) objects before handing them to the cache, which throws on others. */
export function isCachedKind(kind: unknown): kind is CachedKind {
  return typeof kind === 'string' && (CACHED_KINDS as readonly string[]).includes(kind);
}

/**
 * "Kind/namespace/name" (or "Kind/name" for cluster-scoped kinds): the identity
 * used by the cache, by problem reports and by the compiler's condition keys.
 */
export function objectKey(kind: string, namespace: string | undefined, name: string): string {
  return CLUSTER_SCOPED.has(kind) ? `${kind}/${name}` : `${kind}/${namespace || 'default'}/${name}`;
}

/** What a change listener is told: enough to log or debug, the view itself comes from inputs(). */
export interface CacheChange {
  /** Increases by one per notification. */
  readonly generation: number;
  /** objectKey() of every object added, changed or removed since the last notification. */
  readonly keys: readonly string[];
}

interface Entry {
  readonly obj: KubeObject;
  readonly hash: string;
}

/**
 * Holds the latest version of every object the compiler reads. Stored objects
 * are private frozen copies, so a compile sees exactly what was upserted even
 * if the source later reuses or mutates its own object.
 */
export class ObjectCache {
  readonly #byKind = new Map<CachedKind, Map<string, Entry>>();
  /**
   * Per kind, the ids of #byKind in sorted order, kept sorted as objects come
   * and go (a binary search and a splice), and the frozen list inputs() last
   * made, until that kind changes: a change to one Ingress of 10k then sorts
   * nothing and rebuilds one list instead of re-sorting every kind.
   */
  readonly #sortedIds = new Map<CachedKind, string[]>();
  readonly #lists = new Map<CachedKind, readonly KubeObject[]>();
  readonly #listeners = new Set<(change: CacheChange) => void>();
  #inputs: CompileInput | undefined;
  #generation = 0;
  #batchDepth = 0;
  #pending: string[] = [];

  constructor() {
    for (const kind of CACHED_KINDS) {
      this.#byKind.set(kind, new Map());
      this.#sortedIds.set(kind, []);
    }
  }

  /** Number of change notifications so far: lets tests and the loop tell views apart. */
  get generation(): number {
    return this.#generation;
  }

  /** Number of cached objects. */
  get size(): number {
    let n = 0;
    for (const m of this.#byKind.values()) n += m.size;
    return n;
  }

  /**
   * Inserts or replaces an object; true if its content changed (identical content
   * is deduplicated, so a resync of unchanged objects costs no rebuild).
   * Throws CACHE_UNSUPPORTED_KIND for kinds outside CACHED_KINDS: filter with isCachedKind().
   */
  upsert(obj: KubeObject): boolean {
    const kind = obj.kind;
    if (!isCachedKind(kind)) {
      throw new TurnoutError('CACHE_UNSUPPORTED_KIND', `the cache does not hold ${JSON.stringify(kind)} objects`);
    }
    const name = obj.metadata?.name;
    if (typeof name !== 'string' || name === '') {
      throw new TurnoutError('INVALID_ARGUMENT', `a ${kind} without metadata.name cannot be cached`);
    }
    const copy = structuredClone(obj);
    if (!CLUSTER_SCOPED.has(kind) && !copy.metadata.namespace) copy.metadata.namespace = 'default';
    const hash = createHash('sha256').update(canonicalJson(copy)).digest('base64');
    const map = this.#map(kind);
    const id = idOf(kind, copy.metadata.namespace, name);
    const before = map.get(id);
    if (before?.hash === hash) return false;
    map.set(id, { obj: deepFreeze(copy), hash });
    if (before === undefined) insertSorted(this.#sortedIds.get(kind)!, id);
    this.#lists.delete(kind);
    this.#changed(objectKey(kind, copy.metadata.namespace, name));
    return true;
  }

  /** Removes an object; true if it was there. Unknown kinds are simply absent. */
  remove(kind: string, namespace: string | undefined, name: string): boolean {
    if (!isCachedKind(kind)) return false;
    const id = idOf(kind, namespace, name);
    if (!this.#map(kind).delete(id)) return false;
    removeSorted(this.#sortedIds.get(kind)!, id);
    this.#lists.delete(kind);
    this.#changed(objectKey(kind, namespace, name));
    return true;
  }

  /** The cached object, or undefined. */
  get(kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    if (!isCachedKind(kind)) return undefined;
    return this.#map(kind).get(idOf(kind, namespace, name))?.obj;
  }

  /** objectKey() of every cached object, sorted: lets a source diff what it owns against what it now sees. */
  keys(): string[] {
    const out: string[] = [];
    for (const [kind, map] of this.#byKind) {
      for (const e of map.values()) out.push(objectKey(kind, e.obj.metadata.namespace, e.obj.metadata.name));
    }
    return out.sort();
  }

  /**
   * Runs `fn` and notifies listeners once for all the changes it made, so a
   * source can apply a whole reload as one consistent update. Returns whether
   * anything changed. Nested batches notify when the outermost one ends.
   */
  batch(fn: () => void): boolean {
    const before = this.#generation;
    this.#batchDepth++;
    try {
      fn();
    } finally {
      this.#batchDepth--;
      if (this.#batchDepth === 0) this.#notify();
    }
    return this.#generation !== before;
  }

  /**
   * The compiler's view: every cached object by kind, sorted by namespace/name so
   * that compiling the same objects gives the same snapshot. The arrays are
   * frozen and reused until the next change.
   */
  inputs(): CompileInput {
    this.#inputs ??= Object.freeze({
      ingresses: this.#list('Ingress') as Ingress[],
      ingressClasses: this.#list('IngressClass') as IngressClass[],
      services: this.#list('Service') as Service[],
      endpointSlices: this.#list('EndpointSlice') as EndpointSlice[],
      secrets: this.#list('Secret') as Secret[],
      routes: this.#list('Route') as Route[],
    });
    return this.#inputs;
  }

  /** Calls `listener` after every change (once per batch); returns an unsubscribe function. */
  onChange(listener: (change: CacheChange) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  #map(kind: CachedKind): Map<string, Entry> {
    return this.#byKind.get(kind)!;
  }

  #list(kind: CachedKind): readonly KubeObject[] {
    let list = this.#lists.get(kind);
    if (list === undefined) {
      const map = this.#map(kind);
      list = Object.freeze(this.#sortedIds.get(kind)!.map((id) => map.get(id)!.obj));
      this.#lists.set(kind, list);
    }
    return list;
  }

  #changed(key: string): void {
    this.#inputs = undefined;
    this.#pending.push(key);
    if (this.#batchDepth === 0) this.#notify();
  }

  #notify(): void {
    if (this.#pending.length === 0) return;
    const change: CacheChange = { generation: ++this.#generation, keys: Object.freeze(this.#pending) };
    this.#pending = [];
    for (const listener of [...this.#listeners]) listener(change);
  }
}

/** Inserts `id` into the sorted `ids` (absent before), keeping them sorted. */
function insertSorted(ids: string[], id: string): void {
  const i = lowerBound(ids, id);
  if (i === ids.length) ids.push(id);
  else ids.splice(i, 0, id);
}

/** Removes `id` from the sorted `ids`, if there. */
function removeSorted(ids: string[], id: string): void {
  const i = lowerBound(ids, id);
  if (ids[i] === id) ids.splice(i, 1);
}


/** Key within one kind's map: "namespace/name", or "name" for cluster-scoped kinds. */
function idOf(kind: CachedKind, namespace: string | undefined, name: string): string {
  return CLUSTER_SCOPED.has(kind) ? name : `${namespace || 'default'}/${name}`;
}
