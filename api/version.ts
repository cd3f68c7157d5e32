// Versions are content hashes, so equal content always means equal version and a
// controller restart does not make every proxy re-apply what it already has.
import { hash } from 'node:crypto';
import { copiedFrom, freezeMap, isFrozenMap, mapKeys, type Snapshot, type Version } from './snapshot.ts';
import { lowerBound } from '../lib/sorted.ts';

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
// that a one-route change re-hashes a few entries, not the 5 MB of canonical
// JSON of a 10k-host snapshot:
//
//   bucket          each key of a SECTIONS map (a virtual host, a cluster, a
//                   listener, a secret) is in one of 256 buckets: FNV-1a
//                   (32 bits, over the key's UTF-16 code units) modulo 256;
//   bucket digest   SHA-256 of the canonical JSON of the bucket's entries as
//                   one object (`{"k1":v1,"k2":v2}`, keys sorted);
//   section digest  SHA-256 over the 256 bucket digests in bucket order;
//   version         the first 32 hex digits of SHA-256 over the canonical JSON
//                   of the snapshot without `version`, each SECTIONS field that
//                   is an object replaced by "sha256:" + its section digest in hex.
//
// Nothing depends on key insertion order (keys are sorted within a bucket,
// buckets are chosen by the key alone), and equal content is equal version.
// A map that is a recorded copy of another (api/snapshot.ts noteMapCopy: a
// delta on the proxy, the controller's recompiles) re-hashes only the buckets
// of the keys written into it: ~40 entries each at 10k, ~200 at 50k.
//
// What is remembered is per frozen map: its keys by bucket and the bucket
// digests (~100 KB at 10k), keyed by identity, so a map must not change after
// it is remembered. Only frozen maps are, and "frozen" is taken to mean deeply
// frozen, which holds for everything frozen by deepFreeze() below (children
// before their parent). Callers therefore freeze BEFORE hashing (sealSnapshot,
// proxy/apply.ts). Nothing is remembered per entry: neither its text (5.3 MB
// at 10k) nor a digest (a WeakMap entry and a string each, 20k of them, cost
// more to make at a full compile than re-serialising a bucket costs per change).

/** Top-level fields whose entries are hashed one by one (see above). */
export const SECTIONS: ReadonlySet<string> = new Set(['clusters', 'listeners', 'secrets', 'virtualHosts']);

/** Buckets per section: at 10k entries a change re-serialises ~40 entries. */
const BUCKETS = 256;
const DIGEST = 32;

// Entries serialised for a bucket digest since start (tests and benchmarks).
let serialised = 0;

/** How many map entries were serialised for hashing so far: what a change cost (tests, benchmarks). */
export function entriesSerialised(): number {
  return serialised;
}

/** Per frozen section map: its keys by bucket (each sorted), the bucket digests, the section digest. */
interface MapDigest {
  readonly buckets: readonly (readonly string[])[];
  readonly digests: Buffer;
  readonly section: string;
}
const mapDigests = new WeakMap<object, MapDigest>();


/** Whether the digest of the frozen map `map` is remembered (tests and benchmarks). */
export function isHashed(map: object): boolean {
  return mapDigests.has(map);
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
 * The keys of a section map in sorted order. A frozen map's recorded key list
 * (mapKeys: the compiler records the sorted list it built the map from) saves
 * Object.keys, which orders a 10k-key dictionary-mode map by insertion (1–2 ms).
 */
function sectionKeys(map: object): readonly string[] {
  const keys = isFrozenMap(map) ? mapKeys(map) : Object.keys(map);
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1]! > keys[i]!) return [...keys].sort();
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

/**
 * Every bucket of `map` hashed. `sorted` and `texts` (the map's keys in order
 * and their entries' canonical JSON) when the caller has them already.
 */
function digestMap(map: Record<string, unknown>, sorted?: readonly string[], texts?: readonly (string | undefined)[]): MapDigest {
  const buckets: string[][] = [];
  const bucketTexts: string[][] = [];
  for (let b = 0; b < BUCKETS; b++) { buckets.push([]); bucketTexts.push([]); }
  // Keys in sorted order, so every bucket comes out sorted.
  const keys = sorted ?? sectionKeys(map);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    // A text given is of a value there: no second lookup in a 10k-key map.
    let text = texts?.[i];
    if (text === undefined) {
      const v = map[key];
      if (v === undefined) continue;
      text = entryText(v);
    }
    const b = bucketOf(key);
    buckets[b]!.push(key);
    bucketTexts[b]!.push(text);
  }
  serialised += keys.length;
  const digests = Buffer.allocUnsafe(BUCKETS * DIGEST);
  for (let b = 0; b < BUCKETS; b++) hashBucket(buckets[b]!, bucketTexts[b]!, digests, b);
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
    // The base's list is sorted: the written keys still there go in their place.
    for (const k of keys) if (Object.hasOwn(map, k) && map[k] !== undefined) insertSorted(list, k);
    buckets[b] = list;
    const texts: string[] = [];
    for (let i = 0; i < list.length; i++) texts.push(bucketEntryText(map[list[i]!]));
    serialised += list.length;
    hashBucket(list, texts, digests, b);
  }
  return { buckets, digests, section: hash('sha256', digests, 'hex') };
}

/** Inserts `key` into `list` (sorted by code units, as Array.prototype.sort orders strings) at its place. */
function insertSorted(list: string[], key: string): void {
  list.splice(lowerBound(list, key), 0, key);
}

