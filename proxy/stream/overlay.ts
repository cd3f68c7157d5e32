// A delta's copy of a large map without copying it: a view that reads the
// keys the patches wrote from a small Map of changes and every other key from
// a frozen base map, behind a Proxy that behaves as the plain object it
// stands for (own keys, descriptors, `in`, JSON.stringify).
//
// Why: a one-host delta at 10k hosts used to copy the 10k-key virtual hosts
// map (a 384 KB dictionary, plus its 84 KB key list). The copy lives as long
// as its snapshot, so under traffic it is promoted and becomes old-generation
// garbage at the next change, freed only by a full GC: ~0.47 MB of resident
// memory per change until then (docs/performance.md, "Proxy RSS third pass").
// An overlay costs the Map of changes since its base instead; when that grows
// past MAX_CHANGES the next delta makes a plain copy again (delta.ts), which
// becomes the next base. The same holds for the 10k-key clusters map, which
// an endpoint change (the most frequent change: EndpointSlice churn) writes
// into; routing/table.ts then layers its balancers the same way
// (docs/performance.md, "Endpoint-change deltas").
//
// Only the proxy builds overlays (stream/delta.ts, for a top-level snapshot
// map of at least MIN_KEYS keys), and only for a DataPlane in this process: a
// snapshot holding one cannot be structured-cloned to a worker process.
// Validation, the version and the routing table read an overlay through its
// traps, asking only about the keys the delta wrote (changedKeys); "frozen" is
// recorded (markFrozenMap) rather than Object.freeze'd, since a Proxy over an
// extensible target cannot report itself frozen while listing keys its target
// lacks.
import { isFrozenMap, mapKeys, markFrozenMap, noteMapKeys } from '../../api/snapshot.ts';

/** Maps smaller than this are copied: the copy is cheap and the tests' snapshots stay plain objects. */
export const MIN_KEYS = 1024;
/** Changes an overlay may carry over its base before a delta copies it whole again (a new base). */
export const MAX_CHANGES = 64;

/** Changes an overlay carries before its base starts being copied for the next base (advancePending). */
const PENDING_FROM = 8;

const GONE = Symbol('removed');

interface State {
  /** A plain, frozen map. */
  readonly base: Readonly<Record<string, unknown>>;
  /** Keys written since `base`: their value, or GONE. */
  readonly changes: Map<string, unknown>;
  frozen: boolean;
  /** The own keys, once frozen and asked for. */
  keys?: string[];
}

// By Proxy target (a fresh empty object per overlay) and by the Proxy itself.
const byTarget = new WeakMap<object, State>();
const byProxy = new WeakMap<object, State>();

function own(s: State, key: string): boolean {
  const c = s.changes.get(key);
  if (c !== undefined || s.changes.has(key)) return c !== GONE;
  return Object.hasOwn(s.base, key);
}

function value(s: State, key: string): unknown {
  if (s.changes.has(key)) {
    const c = s.changes.get(key);
    return c === GONE ? undefined : c;
  }
  return Object.hasOwn(s.base, key) ? s.base[key] : undefined;
}

/** The base's keys in its order without the removed ones, then the added ones: a plain copy's order. */
function ownKeys(s: State): string[] {
  if (s.keys !== undefined) return s.keys;
  const out: string[] = [];
  for (const k of Object.keys(s.base)) if (s.changes.get(k) !== GONE) out.push(k);
  for (const [k, v] of s.changes) if (v !== GONE && !Object.hasOwn(s.base, k)) out.push(k);
  if (s.frozen) s.keys = out;
  return out;
}

