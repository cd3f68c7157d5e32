// Last known good on disk (`turnout proxy --state-dir DIR`). After every
// successful apply the served snapshot is written to DIR/snapshot.json
// atomically (temp file 0600 → fsync → rename → fsync the directory), at most
// one write at a time and coalesced to the newest. At start-up the file goes
// through the same DataPlane.apply as anything from the controller (schema,
// references, content hash), so a proxy restarted during a controller outage
// is ready and serving before the controller answers, and its hello names the
// version it serves, so the controller sends a delta or nothing.
//
// The file holds every TLS private key: it is created 0600, read only if it
// is a regular file owned by us (not a symlink), and its contents are never
// logged. The content hash proves integrity, not origin: anyone who can write
// a file as our user can write a snapshot with a matching hash, hence the
// ownership checks rather than trust in the hash.
import { constants } from 'node:fs';
import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Snapshot, Version } from '../api/snapshot.ts';
import { StartupError } from '../cli/startup.ts';
import type { Logger } from '../lib/log.ts';
import { errorFields, silentLogger } from '../lib/log.ts';
import type { ApplyOutcome, SnapshotApplier } from './applier.ts';
import { DEFAULT_MAX_SNAPSHOT_BYTES } from './stream/client.ts';

/** Name of the state file inside the state dir. */
export const STATE_FILE = 'snapshot.json';
/** Marks the file's layout; a file with another format is refused, not guessed at. */
export const STATE_FORMAT = 'turnout.proxy-state.v1';

const TEMP_RE = /^\.snapshot\.json\.[0-9a-f]+\.tmp$/;

/** What is on disk around the snapshot. */
interface StateDocument {
  readonly format: typeof STATE_FORMAT;
  readonly savedAt: string;
  readonly snapshot: Snapshot;
}

/** Result of StateStore.load(). `snapshot` is untrusted JSON: give it to an applier. */
export type LoadResult =
  | { readonly kind: 'missing' }
  | { readonly kind: 'refused'; readonly reason: string }
  | { readonly kind: 'loaded'; readonly snapshot: unknown; readonly savedAt: string | undefined; readonly bytes: number };

/** Options of StateStore.open. */
export interface StateStoreOptions {
  readonly dir: string;
  readonly log?: Logger;
  /** Largest state file read back (default: the stream's message cap). */
  readonly maxBytes?: number;
}

/** The state dir of one proxy. Open it with StateStore.open(). */
export class StateStore {
  readonly dir: string;
  readonly file: string;
  readonly #log: Logger;
  readonly #maxBytes: number;
  /** The newest snapshot waiting to be written (older ones are dropped: coalescing). */
  #pending: Snapshot | undefined;
  #writing: Promise<void> | undefined;
  /** The version on disk, as far as we know. */
  #written: Version | undefined;
  #writes = 0;

  private constructor(opts: StateStoreOptions) {
    this.dir = opts.dir;
    this.file = join(opts.dir, STATE_FILE);
    this.#log = opts.log ?? silentLogger;
    this.#maxBytes = opts.maxBytes ?? DEFAULT_MAX_SNAPSHOT_BYTES;
  }

