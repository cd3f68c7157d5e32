// Versions are content hashes, so equal content always means equal version and a
// controller restart does not make every proxy re-apply what it already has.
import { createHash, hash } from 'node:crypto';
import { copiedFrom, freezeMap, isFrozenMap, type Snapshot, type Version } from './snapshot.ts';

/** A snapshot's content without its version: what the compiler produces and the hash covers. */
export type SnapshotContent = Omit<Snapshot, 'version'>;

/**
 * JSON with object keys sorted at every level. A JSON patch applied on the proxy
 * appends keys in a different order than the compiler built them; sorting makes
 * the hash independent of insertion order.
 */
export function canonicalJson(value: unknown): string {
  return canonical(value, 0);
}

// The version (stream protocol turnout.snapshot.v2) is a hash of hashes, so
// that a one-route change re-hashes one entry and a few hundred bytes, not the
// 5 MB of canonical JSON of a 10k-host snapshot:
//
//   entry digest    SHA-256 of the entry's canonical JSON (a virtual host, a
//                   cluster, a listener, a secret: one value of a SECTIONS map);
//   bucket digest   SHA-256 over the bucket's entries in sorted key order, each
//                   as JSON.stringify(key) followed by its 32-byte entry digest;
//                   a key's bucket is FNV-1a (32 bits, over its UTF-16 code
//                   units) modulo 256;
//   section digest  SHA-256 over the 256 bucket digests in bucket order;
//   version         the first 32 hex digits of SHA-256 over the canonical JSON
//                   of the snapshot without `version`, each SECTIONS field that
//                   is an object replaced by "sha256:" + its section digest in hex.
//
// Nothing depends on key insertion order (keys are sorted within a bucket,
// buckets are chosen by the key alone), and equal content is equal version.
// A map that is a recorded copy of another (api/snapshot.ts noteMapCopy: a
// delta on the proxy, the host-scoped recompile on the controller) re-hashes
// only the buckets of the keys written into it.
//
// Entry digests are remembered per frozen entry, map digests per frozen map:
// keyed by object identity, so neither may change after it is remembered. Only
// frozen objects are, and "frozen" is taken to mean deeply frozen, which holds
// for everything frozen by deepFreeze() below (children before their parent).
// Callers therefore freeze BEFORE hashing (sealSnapshot, proxy/apply.ts); an
// unfrozen object is hashed afresh every time. No canonical text is kept: a
// digest is 32 bytes where the text of a virtual host is hundreds.

/** Top-level fields whose entries are hashed one by one (see above). */
export const SECTIONS: ReadonlySet<string> = new Set(['clusters', 'listeners', 'secrets', 'virtualHosts']);

/** Buckets per section: at 10k entries a change re-hashes ~40 entry digests. */
const BUCKETS = 256;
const DIGEST = 32;

/** Per frozen entry: SHA-256 of its canonical JSON, as a 32-character latin1 string (48 bytes of heap). */
const entryDigests = new WeakMap<object, string>();

/** Per frozen section map: its keys by bucket (each sorted), the bucket digests, the section digest. */
interface MapDigest {
  readonly buckets: readonly (readonly string[])[];
  readonly digests: Buffer;
  readonly section: string;
}
const mapDigests = new WeakMap<object, MapDigest>();

const EMPTY_BUCKET = hash('sha256', '', 'buffer');

/** Whether the entry digest of `value` is remembered (for tests and benchmarks). */
export function isMemoised(value: object): boolean {
  return entryDigests.has(value);
}

function canonical(value: unknown, depth: number): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => canonical(v, depth + 1)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of sortedKeys(obj)) {
    const v = obj[key];
    if (v === undefined) continue;
    parts.push(`${JSON.stringify(key)}:${canonical(v, depth + 1)}`);
  }
  return `{${parts.join(',')}}`;
}

/**
 * Own keys in sorted order. Compiled maps arrive sorted already (a delta only
 * appends), so one linear check usually replaces the sort of 10k keys.
 */
function sortedKeys(obj: object): string[] {
  const keys = Object.keys(obj);
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1]! > keys[i]!) return keys.sort();
  }
  return keys;
}

/**
 * The version of some snapshot content (definition above). Costs one bucket
 * per written key for a recorded copy of a hashed map, nothing for a map
 * hashed before, every entry for a map seen for the first time.
 */
