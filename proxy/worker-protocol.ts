// The messages between the proxy's supervisor (workers.ts) and its worker
// processes (worker.ts), over the IPC channel of child_process.fork. Applying
// a snapshot is two-phase, so no worker serves a version another refused:
// prepare (validate, build, bind) everywhere, then commit everywhere, or abort.
import type { Snapshot, Version } from '../api/snapshot.ts';
import type { Operation } from 'fast-json-patch';
import type { DataPlaneStatus } from './apply.ts';
import type { DataPlaneOptions } from './apply.ts';

/** What a worker needs to build its DataPlane; passed as JSON in its argv. */
export type WorkerConfig = Pick<DataPlaneOptions, 'drainTimeoutMs' | 'reusePort' | 'sendTimeoutMs' | 'maxAttempts' | 'limits' | 'dns' | 'http1Engine'> & {
  /** Log level of the worker's logger. */
  readonly logLevel: string;
};

/** Supervisor → worker. */
export type ToWorker =
  /** A whole snapshot (a new worker, or one whose base differs). */
  | { readonly type: 'prepare'; readonly seq: number; readonly snapshot: Snapshot }
  /** A JSON patch from the snapshot the worker serves (`base`). */
  | { readonly type: 'prepare'; readonly seq: number; readonly base: Version; readonly version: Version; readonly patch: readonly Operation[] }
  | { readonly type: 'commit'; readonly seq: number }
  | { readonly type: 'abort'; readonly seq: number }
  | { readonly type: 'status'; readonly seq: number }
  /** Stop accepting, drain, exit 0. */
  | { readonly type: 'drain' };

/** Worker → supervisor. */
export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'prepared'; readonly seq: number; readonly ok: true; readonly version: Version }
  | { readonly type: 'prepared'; readonly seq: number; readonly ok: false; readonly code: string; readonly reason: string }
  | { readonly type: 'committed'; readonly seq: number; readonly version: Version }
  | { readonly type: 'aborted'; readonly seq: number }
  | { readonly type: 'status'; readonly seq: number; readonly status: DataPlaneStatus };
