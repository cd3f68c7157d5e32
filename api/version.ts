// Versions are content hashes, so equal content always means equal version and a
// controller restart does not make every proxy re-apply what it already has.
import { createHash } from 'node:crypto';
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
// remembered per object. Consecutive snapshots share unchanged entries, so a
// one-route change re-serialises one virtual host instead of all 10k. Only
// depth 2 is remembered: deeper levels would store the same text many times
// over, and the maps at depth 1 are new in nearly every snapshot (a delta
// copies the map it patches) while holding the whole text once more.
//
// Keyed by object identity, so an entry must never change after it is
// remembered: only frozen objects are, and "frozen" is taken to mean deeply
// frozen, which holds for everything frozen by deepFreeze() below (it freezes
// children before their parent). Callers therefore freeze BEFORE hashing
// (sealSnapshot, proxy/apply.ts); an unfrozen object is serialised every time.
const MEMO_DEPTH = 2;
const memo = new WeakMap<object, string>();

/** Whether the canonical JSON of `value` is remembered (for tests and benchmarks). */
export function isMemoised(value: object): boolean {
  return memo.has(value);
}

function canonical(value: unknown, depth: number): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => canonical(v, depth + 1)).join(',')}]`;
  const remember = depth === MEMO_DEPTH && Object.isFrozen(value);
  if (remember) {
    const hit = memo.get(value);
    if (hit !== undefined) return hit;
  }
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of sortedKeys(obj)) {
    const v = obj[key];
    if (v === undefined) continue;
    parts.push(`${JSON.stringify(key)}:${canonical(v, depth + 1)}`);
  }
  const out = `{${parts.join(',')}}`;
  if (remember) memo.set(value, out);
  return out;
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
 * JSON. The text is fed to the hash in chunks rather than built whole: at 10k
 * hosts the whole text is megabytes of garbage per apply, though every entry's
 * part of it is remembered.
 */
export function versionOf(content: SnapshotContent): Version {
  const { version: _ignored, ...rest } = content as Snapshot;
  const hash = createHash('sha256');
  const out = { hash, buf: '' };
  feedCanonical(out, rest, 0);
  hash.update(out.buf);
  return hash.digest('hex').slice(0, 32);
}

/** Bytes of text gathered before a hash update: few native calls, small strings. */
const CHUNK = 64 * 1024;

/** canonical(value, depth), written to `out` piecewise above MEMO_DEPTH; the same text. */
function feedCanonical(out: { hash: ReturnType<typeof createHash>; buf: string }, value: unknown, depth: number): void {
  if (depth >= MEMO_DEPTH || value === null || typeof value !== 'object' || Array.isArray(value)) {
    out.buf += canonical(value, depth);
  } else {
    const obj = value as Record<string, unknown>;
    let sep = '{';
    for (const key of sortedKeys(obj)) {
      const v = obj[key];
      if (v === undefined) continue;
      out.buf += `${sep}${JSON.stringify(key)}:`;
      sep = ',';
      feedCanonical(out, v, depth + 1);
    }
    out.buf += sep === '{' ? '{}' : '}';
  }
  if (out.buf.length >= CHUNK) {
    out.hash.update(out.buf);
    out.buf = '';
  }
}

/** Seals content into a snapshot: stamps its version and freezes it deeply. */
export function sealSnapshot(content: SnapshotContent): Snapshot {
  // Freeze first so the version computation can remember the frozen entries.
  const frozen = deepFreeze({ ...content });
  const snapshot = Object.freeze({ ...frozen, version: versionOf(frozen) });
  sealed.add(snapshot);
  return snapshot;
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
  for (const v of Object.values(value as object)) deepFreeze(v);
  return Object.freeze(value);
}
