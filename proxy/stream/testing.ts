// A stand-in for the proxy's data plane (proxy/applier.ts is written
// separately): it validates like the real applier must, and lets tests refuse
// versions or hold applies to simulate a slow proxy. Not used in production.
import type { Snapshot, Version } from '../../api/snapshot.ts';
import { assertValidSnapshot } from '../../api/validate.ts';
import { deepFreeze, versionOf } from '../../api/version.ts';
import type { ApplyOutcome, SnapshotApplier } from '../applier.ts';

/** Validates with assertValidSnapshot, checks the version is the content hash, then "serves" the snapshot. */
export class FakeApplier implements SnapshotApplier {
  current: Snapshot | undefined;
  /** Versions applied, in order. */
  readonly applied: Version[] = [];
  /** Number of apply() calls, refused ones included. */
  calls = 0;
  /** Versions to refuse for their content (code TLS_SECRET_INVALID), as a real proxy might. */
  readonly refuse = new Set<Version>();
  /** Versions to refuse while the set holds them with LISTENER_BIND_FAILED (a port still taken). */
  readonly refuseBind = new Set<Version>();
  #gate: Promise<void> | undefined;
  #onCall: (() => void) | undefined;

  async apply(candidate: unknown): Promise<ApplyOutcome> {
    this.calls++;
    this.#onCall?.();
    await this.#gate;
    try {
      assertValidSnapshot(candidate);
    } catch (err) {
      return { ok: false, code: 'SNAPSHOT_INVALID', reason: (err as Error).message };
    }
    const hash = versionOf(candidate);
    if (hash !== candidate.version) {
      return { ok: false, version: candidate.version, code: 'SNAPSHOT_VERSION_MISMATCH', reason: `content hash is ${hash}` };
    }
    if (this.refuse.has(candidate.version)) {
      return { ok: false, version: candidate.version, code: 'TLS_SECRET_INVALID', reason: 'refused by the test' };
    }
    if (this.refuseBind.has(candidate.version)) {
      return { ok: false, version: candidate.version, code: 'LISTENER_BIND_FAILED', reason: 'port taken in the test' };
    }
    this.current = deepFreeze(candidate);
    this.applied.push(candidate.version);
    return { ok: true, version: candidate.version };
  }

  /** Holds every apply until the returned function is called. */
  block(): () => void {
    let release!: () => void;
    this.#gate = new Promise((resolve) => (release = resolve));
    return () => {
      this.#gate = undefined;
      release();
    };
  }

  /** Resolves when the next apply() call starts (before the gate). */
  nextCall(): Promise<void> {
    return new Promise((resolve) => {
      this.#onCall = () => {
        this.#onCall = undefined;
        resolve();
      };
    });
  }
}