const handler: ProxyHandler<object> = {
  get(target, key, receiver) {
    const s = byTarget.get(target)!;
    if (typeof key === 'string' && own(s, key)) return value(s, key);
    return Reflect.get(target, key, receiver); // inherited (Object.prototype), as for a plain object
  },
  has(target, key) {
    const s = byTarget.get(target)!;
    return (typeof key === 'string' && own(s, key)) || Reflect.has(target, key);
  },
  getOwnPropertyDescriptor(target, key) {
    const s = byTarget.get(target)!;
    if (typeof key !== 'string' || !own(s, key)) return undefined;
    // configurable: a Proxy may not report a non-configurable property its target lacks.
    return { value: value(s, key), writable: !s.frozen, enumerable: true, configurable: true };
  },
  ownKeys(target) {
    return ownKeys(byTarget.get(target)!);
  },
  set(target, key, v) {
    const s = byTarget.get(target)!;
    if (s.frozen || typeof key !== 'string') return false;
    s.changes.set(key, v);
    return true;
  },
  defineProperty(target, key, desc) {
    const s = byTarget.get(target)!;
    if (s.frozen || typeof key !== 'string' || !('value' in desc)) return false;
    s.changes.set(key, desc.value);
    return true;
  },
  deleteProperty(target, key) {
    const s = byTarget.get(target)!;
    if (s.frozen || typeof key !== 'string') return false;
    if (own(s, key)) s.changes.set(key, GONE);
    return true;
  },
  // Object.freeze would make the target non-extensible, after which the keys
  // listed above would break the Proxy invariants: refuse (freezeOverlay instead).
  preventExtensions() {
    return false;
  },
  setPrototypeOf() {
    return false;
  },
};

/**
 * A writable overlay over `from` (a frozen plain map, or a frozen overlay),
 * or undefined when `from` should be copied instead: too small, or an overlay
 * that already carries MAX_CHANGES changes.
 */
export function overlayOf(from: object, keyCount: () => number): object | undefined {
  const prev = byProxy.get(from);
  let state: State;
  if (prev !== undefined) {
    if (!prev.frozen || prev.changes.size >= MAX_CHANGES) return undefined;
    state = { base: prev.base, changes: new Map(prev.changes), frozen: false };
    if (prev.changes.size >= PENDING_FROM) advancePending(prev.base);
  } else {
    if (Array.isArray(from) || !isFrozenMap(from) || keyCount() < MIN_KEYS) return undefined;
    state = { base: from as Record<string, unknown>, changes: new Map(), frozen: false };
  }
  const target = {};
  const proxy = new Proxy(target, handler);
  byTarget.set(target, state);
  byProxy.set(proxy, state);
  return proxy;
}

/** Whether `map` is an overlay (made by overlayOf). */
export function isOverlay(map: object): boolean {
  return byProxy.has(map);
}

/** Makes an overlay read-only for good and records it as a frozen map (api/snapshot.ts isFrozenMap). */
export function freezeOverlay(map: object): void {
  const s = byProxy.get(map);
  if (s === undefined) throw new TypeError('not an overlay');
  s.frozen = true;
  markFrozenMap(map);
}

/**
 * The next base's plain copy of a base map in the making (by base): keys
 * copied in the base's recorded order, a slice per delta once the overlays
 * over it carry PENDING_FROM changes, so that the copy is done by the time
 * one carries MAX_CHANGES. A 10k-key dictionary copied at once costs 2–9 ms
 * (with the GC it brings), once every 64 deltas (docs/performance.md,
 * "Endpoint deltas at 10k: the periodic rebase"). The base never changes,
 * so the copy stays exact; plainCopyOf then applies the overlay's changes.
 */
interface PendingCopy {
  readonly out: Record<string, unknown>;
  readonly keys: readonly string[];
  next: number;
}
const pendingCopies = new WeakMap<object, PendingCopy>();

/** Copies one more slice of `base` (or the rest, with `all`), starting the copy if needed. */
function advancePending(base: Readonly<Record<string, unknown>>, all = false): PendingCopy {
  let p = pendingCopies.get(base);
  if (p === undefined) pendingCopies.set(base, p = { out: {}, keys: mapKeys(base), next: 0 });
  const keys = p.keys;
  const end = all ? keys.length : Math.min(keys.length, p.next + Math.ceil(keys.length / (MAX_CHANGES - PENDING_FROM)));
  for (let i = p.next; i < end; i++) put(p.out, keys[i] as string, base[keys[i] as string]);
  p.next = end;
  return p;
}

