// Turns a delta message into a candidate snapshot for the applier, without ever
// touching the snapshot being served, and at a cost proportional to the patch,
// not to the snapshot: copy-on-write along the paths the patch writes.
//
// Before each operation, every container on its path (and on its `from` for a
// move or copy) is shallow-copied from the root down, each container at most
// once per delta, and the copy is linked into the already-copied parent. The
// operation then runs with fast-json-patch in mutate mode on that prepared
// document, so it only ever writes into our copies: fast-json-patch writes to
// the parent of the last path segment (and, for a move, to the parent of
// `from`), both of which are on a copied path. Everything the patch does not
// touch stays the served (deep-frozen) object, so the candidate shares it
// (`===`) with the served snapshot, which is what lets version.ts and
// routing/table.ts skip unchanged virtual hosts and clusters.
//
// The copy must be made per operation, not once up front: an earlier operation
// can move a served sub-object to a new place that a later one writes into.
//
// fast-json-patch is sloppy-mode code, so a write into a frozen object would be
// silently lost rather than throw; the copying is what makes the writes land.
//
// The candidate comes out deep-frozen, at a cost proportional to the patch too:
// each operation's value is frozen as it lands and our copies once at the end,
// so the applier's deepFreeze finds a frozen root and stops there instead of
// walking a 10k-entry map whose entries are all frozen already.
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { freezeMap, mapKeys, noteMapCopy, noteMapKeys, type Snapshot } from '../../api/snapshot.ts';
import { deepFreeze } from '../../api/version.ts';
import { DELTA_APPLY_FAILED, DELTA_BASE_MISMATCH, type DeltaMessage } from '../../api/stream.ts';
import { freezeOverlay, isOverlay, overlayOf, plainCopyOf } from './overlay.ts';

/** The candidate snapshot (untrusted until the applier validates it), or why there is none. */
export type DeltaResult =
  | { readonly ok: true; readonly candidate: unknown }
  | { readonly ok: false; readonly code: typeof DELTA_BASE_MISMATCH | typeof DELTA_APPLY_FAILED; readonly reason: string };

/** Options of applyDelta. */
export interface DeltaOptions {
  /**
   * Copy a large top-level map (the virtual hosts, the clusters) as an
   * overlay over the served one instead of whole (overlay.ts). Only for a
   * candidate applied in this process: an overlay cannot be structured-cloned
   * to a worker.
   */
  readonly overlays?: boolean;
}

/**
 * Applies `delta` to a copy-on-write view of `current`; never throws, never
 * mutates `current`. Sub-objects the patch does not write into are shared with
 * `current` (the applier freezes the candidate, so sharing frozen objects is safe).
 */
export function applyDelta(current: Snapshot | undefined, delta: DeltaMessage, options: DeltaOptions = {}): DeltaResult {
  if (current === undefined || current.version !== delta.base) {
    return { ok: false, code: DELTA_BASE_MISMATCH, reason: `delta from ${delta.base} but serving ${current?.version ?? 'nothing'}` };
  }
  let candidate: unknown;
  try {
    candidate = patchCopyOnWrite(current, delta.patch, options.overlays === true);
  } catch (err) {
    return { ok: false, code: DELTA_APPLY_FAILED, reason: `patch does not apply: ${describe(err)}` };
  }
  const version = (candidate as { version?: unknown } | null)?.version;
  if (version !== delta.version) {
    return { ok: false, code: DELTA_APPLY_FAILED, reason: `patch produced version ${JSON.stringify(version)}, expected ${delta.version}` };
  }
  return { ok: true, candidate };
}

/**
 * What `jsonpatch.applyPatch(clone(doc), patch, true, true, true)` returns,
 * without the clone. Operations are validated (validate = true: a malformed
 * operation or a path that does not exist throws) and `__proto__` /
 * `constructor/prototype` paths are banned, exactly as applyPatch does.
 */
