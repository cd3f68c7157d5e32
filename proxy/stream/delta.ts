// Turns a delta message into a candidate snapshot for the applier, without ever
// touching the snapshot being served: the patch is applied to a deep copy
// (fast-json-patch mutates its document and aliases patch values into it).
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import type { Snapshot } from '../../api/snapshot.ts';
import { DELTA_APPLY_FAILED, DELTA_BASE_MISMATCH, type DeltaMessage } from '../../api/stream.ts';

/** The candidate snapshot (untrusted until the applier validates it), or why there is none. */
export type DeltaResult =
  | { readonly ok: true; readonly candidate: unknown }
  | { readonly ok: false; readonly code: typeof DELTA_BASE_MISMATCH | typeof DELTA_APPLY_FAILED; readonly reason: string };

/** Applies `delta` to a copy of `current`; never throws, never mutates `current`. */
export function applyDelta(current: Snapshot | undefined, delta: DeltaMessage): DeltaResult {
  if (current === undefined || current.version !== delta.base) {
    return { ok: false, code: DELTA_BASE_MISMATCH, reason: `delta from ${delta.base} but serving ${current?.version ?? 'nothing'}` };
  }
  let candidate: unknown;
  try {
    // structuredClone also drops the freeze, so the patch can write to the copy.
    const doc = structuredClone(current) as unknown as Record<string, unknown>;
    // validate = true: a malformed operation or a path that does not exist fails
    // here; mutate = true is safe on our private copy; __proto__ paths are banned.
    candidate = jsonpatch.applyPatch(doc, delta.patch as Operation[], true, true, true).newDocument;
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