/** Sets an own data property; an own "__proto__" key is defined as data, never assigned (the prototype setter). */
function put(out: Record<string, unknown>, key: string, v: unknown): void {
  if (key === '__proto__') Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
  else out[key] = v;
}

/**
 * A plain, writable copy of `map` (a frozen overlay), or undefined when it is
 * not one: what delta.ts copies once an overlay carries MAX_CHANGES (with
 * `take`: finishing and taking its base's pending copy, advancePending), and
 * what withoutOverlays sends a worker. Read from the base and the changes
 * directly, not through the traps: Object.keys of a Proxy asks for each
 * key's descriptor, and the copy then reads each value through `get` (~20 ms
 * at 10k keys, where this takes ~2). Records the overlay's key list
 * (mapKeys), which the copy's own list is derived from. The keys come in the
 * base's recorded order without the removed ones, then the added ones, not
 * necessarily a plain copy's: nothing depends on the order of a snapshot
 * map's keys.
 */
export function plainCopyOf(map: object, take = false): Record<string, unknown> | undefined {
  const s = byProxy.get(map);
  if (s === undefined || !s.frozen) return undefined;
  let out: Record<string, unknown>;
  let keys: string[];
  if (take) {
    // The base's copy, finished, with the changes applied in place: the same
    // object and key list as the walk below makes. Taken once: a second
    // overlay over the same base (a refused candidate's) copies in full.
    const p = advancePending(s.base, true);
    pendingCopies.delete(s.base);
    out = p.out;
    let removed = false;
    for (const [key, v] of s.changes) {
      if (v === GONE) {
        if (Object.hasOwn(out, key)) { delete out[key]; removed = true; }
      } else if (Object.hasOwn(s.base, key)) put(out, key, v);
    }
    keys = removed ? p.keys.filter((k) => Object.hasOwn(out, k)) : p.keys.slice();
  } else {
    out = {};
    keys = [];
    const baseKeys = mapKeys(s.base);
    for (let i = 0; i < baseKeys.length; i++) {
      const key = baseKeys[i] as string;
      if (!s.changes.has(key)) put(out, key, s.base[key]);
      else if (s.changes.get(key) !== GONE) put(out, key, s.changes.get(key));
      else continue;
      keys.push(key);
    }
  }
  for (const [key, v] of s.changes) {
    if (v === GONE || Object.hasOwn(s.base, key)) continue;
    put(out, key, v);
    keys.push(key);
  }
  noteMapKeys(map, keys);
  return out;
}

/** The number of changes `map` (an overlay) carries over its base; for tests. */
export function overlayChanges(map: object): number {
  return byProxy.get(map)?.changes.size ?? 0;
}

/** withoutOverlays' results, so a snapshot sent to several restarted workers is copied once. */
const plainSnapshots = new WeakMap<object, object>();

/**
 * `snapshot` with every top-level overlay replaced by a plain copy, or
 * `snapshot` itself when it has none: what a worker supervisor sends whole to
 * a worker (structured clone cannot copy a Proxy). Only for that: a worker
 * out of step (started again) is rare, and the copy costs ~2 ms at 10k keys.
 */
export function withoutOverlays<T extends object>(snapshot: T): T {
  const fields = snapshot as Record<string, unknown>;
  if (!Object.keys(fields).some((f) => typeof fields[f] === 'object' && fields[f] !== null && isOverlay(fields[f]))) return snapshot;
  let plain = plainSnapshots.get(snapshot);
  if (plain === undefined) {
    const out: Record<string, unknown> = {};
    for (const f of Object.keys(fields)) {
      const v = fields[f];
      out[f] = typeof v === 'object' && v !== null ? plainCopyOf(v) ?? v : v;
    }
    plain = Object.freeze(out);
    plainSnapshots.set(snapshot, plain);
  }
  return plain as T;
}
