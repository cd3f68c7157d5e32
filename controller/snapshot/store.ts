// Holds the published snapshot, a short history of the ones before it, and the
// wire messages derived from them. Every proxy that needs the same transition
// (same base version, same target) shares one diff and one JSON string, so the
// cost of a publish does not grow with the number of proxies.
import type { Snapshot, Version } from '../../api/snapshot.ts';
import type { ControllerMessage, DeltaMessage, SnapshotMessage } from '../../api/stream.ts';
import { assertValidSnapshot } from '../../api/validate.ts';
import { isSealed, versionOf } from '../../api/version.ts';
import { diffSnapshots } from '../../api/diff.ts';
import { TurnoutError } from '../errors.ts';

/** Options of SnapshotStore. */
export interface SnapshotStoreOptions {
  /**
   * How many versions to remember as delta bases (default 16). A proxy whose
   * version fell out of the history gets a full snapshot, which is always correct.
   */
  readonly historySize?: number;
}

/** A delta this small always goes as a delta, without comparing it to the full snapshot. */
const SMALL_DELTA_BYTES = 64 * 1024;

/**
 * The controller's single source of truth for "what proxies should serve".
 * Snapshots are sealed (frozen) and never mutated here: fast-json-patch's
 * compare() only reads, and nothing calls applyPatch on a stored snapshot.
 */
export class SnapshotStore {
  readonly #historySize: number;
  /** Oldest first; the last entry is the current snapshot. */
  readonly #history = new Map<Version, Snapshot>();
  readonly #subscribers = new Set<(snapshot: Snapshot) => void>();
  /** Per target snapshot: the message from each base version. Freed with the snapshot. */
  readonly #deltas = new WeakMap<Snapshot, Map<Version, ControllerMessage>>();
  readonly #fulls = new WeakMap<Snapshot, SnapshotMessage>();
  readonly #encoded = new WeakMap<ControllerMessage, string>();
  #current: Snapshot | undefined;
  #published = 0;

  constructor(options: SnapshotStoreOptions = {}) {
    const size = options.historySize ?? 16;
    if (!Number.isInteger(size) || size < 1) {
      throw new TurnoutError('INVALID_ARGUMENT', `historySize must be a positive integer, got ${size}`);
    }
    this.#historySize = size;
  }

  /** The snapshot proxies should serve now; undefined until the first publish. */
  get current(): Snapshot | undefined {
    return this.#current;
  }

  /** How many snapshots were published (for metrics and tests). */
  get publishedCount(): number {
    return this.#published;
  }

  /** A remembered snapshot by version (a possible delta base), or undefined. */
  get(version: Version | undefined): Snapshot | undefined {
    return version === undefined ? undefined : this.#history.get(version);
  }

  /** Remembered versions, oldest first, current last. */
  versions(): Version[] {
    return [...this.#history.keys()];
  }

  /**
   * Makes `snapshot` current and tells subscribers; false if it already is.
   * Refuses (throws) a snapshot that is not sealed, whose version is not its
   * content hash, or that fails validation: a compiler bug must not reach a proxy.
   */
  publish(snapshot: Snapshot): boolean {
    if (!Object.isFrozen(snapshot)) {
      throw new TurnoutError('INVALID_ARGUMENT', 'only sealed snapshots can be published (use sealSnapshot)');
    }
    if (snapshot.version === this.#current?.version) return false;
    // Entries shared with the current snapshot were checked when it was published.
    assertValidSnapshot(snapshot, this.#current);
    const hash = isSealed(snapshot) ? snapshot.version : versionOf(snapshot);
    if (hash !== snapshot.version) {
      throw new TurnoutError('INVALID_ARGUMENT', `snapshot version ${snapshot.version} is not its content hash ${hash}`);
    }
    // Re-publishing an older version (a revert) moves it to the end of the history.
    this.#history.delete(snapshot.version);
    this.#history.set(snapshot.version, snapshot);
    while (this.#history.size > this.#historySize) {
      const oldest = this.#history.keys().next().value as Version;
      this.#history.delete(oldest);
    }
    this.#current = snapshot;
    this.#published++;
    let firstError: unknown;
    for (const fn of [...this.#subscribers]) {
      try {
        fn(snapshot);
      } catch (err) {
        firstError ??= err;
      }
    }
    if (firstError !== undefined) throw firstError;
    return true;
  }

  /** Calls `fn` with every newly published snapshot; returns an unsubscribe function. */
  subscribe(fn: (snapshot: Snapshot) => void): () => void {
    this.#subscribers.add(fn);
    return () => void this.#subscribers.delete(fn);
  }

  /** The full-snapshot message for `to`, built once per snapshot. */
  full(to: Snapshot): SnapshotMessage {
    let msg = this.#fulls.get(to);
    if (msg === undefined) {
      msg = Object.freeze({ type: 'snapshot', snapshot: to });
      this.#fulls.set(to, msg);
    }
    return msg;
  }

  /**
   * The message that brings a proxy serving `from` to `to`: a JSON patch when
   * `from` is in the history, else (or when the patch would be larger than the
   * snapshot itself) the full snapshot. Cached per (from, to), so N proxies on
   * the same version cost one diff.
   */
  delta(from: Version | undefined, to: Snapshot): ControllerMessage {
    const base = this.get(from);
    if (base === undefined || from === undefined) return this.full(to);
    let byBase = this.#deltas.get(to);
    if (byBase === undefined) {
      byBase = new Map();
      this.#deltas.set(to, byBase);
    }
    let msg = byBase.get(from);
    if (msg === undefined) {
      // Keyed maps make this small: a one-route change is one or two operations
      // plus the version replacement (see pitfalls.md on array diffs).
      const patch = diffSnapshots(base, to);
      const delta: DeltaMessage = Object.freeze({ type: 'delta', base: from, version: to.version, patch });
      // A small patch is sent as is: serialising the full snapshot only to
      // compare sizes would keep megabytes of text per stored version alive.
      const small = this.encode(delta).length <= SMALL_DELTA_BYTES;
      msg = small || this.encode(delta).length < this.encode(this.full(to)).length ? delta : this.full(to);
      byBase.set(from, msg);
    }
    return msg;
  }

  /** The JSON text of a message, serialised once and shared by every proxy it goes to. */
  encode(msg: ControllerMessage): string {
    let text = this.#encoded.get(msg);
    if (text === undefined) {
      text = JSON.stringify(msg);
      this.#encoded.set(msg, text);
    }
    return text;
  }
}