// Entries of a frozen (so deeply frozen: see above) map that rehashBuckets
// found to be sorted plain data: a bucket hashed again (another of its keys
// written) serialises them without walking them first. A WeakSet entry per
// entry object, not its text: the texts would hold megabytes at 10k.
const sortedEntries = new WeakSet<object>();

/** entryText for an entry of a bucket being re-hashed, remembering which frozen entries are sorted plain data. */
function bucketEntryText(value: unknown): string {
  if (typeof value !== 'object' || value === null) return canonical(value, 0);
  if (sortedEntries.has(value)) return JSON.stringify(value);
  if (!sortedPlain(value)) return canonical(value, 0);
  if (Object.isFrozen(value)) sortedEntries.add(value);
  return JSON.stringify(value);
}

/** Writes the digest of bucket `b` into `out`: the canonical JSON of its entries (`keys`, sorted; `texts`) as one object. */
function hashBucket(keys: readonly string[], texts: readonly string[], out: Buffer, b: number): void {
  let text = '{';
  for (let i = 0; i < keys.length; i++) text += `${i === 0 ? '' : ','}${JSON.stringify(keys[i])}:${texts[i]}`;
  hash('sha256', `${text}}`, 'buffer').copy(out, b * DIGEST);
}

/** FNV-1a over the UTF-16 code units of `key`, modulo BUCKETS: cheap, and the same in every process. */
function bucketOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % BUCKETS;
}

/** The canonical JSON of an entry: JSON.stringify for plain data in sorted key order (every compiled entry), several times faster than canonical(). */
function entryText(value: unknown): string {
  return typeof value === 'object' && value !== null && sortedPlain(value) ? JSON.stringify(value) : canonical(value, 0);
}

/**
 * Seals content into a snapshot: stamps its version and freezes it deeply.
 * Entries of the maps (a virtual host, a cluster, a secret) not frozen yet
 * are frozen here in one walk that also checks that their keys are in sorted
 * order at every level; the compiler builds them that way, and then their
 * canonical JSON is the native JSON.stringify (several times faster than
 * canonical()), hashed in the same walk. A map recorded as a copy of a sealed
 * one (noteMapCopy) is walked at its written keys only: every other entry is
 * the original's, frozen and hashed with it. `checks` is shown each entry of
 * a map walked whole, in the same pass, before it is frozen (the compiler
 * validates entries there: see api/validate-entry.ts EntryChecks).
 */
export function sealSnapshot(content: SnapshotContent, checks?: EntryVisitor): Snapshot {
  const top = { ...content } as Record<string, unknown>;
  for (const field of Object.keys(top)) {
    const map = top[field];
    // defaultRoute and the like: frozen whole, hashed as part of the top level.
    if (!isMap(map) || !SECTIONS.has(field)) { deepFreeze(map); continue; }
    if (isFrozenMap(map)) continue;
    const m = map as Record<string, unknown>;
    // Frozen first (shallow): copiedFrom() answers for frozen maps only. Every
    // entry is frozen below, so deepFreeze need not walk the map again.
    freezeMap(m);
    const copy = copiedFrom(m);
    if (copy !== undefined && mapDigests.has(copy.from)) {
      for (const key of copy.keys) {
        const v = Object.hasOwn(m, key) ? m[key] : undefined;
        if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) freezeSorted(v);
      }
      continue;
    }
    const keys = sectionKeys(m);
    const texts: (string | undefined)[] = [];
    for (let i = 0; i < keys.length; i++) {
      const v = m[keys[i]!];
      checks?.visit(field, keys[i]!, v);
      // freezeSorted freezes `v` in any case; sorted, its JSON is canonical.
      texts.push(typeof v === 'object' && v !== null && !isFrozenObject(v) && freezeSorted(v) ? JSON.stringify(v) : undefined);
    }
    mapDigests.set(m, digestMap(m, keys, texts));
  }
  const frozen = Object.freeze(top) as SnapshotContent;
  const snapshot = Object.freeze({ ...frozen, version: versionOf(frozen) });
  sealed.add(snapshot);
  return snapshot;
}

/** What sealSnapshot shows each entry it walks: its section ("clusters", ...), key and value. */
export interface EntryVisitor {
  visit(field: string, key: string, value: unknown): void;
}

const OBJECT_PROTO = Object.prototype;

// Objects found frozen (so deeply frozen, see above) and sorted plain data by
// freezeSorted: a shared sub-object (a route's match, the same for every
// route on "/") is walked once, not once per entry holding it. Only objects
// that were frozen before the walk are added, not the ones it freezes itself.
const knownSorted = new WeakSet<object>();

/**
 * deepFreeze, returning whether `value` is plain JSON data whose object keys
 * are in sorted order at every level: then JSON.stringify(value) is exactly
 * canonical(value). Frozen sub-objects are walked too (not frozen again):
 * their order is not known otherwise, unless they were walked before.
 */
function freezeSorted(value: object): boolean {
  const wasFrozen = isFrozenObject(value);
  if (wasFrozen && knownSorted.has(value)) return true;
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
  if (!wasFrozen) Object.freeze(value);
  else if (sorted) knownSorted.add(value);
  return sorted;
}

/**
 * Object.isFrozen, asked only of objects that are not extensible: a frozen
 * object never is, and the compiler's new objects (almost all the seal sees)
 * are answered by one flag instead of a look at every property.
 */
function isFrozenObject(value: object): boolean {
  return !Object.isExtensible(value) && Object.isFrozen(value);
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