export function versionOf(content: SnapshotContent): Version {
  const { version: _ignored, ...rest } = content as Snapshot;
  const top: Record<string, unknown> = {};
  for (const field of Object.keys(rest)) {
    const v = (rest as Record<string, unknown>)[field];
    top[field] = SECTIONS.has(field) && isMap(v) ? `sha256:${sectionDigest(v)}` : v;
  }
  return hash('sha256', canonical(top, 0), 'hex').slice(0, 32);
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The section digest of `map` in hex: remembered, derived from the map it copies, or computed. */
function sectionDigest(map: Record<string, unknown>): string {
  if (!isFrozenMap(map)) return digestMap(map).section;
  let d = mapDigests.get(map);
  if (d !== undefined) return d.section;
  const copy = copiedFrom(map);
  const base = copy === undefined ? undefined : mapDigests.get(copy.from);
  d = base !== undefined && copy !== undefined ? rehashBuckets(map, base, copy.keys) : digestMap(map);
  mapDigests.set(map, d);
  return d.section;
}

/** Every bucket of `map` hashed. */
function digestMap(map: Record<string, unknown>): MapDigest {
  const buckets: string[][] = [];
  for (let b = 0; b < BUCKETS; b++) buckets.push([]);
  // Keys in sorted order, so every bucket comes out sorted.
  const keys = sortedKeys(map);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (map[key] !== undefined) buckets[bucketOf(key)]!.push(key);
  }
  const digests = Buffer.allocUnsafe(BUCKETS * DIGEST);
  for (let b = 0; b < BUCKETS; b++) hashBucket(map, buckets[b]!, digests, b);
  return { buckets, digests, section: hash('sha256', digests, 'hex') };
}

/**
 * The digest of `map`, a copy of the map `base` describes in which only
 * `written` keys may differ (noteMapCopy's contract): the buckets of those
 * keys are re-listed and re-hashed, every other bucket is the base's.
 */
function rehashBuckets(map: Record<string, unknown>, base: MapDigest, written: ReadonlySet<string>): MapDigest {
  const dirty = new Map<number, Set<string>>();
  for (const key of written) {
    const b = bucketOf(key);
    let set = dirty.get(b);
    if (set === undefined) dirty.set(b, set = new Set());
    set.add(key);
  }
  const buckets = base.buckets.slice();
  const digests = Buffer.from(base.digests);
  for (const [b, keys] of dirty) {
    const list = base.buckets[b]!.filter((k) => !keys.has(k));
    for (const k of keys) if (Object.hasOwn(map, k) && map[k] !== undefined) list.push(k);
    list.sort();
    buckets[b] = list;
    hashBucket(map, list, digests, b);
  }
  return { buckets, digests, section: hash('sha256', digests, 'hex') };
}

/** Writes the digest of bucket `b` (its `keys`, sorted) into `out`. */
function hashBucket(map: Record<string, unknown>, keys: readonly string[], out: Buffer, b: number): void {
  if (keys.length === 0) { EMPTY_BUCKET.copy(out, b * DIGEST); return; }
  const h = createHash('sha256');
  let off = 0;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const quoted = JSON.stringify(key);
    // At most 3 UTF-8 bytes per UTF-16 unit: only then is the write never cut short.
    if (off + quoted.length * 3 + DIGEST > scratch.length) {
      h.update(scratch.subarray(0, off));
      off = 0;
      if (quoted.length * 3 + DIGEST > scratch.length) { h.update(quoted); h.update(entryDigest(map[key]), 'latin1'); continue; }
    }
    off += scratch.write(quoted, off);
    off += scratch.write(entryDigest(map[key]), off, 'latin1');
  }
  h.update(scratch.subarray(0, off));
  h.digest().copy(out, b * DIGEST);
}
const scratch = Buffer.allocUnsafe(16 * 1024);

/** FNV-1a over the UTF-16 code units of `key`, modulo BUCKETS: cheap, and the same in every process. */
function bucketOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % BUCKETS;
}

/** SHA-256 of the canonical JSON of `value` (latin1), remembered when it is a frozen object. */
function entryDigest(value: unknown): string {
  if (typeof value !== 'object' || value === null) return hash('sha256', canonical(value, 0), 'binary');
  const frozen = Object.isFrozen(value);
  if (frozen) {
    const hit = entryDigests.get(value);
    if (hit !== undefined) return hit;
  }
  // A sorted plain entry (every compiled one, and the proxy's copies of them)
  // is canonical as JSON.stringify writes it, several times faster than canonical().
  const d = hash('sha256', sortedPlain(value) ? JSON.stringify(value) : canonical(value, 0), 'binary');
  if (frozen) entryDigests.set(value, d);
  return d;
}

