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
  for (const key of Object.keys(obj).sort()) {
    const v = obj[key];
    if (v === undefined) continue;
    parts.push(`${JSON.stringify(key)}:${canonical(v, depth + 1)}`);
  }
  const out = `{${parts.join(',')}}`;
  if (remember) memo.set(value, out);
  return out;
}

/** The version of some snapshot content: 128 bits of SHA-256 over its canonical JSON. */
export function versionOf(content: SnapshotContent): Version {
  const { version: _ignored, ...rest } = content as Snapshot;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex').slice(0, 32);
}

/** Seals content into a snapshot: stamps its version and freezes it deeply. */
export function sealSnapshot(content: SnapshotContent): Snapshot {
  // Freeze first so the version computation can remember the frozen entries.
  const frozen = deepFreeze({ ...content });
  return Object.freeze({ ...frozen, version: versionOf(frozen) });
}

/** Freezes an object graph; already-frozen sub-objects (shared with older snapshots) are skipped. */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  for (const v of Object.values(value as object)) deepFreeze(v);
  return Object.freeze(value);
}
