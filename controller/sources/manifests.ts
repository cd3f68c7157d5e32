// A source that reads Kubernetes manifests from a folder (local mode, demos,
// GitOps checkouts, ConfigMap volumes) and keeps the cache in step with it.
//
// Every reload rescans the whole folder and applies the result as ONE cache
// batch, so the compiler never sees half a reload (a new Ingress without the
// Service written next to it). A file that cannot be used keeps the objects it
// had before and is reported, Skipper-style: the last good input stays until the
// next good one.
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import type { ObjectCache } from '../cache.ts';
import { TurnoutError } from '../errors.ts';
import { createLogger, type Logger } from '../../lib/log.ts';
import { HoldOff, type HoldOffTiming } from '../holdoff.ts';
import { parseManifest } from './manifest-parse.ts';
import type { ManifestObject } from './manifest-parse.ts';
import type { Source, SourceProblem } from './source.ts';

/** File name endings read as manifests (compared case-insensitively). */
export const MANIFEST_EXTENSIONS: readonly string[] = ['.yaml', '.yml', '.json'];

/**
 * The largest manifest file read. A YAML file of 16 MiB is already thousands of
 * objects; anything bigger is a mistake (a log, an image) that would stall the
 * event loop while parsing.
 */
export const MAX_MANIFEST_BYTES = 16 * 1048576;

/** Options of ManifestSource. */
export interface ManifestSourceOptions {
  /** The folder; read recursively. Relative paths resolve against the working directory. */
  readonly dir: string;
  /** Reload debounce; default 100 ms of quiet, at most 500 ms. */
  readonly debounce?: HoldOffTiming;
  /**
   * Full rescan interval in ms (default 60 s, 0 disables): a safety net for
   * missed watch events (network file systems, a watcher that failed).
   */
  readonly rescanIntervalMs?: number;
  readonly log?: Logger;
}

/** What is known about one file since its last read. */
interface FileState {
  /** The text last read; a rescan that reads the same text skips parsing. */
  readonly text: string | undefined;
  /** The last good objects (kept while the file is broken or unreadable). */
  readonly objects: readonly ManifestObject[];
  readonly problems: readonly SourceProblem[];
  /** When the file was first read empty while it had objects (see EMPTY_GRACE_MS). */
  readonly emptySince?: number;
  /** Its stat when `text` was read: device, inode, size, mtime and ctime (ns). */
  readonly sig?: string;
  /**
   * Its ctime was older than the read by RACY_MS: a later write changes the
   * ctime, so an equal `sig` means equal text and a watch-triggered reload
   * need not read it again. A file written just before it was read is read
   * every time (two writes within one timestamp tick could share a ctime).
   */
  readonly stable?: boolean;
}

/** How old a file's ctime must be, relative to its read, for its stat to stand for its text (see FileState.stable). */
const RACY_MS = 2_000;

/**
 * How long a file that suddenly reads empty keeps its objects. Editors and
 * `>` redirections truncate a file, then write it: read in between, it would
 * drop every route it defines for a moment (404s). Empty for this long, it
 * really is empty. Writing manifests atomically (a rename) avoids the wait.
 */
export const EMPTY_GRACE_MS = 1_000;

/** The manifest-folder Source. See the module comment for the rules. */
export class ManifestSource implements Source {
  readonly name: string;
  readonly dir: string;
  readonly #log: Logger;
  readonly #debounce: HoldOff;
  readonly #rescanIntervalMs: number;
  readonly #listeners = new Set<(problems: readonly SourceProblem[]) => void>();
  readonly #reloadListeners = new Set<() => void>();
  #files = new Map<string, FileState>();
  /** Folder-level problems of the last scan (unreadable subfolders, folder gone). */
  #scanProblems: SourceProblem[] = [];
  /** Duplicate-object problems of the last apply. */
  #duplicates: SourceProblem[] = [];
  #watchProblem: SourceProblem | undefined;
  #problems: readonly SourceProblem[] = [];
  /** objectKey → object this source last put in the cache. */
  #owned = new Map<string, ManifestObject>();
  #cache: ObjectCache | undefined;
  /**
   * One non-recursive watcher per folder of the last scan. Not
   * `watch(root, {recursive: true})`: on Linux, Node 24's recursive watcher
   * stops reporting a file after it was replaced by a rename (how editors and
   * tools write atomically): measured, 3 events for the first rename, then none.
   */
  readonly #watchers = new Map<string, FSWatcher>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  /** The pending reload must read every file (not only those whose stat changed). */
  #againFull = false;
  #synced = false;
  #closed = false;