/**
 * Seals content into a snapshot: stamps its version and freezes it deeply.
 * Entries of the maps (a virtual host, a cluster, a secret) not frozen yet
 * are frozen here in one walk that also checks that their keys are in sorted
 * order at every level; the compiler builds them that way, and then their
 * canonical JSON is the native JSON.stringify (several times faster than
 * canonical()), hashed right away. A map recorded as a copy of a sealed one
 * (noteMapCopy) is walked at its written keys only: every other entry is the
 * original's, frozen and hashed already.
 */
export function sealSnapshot(content: SnapshotContent): Snapshot {
  const top = { ...content } as Record<string, unknown>;
  for (const field of Object.keys(top)) {
    const map = top[field];
    if (!isMap(map)) { deepFreeze(map); continue; }
    if (isFrozenMap(map)) continue;
    const m = map as Record<string, unknown>;
    // Frozen first (shallow): copiedFrom() answers for frozen maps only. Every
    // entry is frozen below, so deepFreeze need not walk the map again.
    freezeMap(m);
    const copy = copiedFrom(m);
    const keys = copy !== undefined ? [...copy.keys] : Object.keys(m);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const v = Object.hasOwn(m, key) ? m[key] : undefined;
      if (typeof v !== 'object' || v === null || Object.isFrozen(v)) continue;
      // freezeSorted freezes `v` in any case; sorted, its JSON is canonical.
      if (freezeSorted(v)) entryDigests.set(v, hash('sha256', JSON.stringify(v), 'binary'));
    }
  }
  const frozen = Object.freeze(top) as SnapshotContent;
  const snapshot = Object.freeze({ ...frozen, version: versionOf(frozen) });
  sealed.add(snapshot);
  return snapshot;
}

const OBJECT_PROTO = Object.prototype;

/**
 * deepFreeze, returning whether `value` is plain JSON data whose object keys
 * are in sorted order at every level: then JSON.stringify(value) is exactly
 * canonical(value). Frozen sub-objects are walked too (not frozen again):
 * their order is not known otherwise.
 */
function freezeSorted(value: object): boolean {
  let sorted = true;
  if (Array.isArray(value)) {
    for (const v of value) if (typeof v === 'object' && v !== null ? !freezeSorted(v) : !plainLeaf(v)) sorted = false;
  } else {
    const proto = Object.getPrototypeOf(value);
    if (proto !== OBJECT_PROTO && proto !== null) sorted = false;
    const obj = value as Record<string, unknown>;
    let prev: string | undefined;
    for (const k in obj) {
      // for-in also walks inherited enumerable keys; a plain object has none.
      if (prev !== undefined && prev > k) sorted = false;
      prev = k;
      const v = obj[k];
      if (typeof v === 'object' && v !== null ? !freezeSorted(v) : !plainLeaf(v)) sorted = false;
    }
  }
  if (!Object.isFrozen(value)) Object.freeze(value);
  return sorted;
}

/** Whether `value` is plain JSON data with sorted keys at every level (freezeSorted without the freezing). */
function sortedPlain(value: object): boolean {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (typeof v === 'object' && v !== null ? !sortedPlain(v) : !plainLeaf(v)) return false;
    }
    return true;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== OBJECT_PROTO && proto !== null) return false;
  const obj = value as Record<string, unknown>;
  let prev: string | undefined;
  for (const k in obj) {
    if (prev !== undefined && prev > k) return false;
    prev = k;
    const v = obj[k];
    if (typeof v === 'object' && v !== null ? !sortedPlain(v) : !plainLeaf(v)) return false;
  }
  return true;
}

/** A value JSON.stringify and canonical() write alike, inside an object or an array. */
function plainLeaf(v: unknown): boolean {
  const t = typeof v;
  return t === 'string' || t === 'boolean' || t === 'undefined' || (t === 'number' && Number.isFinite(v));
}

// Snapshots stamped by sealSnapshot: frozen, so their version is still their
// content hash, and a publisher need not hash megabytes again to know it.
const sealed = new WeakSet<Snapshot>();

/** True when `snapshot` came from sealSnapshot in this process: its version is its content hash. */
export function isSealed(snapshot: Snapshot): boolean {
  return sealed.has(snapshot);
}

/** Freezes an object graph; already-frozen sub-objects (shared with older snapshots) are skipped. */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) deepFreeze(value[i]);
  } else {
    // Object.keys and a lookup: Object.values of a large (dictionary-mode) map is several times slower.
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj);
    for (let i = 0; i < keys.length; i++) deepFreeze(obj[keys[i]!]);
  }
  return Object.freeze(value);
}
