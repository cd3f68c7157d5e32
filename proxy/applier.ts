// The interface between the proxy's stream client and its data plane: the
// client hands over candidate snapshots, the applier validates, builds a new
// routing table, binds listeners and swaps, or refuses and keeps the last good one.
import type { Snapshot, Version } from '../api/snapshot.ts';

/** Result of one apply: ACK on ok, NACK with the code and reason otherwise. */
export type ApplyOutcome =
  | { readonly ok: true; readonly version: Version }
  | { readonly ok: false; readonly version?: Version; readonly code: string; readonly reason: string };

/** What the stream client needs from the data plane. */
export interface SnapshotApplier {
  /** The snapshot being served (the base for deltas), undefined before the first apply. */
  readonly current: Snapshot | undefined;
  /**
   * Applies untrusted JSON: validates it (including that `version` is the
   * content hash), builds the whole table, binds new listeners, then swaps one
   * reference. Never throws; failures come back as {ok: false} and leave the
   * current table serving. Calls are serialised by the caller.
   */
  apply(candidate: unknown): Promise<ApplyOutcome>;
}
