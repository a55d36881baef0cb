// Private: a bounded history ring per room (by count and by bytes), shared by the memory exchange and others.
import type { Gap, SequencedMessage } from "./exchange.ts";
import { byteSize } from "../_utf8.ts";

/**
 * Limits of one room's history (the memory and NATS exchanges keep it in memory); whichever limit is reached first
 * evicts the oldest messages.
 *
 * @example
 * ```ts
 * const history: HistoryLimits = { maxMessages: 500, maxBytes: 1024 * 1024 };
 * const exchange = new MemoryExchange({ history });
 * ```
 */
export interface HistoryLimits {
  /** Messages kept per room (default 1000). */
  maxMessages: number;
  /** Payload bytes kept per room (default 4 MiB). */
  maxBytes: number;
}

export const DEFAULT_HISTORY: HistoryLimits = { maxMessages: 1000, maxBytes: 4 * 1024 * 1024 };

/** Contiguous ring of a room's most recent messages (seqs strictly increasing, contiguous). */
export class HistoryRing {
  #items: SequencedMessage[] = [];
  /** Payload bytes of the item at the same index (counted once, on push). */
  #sizes: number[] = [];
  #head = 0; // index of the oldest held item in #items
  #bytes = 0;
  constructor(readonly limits: HistoryLimits = DEFAULT_HISTORY) {}

  get size(): number {
    return this.#items.length - this.#head;
  }

  /** Seq of the oldest held message, or undefined. */
  get oldestSeq(): number | undefined {
    return this.size > 0 ? this.#items[this.#head].seq : undefined;
  }

  get lastSeq(): number | undefined {
    return this.size > 0 ? this.#items[this.#items.length - 1].seq : undefined;
  }

  /** The held message with seq `seq`, or undefined. */
  at(seq: number): SequencedMessage | undefined {
    const oldest = this.oldestSeq;
    if (oldest === undefined || seq < oldest || seq > this.lastSeq!) return undefined;
    return this.#items[this.#head + (seq - oldest)];
  }

  /** Append `m` (`size`: its payload bytes, when the caller knows them already). */
  push(m: SequencedMessage, size: number = byteSize(m.payload)): void {
    const last = this.lastSeq;
    // A non-contiguous push (history lost on our side) restarts the ring so it stays contiguous.
    if (last !== undefined && m.seq !== last + 1) this.clear();
    this.#items.push(m);
    this.#sizes.push(size);
    this.#bytes += size;
    while (this.size > this.limits.maxMessages || (this.#bytes > this.limits.maxBytes && this.size > 1)) {
      this.#bytes -= this.#sizes[this.#head];
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#sizes = this.#sizes.slice(this.#head);
      this.#head = 0;
    }
  }

  clear(): void {
    this.#items = [];
    this.#sizes = [];
    this.#head = 0;
    this.#bytes = 0;
  }

  /**
   * Messages with seq > afterSeq, or a Gap when some of them were evicted (or `afterSeq` is ahead of `lastSeq`,
   * i.e. the asker saw a different, lost generation).
   */
  after(room: string, afterSeq: number, lastSeq: number, epoch: number): SequencedMessage[] | Gap {
    if (afterSeq === lastSeq) return [];
    const oldest = this.oldestSeq ?? lastSeq + 1;
    if (afterSeq > lastSeq || afterSeq + 1 < oldest) {
      return { gap: true, room, afterSeq, oldestSeq: oldest, lastSeq, epoch };
    }
    const start = this.#head + (afterSeq + 1 - oldest);
    return this.#items.slice(start);
  }
}
