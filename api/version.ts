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
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(obj).sort()) {
    const v = obj[key];
    if (v === undefined) continue;
    parts.push(`${JSON.stringify(key)}:${canonicalJson(v)}`);
  }
  return `{${parts.join(',')}}`;
}

/** The version of some snapshot content: 128 bits of SHA-256 over its canonical JSON. */
export function versionOf(content: SnapshotContent): Version {
  const { version: _ignored, ...rest } = content as Snapshot;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex').slice(0, 32);
}

/** Seals content into a snapshot: stamps its version and freezes it deeply. */
export function sealSnapshot(content: SnapshotContent): Snapshot {
  return deepFreeze({ ...content, version: versionOf(content) });
}

/** Freezes an object graph; already-frozen sub-objects (shared with older snapshots) are skipped. */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  for (const v of Object.values(value as object)) deepFreeze(v);
  return Object.freeze(value);
}