  /**
   * Creates DIR (0700) if missing, warns if it is open to group or others,
   * removes temp files a crash left behind, and checks that a file can be
   * created there. Throws StartupError naming the directory otherwise.
   */
  static async open(opts: StateStoreOptions): Promise<StateStore> {
    const store = new StateStore(opts);
    const { dir } = store;
    const fail = (why: string) => new StartupError(`--state-dir ${dir}: ${why}`);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      // EEXIST/ENOTDIR: a file is in the way, reported as such below.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOTDIR') throw fail(describe(err));
    }
    const st = await stat(dir).catch((err: unknown) => {
      throw fail((err as NodeJS.ErrnoException).code === 'ENOTDIR' ? 'not a directory' : describe(err));
    });
    if (!st.isDirectory()) throw fail('not a directory');
    const uid = process.getuid?.();
    if ((st.mode & 0o077) !== 0) {
      store.#log.warn('state dir is accessible to group or others; the state file is written 0600, but prefer a 0700 directory', {
        dir, mode: octal(st.mode),
      });
    }
    if (uid !== undefined && st.uid !== uid) {
      store.#log.warn('state dir is owned by another user; a state file not owned by us is never read', { dir, owner: st.uid, uid });
    }
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (TEMP_RE.test(name)) await unlink(join(dir, name)).catch(() => undefined);
    }
    // Fail at start-up, naming the directory, rather than on the first apply.
    const probe = store.#tempName();
    try {
      const fh = await open(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      await fh.close();
      await unlink(probe);
    } catch (err) {
      throw fail(`cannot create files there (${describe(err)})`);
    }
    return store;
  }

  /** Files written since open (tests and logs). */
  get writes(): number {
    return this.#writes;
  }

  /** The version known to be on disk (after load or the last write). */
  get written(): Version | undefined {
    return this.#written;
  }

  /**
   * Reads DIR/snapshot.json. Refuses (never throws) a file that is not a
   * regular file owned by us, is too large, is not JSON, or has another format.
   * Reasons name the problem, never the contents.
   */
  async load(): Promise<LoadResult> {
    let fh: FileHandle;
    try {
      fh = await open(this.file, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { kind: 'missing' };
      if (code === 'ELOOP') return { kind: 'refused', reason: 'is a symbolic link' };
      return { kind: 'refused', reason: `cannot be read (${describe(err)})` };
    }
    let text: string;
    try {
      const st = await fh.stat();
      if (!st.isFile()) return { kind: 'refused', reason: 'is not a regular file' };
      const uid = process.getuid?.();
      if (uid !== undefined && st.uid !== uid) return { kind: 'refused', reason: `is owned by uid ${st.uid}, not by us (uid ${uid})` };
      if (st.size > this.#maxBytes) return { kind: 'refused', reason: `is ${st.size} bytes, more than the ${this.#maxBytes} allowed` };
      if ((st.mode & 0o077) !== 0) {
        this.#log.warn('state file was accessible to group or others; made 0600', { file: this.file, mode: octal(st.mode) });
        await fh.chmod(0o600);
      }
      text = await fh.readFile('utf8');
    } catch (err) {
      return { kind: 'refused', reason: `cannot be read (${describe(err)})` };
    } finally {
      await fh.close().catch(() => undefined);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      // V8's message quotes the text around the error: keep only the position.
      const at = /position (\d+)/.exec((err as Error).message)?.[1];
      return { kind: 'refused', reason: `is not valid JSON${at === undefined ? '' : ` (at byte ${at})`}` };
    }
    if (typeof doc !== 'object' || doc === null || (doc as { format?: unknown }).format !== STATE_FORMAT) {
      return { kind: 'refused', reason: `is not a ${STATE_FORMAT} document` };
    }
    const { snapshot, savedAt } = doc as { snapshot?: unknown; savedAt?: unknown };
    if (typeof snapshot !== 'object' || snapshot === null) return { kind: 'refused', reason: 'holds no snapshot' };
    return { kind: 'loaded', snapshot, savedAt: typeof savedAt === 'string' ? savedAt : undefined, bytes: Buffer.byteLength(text) };
  }

  /** Records that `version` is what the file holds (after a successful restore), so it is not rewritten. */
  markWritten(version: Version): void {
    this.#written = version;
  }

  /**
   * Queues `snapshot` to be written. Returns at once; a write already running
   * finishes, then only the newest queued snapshot is written. A version
   * already on disk is skipped. Failures are logged, never thrown: the proxy
   * keeps serving, and the next apply tries again.
   */
  save(snapshot: Snapshot): void {
    this.#pending = snapshot;
    this.#writing ??= this.#drain().finally(() => (this.#writing = undefined));
  }

  /** Resolves when nothing is queued or being written (shutdown, tests). */
  async idle(): Promise<void> {
    while (this.#writing !== undefined) await this.#writing;
  }

  async #drain(): Promise<void> {
    for (let next = this.#pending; next !== undefined; next = this.#pending) {
      this.#pending = undefined;
      if (next.version === this.#written) continue;
      const started = performance.now();
      try {
        const bytes = await this.#write(next);
        this.#written = next.version;
        this.#writes++;
        this.#log.debug('state file written', { file: this.file, version: next.version, bytes, ms: Math.round(performance.now() - started) });
      } catch (err) {
        this.#log.warn('could not write the state file; the previous one stays', { file: this.file, version: next.version, ...errorFields(err) });
      }
    }
  }

  /** Temp file 0600 (O_EXCL, no symlink followed) → fsync → rename over the file → fsync the directory. */
  async #write(snapshot: Snapshot): Promise<number> {
    const doc: StateDocument = { format: STATE_FORMAT, savedAt: new Date().toISOString(), snapshot };
    const text = JSON.stringify(doc);
    const tmp = this.#tempName();
    let renamed = false;
    try {
      const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        await fh.writeFile(text, 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.file);
      renamed = true;
    } finally {
      if (!renamed) await unlink(tmp).catch(() => undefined);
    }
    // The rename is durable only once the directory entry is on disk.
    const dh = await open(this.dir, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
    return Buffer.byteLength(text);
  }

  #tempName(): string {
    return join(this.dir, `.${STATE_FILE}.${randomBytes(6).toString('hex')}.tmp`);
  }
}

/**
 * An applier that saves every snapshot `inner` accepts. Refused candidates
 * are never written, so the file always holds something that applied.
 */
export function persistingApplier(inner: SnapshotApplier, store: StateStore): SnapshotApplier {
  return {
    get current() {
      return inner.current;
    },
    async apply(candidate: unknown): Promise<ApplyOutcome> {
      const outcome = await inner.apply(candidate);
      // `current` is checked against the outcome in case another apply slipped in between.
      const served = inner.current;
      if (outcome.ok && served !== undefined && served.version === outcome.version) store.save(served);
      return outcome;
    },
  };
}

/**
 * Start-up: applies the state file through `applier` (which validates it and
 * checks its content hash). Resolves with the version now served from it, or
 * undefined when there is no file or it was refused (logged; the proxy then
 * waits for the controller as if there were none). Never throws.
 */
export async function restoreState(store: StateStore, applier: SnapshotApplier, log: Logger): Promise<Version | undefined> {
  const loaded = await store.load();
  if (loaded.kind === 'missing') {
    log.info('no state file yet; waiting for the controller', { file: store.file });
    return undefined;
  }
  if (loaded.kind === 'refused') {
    log.warn('state file refused and ignored; waiting for the controller', { file: store.file, reason: `${STATE_FILE} ${loaded.reason}` });
    return undefined;
  }
  const outcome = await applier.apply(loaded.snapshot);
  if (!outcome.ok) {
    log.warn('state file refused and ignored; waiting for the controller', { file: store.file, code: outcome.code, reason: outcome.reason });
    return undefined;
  }
  store.markWritten(outcome.version);
  log.info('serving the last known good snapshot from the state dir', { file: store.file, version: outcome.version, savedAt: loaded.savedAt, bytes: loaded.bytes });
  return outcome.version;
}

function describe(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message ?? String(err);
}

function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}
