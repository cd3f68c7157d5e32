// Versions are content hashes, so equal content always means equal version and a
// controller restart does not make every proxy re-apply what it already has.
import { createHash, type Hash } from 'node:crypto';
import type { Snapshot, Version } from './snapshot.ts';

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

// Canonical JSON of frozen map entries (a virtual host, a cluster, a secret),
// remembered per object as the text of `"key":{...}`, ready for the hash. Consecutive
// snapshots share unchanged entries, so a one-route change re-serialises one
// virtual host instead of all 10k, and hashing the rest is a copy of that
// text into the hash's buffer (no string is built or flattened again).
// Only depth 2 is remembered: deeper levels would store the same text many
// times over, and the maps at depth 1 are new in nearly every snapshot (a
// delta copies the map it patches).
//
// Keyed by object identity, so an entry must never change after it is
// remembered: only frozen objects are, and "frozen" is taken to mean deeply
// frozen, which holds for everything frozen by deepFreeze() below (it freezes
// children before their parent). Callers therefore freeze BEFORE hashing
// (sealSnapshot, proxy/apply.ts); an unfrozen object is serialised every time.
const MEMO_DEPTH = 2;
// Kept as text, not bytes: a Buffer per entry (20k at 10k hosts) cost more
// to make and collect than it saved. Measured at 10k: the first two changes
// after a full compile took 129-191 and 49-75 ms CPU converting entries to
// Buffers, 107-136 and 43-50 ms with text; encoding 3.2 MB of text into the
// hash costs ~1.5 ms more per hash than copying bytes (4.2-5.0 vs 3.0 ms).
// `"key":` is kept apart from the JSON: joined, the text would be copied
// flat once more to be written.
const memo = new WeakMap<object, { readonly key: string; readonly prefix: string; readonly text: string }>();
// Whole frozen maps at depth 1, the same way: a delta that patches hosts
// leaves the clusters map shared, and its 10k entries need no walk at all.
const maps = new WeakMap<object, Buffer>();
const seenMaps = new WeakSet<object>();