function patchCopyOnWrite(served: object, patch: readonly Operation[], overlays: boolean): unknown {
  if (!Array.isArray(patch)) throw new jsonpatch.JsonPatchError('Patch sequence must be an array', 'SEQUENCE_NOT_AN_ARRAY');
  // A copy operation ends in a deepFreeze of the whole document, which an
  // overlay refuses (overlay.ts): never sent by the controller, so plain copies then.
  const own: Own = new Map();
  own.overlays = overlays && !patch.some((op) => (op as { op?: unknown } | null)?.op === 'copy');
  let doc: unknown = served;
  let cloned = false;
  for (let i = 0; i < patch.length; i++) {
    const op = patch[i] as Operation;
    doc = ownRoot(doc, own);
    if (typeof op === 'object' && op !== null) {
      // The key an operation writes under is noted on its (copied) parent
      // whatever the operation: a superset of the keys written is harmless.
      if (typeof op.path === 'string') prepare(doc, op.path, own);
      // move removes from `from`; copy only reads it, but preparing is harmless.
      const from = (op as { from?: unknown }).from;
      if ((op.op === 'move' || op.op === 'copy') && typeof from === 'string') prepare(doc, from, own);
    }
    // One operation at a time, as applyPatch does, with the same flags and index.
    doc = jsonpatch.applyOperation(doc, op, true, true, true, i).newDocument;
    // add and replace insert op.value itself (mutate mode aliases it): frozen
    // now, so a later operation that writes below it copies it like any frozen
    // container. copy inserts a clone we cannot reach: frozen by the walk below.
    if (op.op === 'add' || op.op === 'replace') deepFreeze(op.value);
    else if (op.op === 'copy') cloned = true;
  }
  // A copy's clone sits under one of our copies: a whole walk, before our
  // copies are frozen (deepFreeze stops at anything frozen). Never sent by the
  // controller (compare() emits add, remove and replace only).
  if (cloned) return deepFreeze(doc);
  // Children before parents: a container is copied only after its parent is
  // ours, so reverse order of copying freezes the deeper ones first.
  const copies = [...own];
  for (let i = copies.length - 1; i >= 0; i--) {
    const [copy, { from, written }] = copies[i]!;
    if (Array.isArray(copy)) { Object.freeze(copy); continue; }
    // An overlay's keys come from its base and changes when asked (overlay.ts):
    // no list kept. A plain copy is remembered as frozen (Object.isFrozen of a
    // 10k-key map walks it: isFrozenMap) with its key list.
    const overlay = isOverlay(copy);
    if (overlay) freezeOverlay(copy);
    else freezeMap(copy);
    noteMapCopy(copy, from, written);
    if (!overlay) noteMapKeys(copy, keysAfter(copy, from, written));
  }
  return doc;
}

/**
 * The own keys of `copy`, a copy of `from` in which only `written` keys were
 * added, replaced or removed: from's list itself when no key came or went,
 * so the next delta's copy needs no Object.keys of a 10k-key map (mapKeys).
 * Otherwise one exact-size copy of from's list with the removed keys' slots
 * reused for the added ones (a renamed host: no growth, no second copy); it
 * lives as long as the snapshot, so its size is old-generation garbage at the
 * next change (docs/performance.md, "Proxy RSS at 10k, second pass").
 */
function keysAfter(copy: object, from: object, written: ReadonlySet<string>): readonly string[] {
  const before = mapKeys(from);
  let gone: Set<string> | undefined;
  let added: string[] | undefined;
  for (const k of written) {
    const has = Object.hasOwn(copy, k);
    if (has === Object.hasOwn(from, k)) continue;
    if (has) (added ??= []).push(k);
    else (gone ??= new Set()).add(k);
  }
  if (gone === undefined && added === undefined) return before;
  const out = before.slice();
  let next = 0;
  if (gone !== undefined) {
    let w = 0;
    for (let r = 0; r < out.length; r++) {
      const k = out[r] as string;
      if (!gone.has(k)) out[w++] = k;
      else if (added !== undefined && next < added.length) out[w++] = added[next++] as string;
    }
    out.length = w;
  }
  if (added !== undefined) for (; next < added.length; next++) out.push(added[next] as string);
  return out;
}

