// Private: the one batching mechanism of the NATS exchange. Entries are queued per key (an owner node for publish
// requests, an owned room for sequenced messages) and each key's queue is sent as one NATS message at the end of the
// current microtask turn. A queue that would pass `maxItems` or `maxBytes` is sent before the next entry opens a new
// one, and `flush(key)` sends one key's queue at once (an owner does that before an epoch notice on the same subject).
// Entries keep their order: a queue is sent whole, in the order its entries were added.

/** Per-key queues of entries, flushed at the end of the current microtask turn. */
export class TurnBatcher<K, E> {
  readonly #queues = new Map<K, { items: E[]; bytes: number }>();
  #scheduled = false;

  constructor(
    readonly send: (key: K, items: E[]) => void,
    readonly sizeOf: (e: E) => number,
    readonly maxBytes: () => number,
    readonly maxItems: number,
  ) {}

  add(key: K, e: E): void {
    const size = this.sizeOf(e);
    let q = this.#queues.get(key);
    if (q && (q.items.length >= this.maxItems || q.bytes + size > this.maxBytes())) {
      this.#queues.delete(key);
      this.send(key, q.items);
      q = undefined;
    }
    if (!q) this.#queues.set(key, q = { items: [], bytes: 0 });
    q.items.push(e);
    q.bytes += size;
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.flushAll());
    }
  }

  /** Send what `key` has queued now. */
  flush(key: K): void {
    const q = this.#queues.get(key);
    if (!q) return;
    this.#queues.delete(key);
    this.send(key, q.items);
  }

  /** Send everything queued. */
  flushAll(): void {
    this.#scheduled = false;
    if (this.#queues.size === 0) return;
    const all = [...this.#queues];
    this.#queues.clear();
    for (const [key, q] of all) this.send(key, q.items);
  }
}
