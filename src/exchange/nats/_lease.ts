// Private: the owner lease (fencing). Other nodes declare this node dead `deadAfterMs` after the last heartbeat of
// ours they heard, and they cannot have heard one before we sent it. So once our own heartbeat, sent at monotonic time
// `s`, comes back to us from the server, no node will take our rooms over before `s + deadAfterMs`: we may sequence
// until `s + ttl` (ttl below deadAfterMs). A node that was frozen (SIGSTOP, a stop-the-world pause, a partition)
// wakes up with an expired lease and must not ack anything it finds queued in its socket: it steps down and
// re-validates (a fresh heartbeat's echo arrives after everything the server sent before it) before it sequences again.
// Time is `performance.now()`, not the exchange's injectable wall clock: a wall-clock jump must not extend a lease.

const KEEP = 32;

/** Lease of one node on the rooms it owns. */
export class OwnerLease {
  #until = -Infinity;
  readonly #sent = new Map<number, number>();
  #beat = 0;
  /** True once a lapse was seen and not yet followed by a fresh echo. */
  #lapsed = false;
  #term = 0;

  constructor(readonly ttlMs: number, readonly clock: () => number = () => performance.now()) {}

  /** The number of the heartbeat about to be sent; remembers when it left. */
  stamp(): number {
    const k = ++this.#beat;
    this.#sent.set(k, this.clock());
    if (this.#sent.size > KEEP) this.#sent.delete(this.#sent.keys().next().value as number);
    return k;
  }

  /**
   * Bumps each time the lease becomes valid after having been invalid (start-up included). A lease that kept its term
   * from A to B was valid the whole time in between.
   */
  get term(): number {
    return this.#term;
  }

  /** Our own heartbeat `k` came back. Returns true when this made an invalid lease valid again. */
  echoed(k: unknown): boolean {
    if (typeof k !== "number") return false;
    const sentAt = this.#sent.get(k);
    if (sentAt === undefined) return false;
    for (const b of this.#sent.keys()) {
      if (b > k) break;
      this.#sent.delete(b);
    }
    const wasValid = this.valid();
    const until = sentAt + this.ttlMs;
    if (until > this.#until) this.#until = until;
    if (!this.valid()) return false;
    this.#lapsed = false;
    if (!wasValid) this.#term++;
    return !wasValid;
  }

  /** Whether this node may sequence now. */
  valid(): boolean {
    return this.clock() < this.#until;
  }

  /**
   * True exactly once per lapse: the first call after the lease expired (the caller steps its rooms down and sends a
   * fresh heartbeat). A lease that was never valid (start-up) is not a lapse.
   */
  takeLapse(): boolean {
    if (this.#lapsed || this.#until === -Infinity || this.valid()) return false;
    this.#lapsed = true;
    return true;
  }
}
