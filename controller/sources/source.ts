// What every source of Kubernetes objects provides, so the manifest folder and
// the (later) informer source are interchangeable for the controller's wiring:
// start, wait for the first full sync, report problems, close.
import type { ObjectCache } from '../cache.ts';
import type { ErrorCode } from '../errors.ts';

/**
 * One thing a source could not use, in a shape the CLI can print and the admin
 * page can show. Problems are a current state, not a log: a fixed file's
 * problems disappear from the next list.
 */
export interface SourceProblem {
  readonly code: ErrorCode;
  /** "error": input was refused (the last good objects stay); "warning": input was ignored on purpose. */
  readonly severity: 'error' | 'warning';
  readonly message: string;
  /** Absolute path of the file, for file-based sources. */
  readonly file?: string;
  /** 1-based line and column within `file`, when known. */
  readonly line?: number;
  readonly col?: number;
  /** objectKey() of the object concerned, when there is one. */
  readonly object?: string;
}

/** A producer of objects for the cache (manifest folder, Kubernetes informers). */
export interface Source {
  /** For logs: "manifests:/etc/turnout", "kubernetes". */
  readonly name: string;
  /**
   * True once the cache holds a complete first view. The build loop must not
   * publish before every source is synced, or proxies would briefly be handed a
   * snapshot with routes missing.
   */
  readonly synced: boolean;
  /** Fills the cache and keeps it current; resolves after the first full sync, rejects if that is impossible. */
  start(cache: ObjectCache): Promise<void>;
  /** The current problems, sorted by file and line. */
  problems(): readonly SourceProblem[];
  /** Calls `listener` whenever the problem list changes; returns an unsubscribe function. */
  onProblems(listener: (problems: readonly SourceProblem[]) => void): () => void;
  /** Stops watching; the cache keeps the objects. */
  close(): Promise<void>;
}

/** One line per problem, compiler style: "path:line:col: error CODE: message". */
export function formatProblem(p: SourceProblem): string {
  const where = p.file === undefined ? '' : `${p.file}${p.line === undefined ? '' : `:${p.line}${p.col === undefined ? '' : `:${p.col}`}`}: `;
  return `${where}${p.severity} ${p.code}: ${p.message}`;
}