  constructor(options: ManifestSourceOptions) {
    if (typeof options.dir !== 'string' || options.dir === '') {
      throw new TurnoutError('INVALID_ARGUMENT', 'ManifestSource needs a folder');
    }
    this.dir = resolve(options.dir);
    this.name = `manifests:${this.dir}`;
    this.#log = options.log ?? createLogger({ level: 'warn' });
    this.#rescanIntervalMs = options.rescanIntervalMs ?? 60_000;
    // Watch events reload what changed; the periodic rescan and reload() read every file.
    this.#debounce = new HoldOff(() => void this.reload(false), options.debounce);
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** Rejects with MANIFEST_DIR_NOT_FOUND if the folder is missing; otherwise resolves after the first load. */
  async start(cache: ObjectCache): Promise<void> {
    if (this.#cache !== undefined) throw new TurnoutError('INVALID_ARGUMENT', `${this.name} was already started`);
    const st = await stat(this.dir).catch(() => undefined);
    if (st === undefined || !st.isDirectory()) {
      throw new TurnoutError('MANIFEST_DIR_NOT_FOUND', `manifest folder ${this.dir} ${st ? 'is not a directory' : 'does not exist'}`);
    }
    this.#cache = cache;
    this.#syncWatchers([this.dir]); // before the first scan, so nothing written during it is missed
    if (this.#rescanIntervalMs > 0) {
      this.#timer = setInterval(() => void this.reload(), this.#rescanIntervalMs);
      this.#timer.unref();
    }
    await this.reload();
    this.#synced = true;
  }

  problems(): readonly SourceProblem[] {
    return this.#problems;
  }

  onProblems(listener: (problems: readonly SourceProblem[]) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /** Calls `listener` after every completed reload, changed or not: lets tests wait for a rescan. */
  onReload(listener: () => void): () => void {
    this.#reloadListeners.add(listener);
    return () => void this.#reloadListeners.delete(listener);
  }

  /**
   * Rescans the folder now (the watcher calls this, debounced; SIGHUP may too).
   * Reloads never overlap: one requested during a reload runs right after it.
   * `full` (the default) reads every file; without it a file whose stat did
   * not change since an old enough read is not read again (the watcher's way).
   */
  reload(full = true): Promise<void> {
    if (this.#closed || this.#cache === undefined) return Promise.resolve();
    this.#againFull ||= full;
    if (this.#running !== undefined) {
      this.#again = true;
      return this.#running;
    }
    const run = async (): Promise<void> => {
      try {
        do {
          this.#again = false;
          const all = this.#againFull;
          this.#againFull = false;
          await this.#reloadOnce(all);
        } while (this.#again && !this.#closed);
      } finally {
        this.#running = undefined;
      }
    };
    this.#running = run();
    return this.#running;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#debounce.cancel();
    clearInterval(this.#timer);
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
    await this.#running;
  }

  /** Watches exactly `dirs` (the folders of the last scan): new ones are added, gone ones closed. */
  #syncWatchers(dirs: readonly string[]): void {
    if (this.#closed) return;
    const wanted = new Set(dirs);
    for (const [dir, w] of this.#watchers) {
      if (!wanted.has(dir)) {
        w.close();
        this.#watchers.delete(dir);
      }
    }
    let failed: unknown;
    for (const dir of wanted) {
      if (this.#watchers.has(dir)) continue;
      try {
        const w = watch(dir, () => this.#debounce.trigger());
        w.on('error', (err) => {
          w.close();
          if (this.#watchers.get(dir) === w) this.#watchers.delete(dir);
          this.#setWatchProblem(err);
          this.#debounce.trigger();
        });
        this.#watchers.set(dir, w);
      } catch (err) {
        failed ??= err;
      }
    }
    this.#setWatchProblem(failed);
  }

  #setWatchProblem(err: unknown): void {
    this.#watchProblem = err === undefined ? undefined : {
      code: 'MANIFEST_WATCH_FAILED', severity: 'error', file: this.dir,
      message: `cannot watch the folder (${(err as Error).message}); rescanning every ${this.#rescanIntervalMs} ms`,
    };
    this.#publishProblems();
  }

  async #reloadOnce(full: boolean): Promise<void> {
    const scan = await this.#scan();
    if (scan === undefined) {
      // The folder itself is gone (an unmounted volume?): keep serving what we had.
      this.#scanProblems = [{ code: 'MANIFEST_DIR_NOT_FOUND', severity: 'error', file: this.dir, message: `manifest folder ${this.dir} does not exist; keeping the last objects` }];
      this.#publishProblems();
      this.#emitReload();
      return;
    }
    const next = new Map<string, FileState>();
    // Files under a folder that became unreadable are kept as they were.
    for (const [file, state] of this.#files) {
      if (scan.unreadableDirs.some((d) => file.startsWith(d + '/'))) next.set(file, state);
    }
    await forEachLimited(scan.files, 32, async (file) => {
      const state = await this.#readFile(file, this.#files.get(file), full);
      if (state !== undefined) next.set(file, state);
    });
    if (this.#closed) return;
    this.#files = new Map([...next].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    this.#scanProblems = scan.problems;
    this.#syncWatchers(scan.dirs);
    this.#apply();
    this.#emitReload();
  }

  /**
   * Reads and parses one file; undefined if it vanished since the scan.
   * Unless `full`, a stable file (see FileState.stable) with the same stat is
   * taken as unchanged without reading it: a change to one manifest of a
   * folder then reads one file, not all of them.
   */
  async #readFile(file: string, prev: FileState | undefined, full: boolean): Promise<FileState | undefined> {
    let text: string;
    let sig: string;
    let stable: boolean;
    try {
      const started = Date.now();
      const st = await stat(file, { bigint: true });
      if (st.size > BigInt(MAX_MANIFEST_BYTES)) {
        throw new Error(`${st.size} bytes is over the ${MAX_MANIFEST_BYTES / 1048576} MiB limit for one manifest file`);
      }
      sig = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
      if (!full && prev?.stable === true && prev.sig === sig && prev.text !== undefined) return prev;
      stable = Number(st.ctimeNs / 1_000_000n) < started - RACY_MS;
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      return {
        text: undefined, objects: prev?.objects ?? [],
        problems: [{ code: 'MANIFEST_UNREADABLE', severity: 'error', file, message: `cannot read: ${(err as Error).message}` }],
      };
    }
    if (prev !== undefined && prev.text === text) return prev.sig === sig && prev.stable === stable ? prev : { ...prev, sig, stable };
    if (text.trim() === '' && prev !== undefined && prev.objects.length > 0) {
      const since = prev.emptySince ?? Date.now();
      if (Date.now() - since < EMPTY_GRACE_MS) {
        // Look again once the grace is over, even if nothing else changes.
        if (prev.emptySince === undefined) setTimeout(() => this.#debounce.trigger(), EMPTY_GRACE_MS).unref();
        return { ...prev, emptySince: since, sig: undefined, stable: false };
      }
    }
    const parsed = parseManifest(file, text);
    if (parsed.error !== undefined) return { text, objects: prev?.objects ?? [], problems: [parsed.error], sig, stable };
    return { text, objects: parsed.objects, problems: parsed.warnings, sig, stable };
  }

  /** Chooses a winner per object (first file in path order) and applies the difference as one batch. */
  #apply(): void {
    const cache = this.#cache!;
    const winners = new Map<string, { file: string; object: ManifestObject }>();
    const duplicates: SourceProblem[] = [];
    for (const [file, state] of this.#files) {
      for (const object of state.objects) {
        const first = winners.get(object.key);
        if (first === undefined) {
          winners.set(object.key, { file, object });
        } else {
          duplicates.push({
            code: 'MANIFEST_DUPLICATE_OBJECT', severity: 'error', file, line: object.line, object: object.key,
            message: `${object.key} is also defined in ${first.file}:${first.object.line}, which wins; this one is ignored`,
          });
        }
      }
    }
    const owned = new Map<string, ManifestObject>();
    const changed = cache.batch(() => {
      for (const [key, { object }] of winners) {
        // Same parsed object as last time (file unchanged): skip re-hashing it.
        if (this.#owned.get(key) !== object) cache.upsert(object.obj);
        owned.set(key, object);
      }
      for (const [key, object] of this.#owned) {
        if (!owned.has(key)) cache.remove(object.obj.kind!, object.obj.metadata.namespace, object.obj.metadata.name);
      }
    });
    this.#owned = owned;
    if (changed) this.#log.info('manifests reloaded', { dir: this.dir, objects: owned.size });
    this.#publishProblems(duplicates);
  }

  #publishProblems(duplicates?: SourceProblem[]): void {
    if (duplicates !== undefined) this.#duplicates = duplicates;
    const all = [
      ...(this.#watchProblem ? [this.#watchProblem] : []),
      ...this.#scanProblems,
      ...[...this.#files.values()].flatMap((s) => s.problems),
      ...this.#duplicates,
    ].sort(compareProblems);
    const before = new Set(this.#problems.map((p) => JSON.stringify(p)));
    const now = all.map((p) => JSON.stringify(p));
    if (now.length === before.size && now.every((p) => before.has(p))) return;
    this.#problems = Object.freeze(all);
    all.forEach((p, i) => {
      if (!before.has(now[i]!)) this.#log.warn(p.message, { code: p.code, file: p.file, line: p.line });
    });
    for (const listener of [...this.#listeners]) listener(this.#problems);
  }

  #emitReload(): void {
    for (const listener of [...this.#reloadListeners]) listener();
  }

  #scan(): ReturnType<typeof listManifestFiles> {
    return listManifestFiles(this.dir);
  }
}

function compareProblems(a: SourceProblem, b: SourceProblem): number {
  const fa = a.file ?? '';
  const fb = b.file ?? '';
  if (fa !== fb) return fa < fb ? -1 : 1;
  return (a.line ?? 0) - (b.line ?? 0) || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0);
}

/** Runs `fn` over `items` with at most `limit` in flight (file descriptors are finite). */
async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Lists the manifest files under `root`, sorted, skipping hidden entries
 * (editor swap files, ConfigMap volumes' `..data` internals; their visible
 * symlinks are followed) and folders already visited (symlink loops).
 * Undefined if the root is gone. Shared with `kubectl turnout check`.
 */
export async function listManifestFiles(root: string): Promise<{ files: string[]; dirs: string[]; unreadableDirs: string[]; problems: SourceProblem[] } | undefined> {
  const files: string[] = [];
  const dirs: string[] = [];
  const unreadableDirs: string[] = [];
  const problems: SourceProblem[] = [];
  const seen = new Set<string>();
  const walk = async (dir: string, isRoot: boolean): Promise<boolean> => {
    let entries;
    try {
      const st = await stat(dir);
      const id = `${st.dev}:${st.ino}`;
      if (seen.has(id)) return true;
      seen.add(id);
      dirs.push(dir);
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (isRoot && (err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      unreadableDirs.push(dir);
      problems.push({ code: 'MANIFEST_UNREADABLE', severity: 'error', file: dir, message: `cannot read folder: ${(err as Error).message}` });
      return true;
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const full = join(dir, e.name);
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        const target = await stat(full).catch(() => undefined); // dangling links are skipped
        isDir = target?.isDirectory() ?? false;
        isFile = target?.isFile() ?? false;
      }
      if (isDir) await walk(full, false);
      else if (isFile && MANIFEST_EXTENSIONS.includes(extname(e.name).toLowerCase())) files.push(full);
    }
    return true;
  };
  if (!(await walk(root, true))) return undefined;
  return { files: files.sort(), dirs, unreadableDirs, problems };
}