/** Whether the canonical JSON of `value` is remembered (for tests and benchmarks). */
export function isMemoised(value: object): boolean {
  return memo.has(value);
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
 * The version of some snapshot content: 128 bits of SHA-256 over its canonical
 * JSON. The text is fed to the hash in pieces (remembered entries as text)
 * rather than built whole: at 10k hosts the whole text is megabytes of
 * garbage per apply, though every entry's part of it is remembered.
 */
export function versionOf(content: SnapshotContent): Version {
  const { version: _ignored, ...rest } = content as Snapshot;
  const sink = new HashSink(createHash('sha256'));
  feedCanonical(sink, rest, 0);
  return sink.end().digest('hex').slice(0, 32);
}

/**
 * Gathers text and bytes into one reused buffer and hands the hash a full
 * buffer at a time: one native call per 64 KiB instead of one per entry.
 */
class HashSink {
  static readonly #scratch = Buffer.allocUnsafe(64 * 1024);
  readonly #hash: Hash;
  #off = 0;
  /** Copies of what was flushed since mark(), while recording. */
  #recording: Buffer[] | undefined;
  #recordFrom = 0;

  constructor(hash: Hash) {
    this.#hash = hash;
  }

  str(s: string): void {
    const room = HashSink.#scratch.length - this.#off;
    // At most 3 UTF-8 bytes per UTF-16 unit: only then is the write never cut short.
    if (s.length * 3 > room) {
      this.#flush();
      if (s.length * 3 > HashSink.#scratch.length) { this.#direct(Buffer.from(s)); return; }
    }
    this.#off += HashSink.#scratch.write(s, this.#off);
  }

  /** One ASCII byte ("{", ","): no native call for the separator of every entry. */
  byte(code: number): void {
    if (this.#off === HashSink.#scratch.length) this.#flush();
    HashSink.#scratch[this.#off++] = code;
  }

  bytes(b: Buffer): void {
    if (b.length > HashSink.#scratch.length - this.#off) {
      this.#flush();
      if (b.length > HashSink.#scratch.length) { this.#direct(b); return; }
    }
    b.copy(HashSink.#scratch, this.#off);
    this.#off += b.length;
  }

  /** Starts recording what is fed from now on (one recording at a time), for since(). */
  mark(): void {
    this.#recording = [];
    this.#recordFrom = this.#off;
  }

  /** The bytes fed since mark(), as one buffer; ends the recording. */
  since(): Buffer | undefined {
    const parts = this.#recording;
    if (parts === undefined) return undefined;
    parts.push(Buffer.from(HashSink.#scratch.subarray(this.#recordFrom, this.#off)));
    this.#recording = undefined;
    return Buffer.concat(parts);
  }

  end(): Hash {
    this.#flush();
    return this.#hash;
  }

  /** A piece larger than the buffer, after a flush: straight to the hash (and the recording). */
  #direct(b: Buffer): void {
    this.#recording?.push(b);
    this.#hash.update(b);
  }

  #flush(): void {
    if (this.#off > 0) {
      if (this.#recording !== undefined) this.#recording.push(Buffer.from(HashSink.#scratch.subarray(this.#recordFrom, this.#off)));
      this.#hash.update(HashSink.#scratch.subarray(0, this.#off));
    }
    this.#off = 0;
    this.#recordFrom = 0;
  }
}

/**
 * canonical(value, depth), fed piecewise: the same text. A frozen map at
 * depth 1 (clusters, when a delta touched only hosts) and each frozen entry
 * at depth 2 come from the memo, an entry together with its key.
 */
function feedCanonical(sink: HashSink, value: unknown, depth: number): void {
  if (depth >= MEMO_DEPTH || value === null || typeof value !== 'object' || Array.isArray(value)) {
    sink.str(canonical(value, depth));
    return;
  }
  const obj = value as Record<string, unknown>;
  let whole = depth === MEMO_DEPTH - 1 && Object.isFrozen(obj);
  if (whole) {
    const hit = maps.get(obj);
    if (hit !== undefined) { sink.bytes(hit); return; }
    // Remembered from its second hashing on: a map a delta patched is new every
    // time, and copying megabytes for it once would be garbage per apply.
    if (!seenMaps.has(obj)) { seenMaps.add(obj); whole = false; }
  }
  if (whole) sink.mark();
  let sep = '{';
  // Index loops over 10k keys: no iterator results.
  const keys = sortedKeys(obj);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const v = obj[key];
    if (v === undefined) continue;
    sink.byte(sep === '{' ? 0x7b : 0x2c);
    sep = ',';
    if (depth === MEMO_DEPTH - 1 && typeof v === 'object' && v !== null && Object.isFrozen(v)) {
      let m = memo.get(v);
      if (m === undefined || m.key !== key) {
        m = { key, prefix: `${JSON.stringify(key)}:`, text: canonical(v, MEMO_DEPTH) };
        memo.set(v, m);
      }
      sink.str(m.prefix);
      sink.str(m.text);
    } else {
      sink.str(`${JSON.stringify(key)}:`);
      feedCanonical(sink, v, depth + 1);
    }
  }
  sink.str(sep === '{' ? '{}' : '}');
  if (whole) {
    const bytes = sink.since();
    if (bytes !== undefined) maps.set(obj, bytes);
  }
}

/**
 * Seals content into a snapshot: stamps its version and freezes it deeply.
 * Entries at depth 2 (a virtual host, a cluster, a secret) not frozen yet are
 * frozen here in one walk that also checks that their keys are in sorted
 * order at every level; the compiler builds them that way, and then their
 * canonical JSON is the native JSON.stringify (several times faster than
 * canonical()), remembered for the hash below and for every later snapshot
 * sharing the entry. An entry built in another order is serialised by
 * canonical() as before.
 */
export function sealSnapshot(content: SnapshotContent): Snapshot {
  const top = { ...content } as Record<string, unknown>;
  for (const field of Object.keys(top)) {
    const map = top[field];
    if (typeof map !== 'object' || map === null || Array.isArray(map) || Object.isFrozen(map)) continue;
    const m = map as Record<string, unknown>;
    const keys = Object.keys(m);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const v = m[key];
      if (typeof v !== 'object' || v === null || Object.isFrozen(v)) continue;
      // freezeSorted freezes `v` in any case; sorted, its JSON is canonical.
      if (freezeSorted(v)) memo.set(v, { key, prefix: `${JSON.stringify(key)}:`, text: JSON.stringify(v) });
    }
    // Every entry is frozen now: freezing the map here spares deepFreeze a
    // second walk over its 10k values.
    Object.freeze(m);
  }
  // Freeze first so the version computation can remember the frozen entries.
  const frozen = deepFreeze(top) as SnapshotContent;
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