/**
 * Our copies: each with the container it copies and the keys written into it
 * since; `overlays` when a top-level map may be copied as an overlay.
 */
type Own = Map<object, { readonly from: object; readonly written: Set<string> }> & { overlays?: boolean };

/**
 * Top-level snapshot maps that may be overlays (overlay.ts): the ones a
 * one-route change and a one-cluster endpoint change write into.
 */
const OVERLAID = new Set(['virtualHosts', 'clusters']);

/** A copy of `value`, recorded as ours; an overlay when `field` is a top-level map that may be one. */
function copyOf(value: object, own: Own, field?: string): object {
  const copy = (own.overlays === true && field !== undefined && OVERLAID.has(field) ? overlayOf(value, () => mapKeys(value).length) : undefined) ?? shallowCopy(value);
  own.set(copy, { from: value, written: new Set() });
  return copy;
}

/** The document root as a container of ours (copied once), or the value itself when not an object. */
function ownRoot(doc: unknown, own: Own): unknown {
  if (typeof doc !== 'object' || doc === null || own.has(doc)) return doc;
  return copyOf(doc, own);
}

/**
 * Makes every container on `pointer` up to the parent of its last segment one
 * of ours, copying and relinking as needed. Stops where the path leaves the
 * document or goes through a non-own property (`__proto__`, `toString`, ...):
 * fast-json-patch then refuses the operation before writing anything, and we
 * never copy or relink an inherited object.
 */
function prepare(root: unknown, pointer: string, own: Own): void {
  if (pointer === '' || typeof root !== 'object' || root === null) return;
  const segments = pointer.split('/');
  let parent = root as Record<string, unknown>;
  // segments[0] is "" before the leading slash; the last segment is the target itself.
  for (let t = 1; t < segments.length; t++) {
    const key = unescape(segments[t] as string);
    // The key the operation itself writes under (or reads, for copy's from).
    if (t === segments.length - 1) return void own.get(parent)?.written.add(key);
    if (!Object.hasOwn(parent, key)) return;
    const child = parent[key];
    if (typeof child !== 'object' || child === null) return;
    if (own.has(child)) {
      parent = child as Record<string, unknown>;
      continue;
    }
    own.get(parent)?.written.add(key);
    parent = parent[key] = copyOf(child, own, t === 1 ? key : undefined) as Record<string, unknown>;
  }
}

function unescape(segment: string): string {
  return segment.includes('~') ? jsonpatch.unescapePathComponent(segment) : segment;
}

/**
 * A shallow copy that drops the freeze. An own "__proto__" key is defined as
 * data, never assigned (that would call the prototype setter). A key loop, not
 * spread: at 10k keys (a dictionary-mode object) it takes half the time.
 */
function shallowCopy(value: object): object {
  if (Array.isArray(value)) return value.slice();
  // An overlay that carries MAX_CHANGES: copied from its base and changes, not through its traps.
  const fromOverlay = plainCopyOf(value, true);
  if (fromOverlay !== undefined) return fromOverlay;
  const src = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  // The key list recorded for the served map when it was a copy (keysAfter).
  const keys = mapKeys(src);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    if (key === '__proto__') Object.defineProperty(out, key, { value: src[key], enumerable: true, writable: true, configurable: true });
    else out[key] = src[key];
  }
  return out;
}

/**
 * A JsonPatchError's message embeds the whole document, which holds TLS private
 * keys: report only its code, index and the operation's op and path.
 */
function describe(err: unknown): string {
  if (err instanceof jsonpatch.JsonPatchError) {
    const op = err.operation as Partial<Operation> | undefined;
    const first = err.message.split('\n')[0];
    return `${err.name} at operation ${err.index ?? '?'} (${op?.op ?? '?'} ${op?.path ?? '?'}): ${first}`;
  }
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? 'unknown error';
}
