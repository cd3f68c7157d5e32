// The bytes of the messages being sent, shared by every session they go to.
//
// ws writes a string by handing it to the socket, which copies whatever the
// kernel does not take at once into memory of that connection: N proxies
// receiving a 20 MB snapshot at the same time would hold up to N × 20 MB.
// A Buffer is written by reference instead, so every session points at the
// same bytes, and a proxy that stops reading pins nothing of its own.
import type { ControllerMessage } from '../../api/stream.ts';
import type { SnapshotStore } from '../snapshot/store.ts';

/**
 * A small LRU of encoded messages. The store keeps each message's JSON text
 * for as long as its snapshot is in the history; only the few messages being
 * sent now need bytes as well, so the count is small and fixed.
 */
export class SharedFrames {
  readonly #max: number;
  readonly #frames = new Map<ControllerMessage, Buffer>();

  constructor(max = 4) {
    this.#max = max;
  }

  /** The UTF-8 bytes of `msg` (its text from the store), encoded once while it stays among the recent ones. */
  get(store: SnapshotStore, msg: ControllerMessage): Buffer {
    let bytes = this.#frames.get(msg);
    if (bytes !== undefined) {
      this.#frames.delete(msg); // refresh its place
    } else {
      bytes = Buffer.from(store.encode(msg), 'utf8');
    }
    this.#frames.set(msg, bytes);
    for (const key of this.#frames.keys()) {
      if (this.#frames.size <= this.#max) break;
      this.#frames.delete(key);
    }
    return bytes;
  }
}
