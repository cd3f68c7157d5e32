// A scripted stand-in for the two calls informers make (list, watch), for unit
// tests of the informer supervision and the Kubernetes source. It is not an
// API server: it holds objects per collection path, answers lists, and lets a
// test push watch events, end watches or fail calls.
import type { KubeClient, WatchTransport } from '../k8s/client.ts';
import { KubeApiError } from '../k8s/client.ts';

/** One open watch the test can drive. */
export interface OpenWatch {
  readonly path: string;
  readonly query: Record<string, unknown>;
  send(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: any): void;
  /** Ends the watch: with an error (a dropped connection) or cleanly (server timeout). */
  end(err?: unknown): void;
  aborted: boolean;
}

/** Scripted lists and watches keyed by collection path. */
export class FakeTransport {
  readonly objects = new Map<string, any[]>();
  readonly lists: string[] = [];
  readonly watches: OpenWatch[] = [];
  /** path → errors the next lists throw, in order. */
  readonly listFailures = new Map<string, unknown[]>();
  /** When set, lists of these paths never answer. */
  readonly hangingLists = new Set<string>();
  #rv = 1;

  /** Sets the objects a list of `path` returns. */
  set(path: string, items: any[]): void {
    this.objects.set(path, items);
  }

  /** The open (not ended) watches of `path`. */
  open(path: string): OpenWatch[] {
    return this.watches.filter((w) => w.path === path && !w.aborted);
  }

  readonly client: Pick<KubeClient, 'request' | 'watch'> = {
    request: async <T>(method: string, path: string): Promise<T> => {
      if (method !== 'GET') throw new Error(`FakeTransport: unexpected ${method} ${path}`);
      this.lists.push(path);
      if (this.hangingLists.has(path)) return new Promise<never>(() => {});
      const failure = this.listFailures.get(path)?.shift();
      if (failure !== undefined) throw failure;
      return { items: structuredClone(this.objects.get(path) ?? []), metadata: { resourceVersion: String(this.#rv++) } } as T;
    },
    watch: {
      watch: async (path, query, callback, done) => {
        let ended = false;
        const w: OpenWatch = {
          path, query, aborted: false,
          send: (type, obj) => {
            if (!ended) callback(type, structuredClone({ ...obj, metadata: { ...obj.metadata, resourceVersion: String(this.#rv++) } }));
          },
          end: (err) => {
            if (ended) return;
            ended = true;
            w.aborted = true;
            done(err ?? null);
          },
        };
        this.watches.push(w);
        return { abort: () => void (w.aborted = true) };
      },
    } as WatchTransport,
  };
}

/** An API error as the client raises it. */
export function httpError(code: number, reason = ''): KubeApiError {
  return new KubeApiError(code, reason, `HTTP ${code}`);
}

/** Polls `cond` every 5 ms for at most `ms` (default 5 s); throws with `what` on timeout. */
export async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
