// One full garbage collection right after a full snapshot was swapped in.
//
// Applying a full snapshot (5.3 MB of JSON at 10k routes) leaves 10–20 MB of
// garbage that only a full collection frees: the message's Buffers (ws's
// read fragments and their concatenation, external memory), the parsed
// text, the previous table and the apply's own intermediates, most of them
// promoted while the apply ran. A proxy that goes quiet afterwards runs no
// full GC until V8's memory reducer gets to it, and one under load only when
// the old generation reaches its limit: until then they are resident
// (docs/performance.md, "Proxy RSS third pass": 11 MB at 10k). Full snapshots are rare (start-up, a
// reconnect, a resync), so one collection each costs little (~50–75 ms CPU at
// 10k; deltas never trigger it).
//
// V8's `gc()` is only a global with --expose-gc; the flag can be set at run
// time and the function taken from a new context (as jest's leak detector
// does), without exposing it to anything else in this process.
import v8 from 'node:v8';
import vm from 'node:vm';

let collect: (() => void) | null | undefined;

/** V8's full-GC function, or null when this Node refuses to give it. */
function gcFunction(): (() => void) | null {
  if (collect !== undefined) return collect;
  const own = (globalThis as { gc?: unknown }).gc;
  if (typeof own === 'function') return (collect = own as () => void);
  try {
    v8.setFlagsFromString('--expose-gc');
    const fn: unknown = vm.runInNewContext('gc');
    collect = typeof fn === 'function' ? (fn as () => void) : null;
  } catch {
    collect = null;
  } finally {
    // Contexts created from now on get no `gc` global.
    v8.setFlagsFromString('--no-expose-gc');
  }
  return collect;
}

/**
 * Runs one full collection (see the top of the file); false when it could
 * not. Synchronous: the caller runs it in a turn of its own.
 */
export function collectAfterFullApply(): boolean {
  const fn = gcFunction();
  if (fn === null) return false;
  fn();
  return true;
}
