// Private: coalesce owner-bound publish requests. Requests for the same owner made in one turn of the event loop go
// out as one NATS request (and come back as one reply) instead of one round trip each: the owner round trip is the
// cost of sequencing on a node that does not own the room. Entries keep their order: a batch is sent whole, in the
// order its entries were added, and a full batch is sent before the next entry opens a new one.

/** Per-target queues of entries, flushed at the end of the current microtask turn. */
export class Batcher<E> {
  readonly #queues = new Map<string, { items: E[]; bytes: number }>();
  #scheduled = false;

  constructor(
    readonly send: (target: string, items: E[]) => void,
    readonly sizeOf: (e: E) => number,
    readonly maxBytes: () => number,
    readonly maxItems: number,
  ) {}

  add(target: string, e: E): void {
    const size = this.sizeOf(e);
    let q = this.#queues.get(target);
    if (q && (q.items.length >= this.maxItems || q.bytes + size > this.maxBytes())) {
      this.#queues.delete(target);
      this.send(target, q.items);
      q = undefined;
    }
    if (!q) this.#queues.set(target, q = { items: [], bytes: 0 });
    q.items.push(e);
    q.bytes += size;
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Send everything queued. */
  flush(): void {
    this.#scheduled = false;
    if (this.#queues.size === 0) return;
    const all = [...this.#queues];
    this.#queues.clear();
    for (const [target, q] of all) this.send(target, q.items);
  }
}
