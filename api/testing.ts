// Test helpers for api/: the snapshot version written out from its
// definition, which the optimised code in version.ts must always agree with.
// Not part of the build (tsconfig.build.json leaves testing.ts files out).
import { createHash } from 'node:crypto';

/**
 * The definition of the version (turnout.snapshot.v2), written out without
 * anything remembered: per SECTIONS map, keys in 256 buckets by FNV-1a, each
 * bucket hashed as the sorted-key JSON of its entries, the section as SHA-256
 * over the bucket digests; the version is SHA-256 of the sorted-key JSON with
 * each section replaced by its digest, 32 hex digits.
 */
export function referenceVersion(value: unknown): string {
  const canon = (v: unknown): string => {
    if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
    if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canon(o[k])}`).join(',')}}`;
  };
  const sha = (data: string | Buffer) => createHash('sha256').update(data).digest();
  const section = (map: Record<string, unknown>): string => {
    // Null-prototype buckets: "__proto__" is then an ordinary key, as in JSON.
    const buckets: Record<string, unknown>[] = Array.from({ length: 256 }, () => Object.create(null) as Record<string, unknown>);
    for (const key of Object.keys(map)) buckets[bucketOf(key)]![key] = map[key];
    return sha(Buffer.concat(buckets.map((b) => sha(canon(b))))).toString('hex');
  };
  const { version: _v, ...rest } = value as Record<string, unknown>;
  const top: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rest)) {
    top[k] = ['listeners', 'virtualHosts', 'clusters', 'secrets'].includes(k) && typeof v === 'object' && v !== null && !Array.isArray(v)
      ? `sha256:${section(v as Record<string, unknown>)}` : v;
  }
  return createHash('sha256').update(canon(top)).digest('hex').slice(0, 32);
}

/** The bucket of a key by the definition: FNV-1a over its UTF-16 code units, modulo 256. */
export function bucketOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % 256;
}
