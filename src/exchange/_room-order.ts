// Private: the subscriber rules of docs/design.md §4 for one room subscription, shared by the Redis exchange and the chain.
// Input: messages in any order (live stream, history replies, duplicates from several brokers) and tail observations.
// Output: messages delivered exactly once in seq order, plus `position` and `discontinuity` events.
//
// Rules: drop an id already delivered; drop seq <= lastSeq; accept seq == lastSeq + 1; on a gap, buffer the early
// messages and repair from history (retrying while the hole may still fill, e.g. relays in flight); if history no
// longer has them (or the hole does not fill within `gapTimeoutMs`), report a discontinuity and move on. A newer epoch
// whose seq does not continue ours (the sequencer lost its counter) is a discontinuity, and older epochs are dropped
// from then on.
import type { ExchangeEvent, Gap, SequencedMessage } from "./exchange.ts";
import { isGap } from "./exchange.ts";

/** Where a {@link RoomOrder} sends its output and gets history from. */
export interface RoomOrderSink {
  deliver(m: SequencedMessage): void;
  event(e: ExchangeEvent): void;
  /** Held messages with seq > afterSeq (or a Gap). May reject; the order retries until `gapTimeoutMs`. */
  fetch(afterSeq: number): Promise<SequencedMessage[] | Gap>;
}

/** Tunables of a {@link RoomOrder}. */
export interface RoomOrderOptions {
  /**
   * How long a hole may stay open while history answers without it (relays in flight) before it is reported as a
   * discontinuity.
   */
  gapTimeoutMs: number;
  /** How long history may keep failing (backplane unavailable or overloaded) before the hole is reported anyway. */
  unavailableTimeoutMs: number;
  /** Early messages buffered behind a hole; beyond this the hole is reported at once (bounded memory). */
  maxPending: number;
  /** Delay between history retries while a hole is open (doubles while history fails, up to 1 s). */
  retryMs: number;
  /** Delivered ids remembered for dedupe. */
  idMemory: number;
}

export const DEFAULT_ORDER_OPTIONS: RoomOrderOptions = {
  gapTimeoutMs: 2000,
  unavailableTimeoutMs: 30_000,
  maxPending: 10_000,
  retryMs: 50,
  idMemory: 4096,
};

/** Counters a RoomOrder increments (shared object owned by the exchange). */
export interface OrderCounters {
  delivered: number;
  duplicatesDropped: number;
  staleEpochDropped: number;
  gapsRepaired: number;
  discontinuities: number;
  subscriberErrors: number;
}

export function newOrderCounters(): OrderCounters {
  return { delivered: 0, duplicatesDropped: 0, staleEpochDropped: 0, gapsRepaired: 0, discontinuities: 0, subscriberErrors: 0 };
}

/** One room subscription's ordering state machine. */
export class RoomOrder {
  lastSeq = 0;
  epoch = 0;
  /** Messages of an epoch below this are from a lost generation. */
  #floorEpoch = 0;
  #positioned = false;
  #closed = false;
  #early: SequencedMessage[] = [];
  #pending = new Map<number, SequencedMessage>();
  /** Highest seq known to exist (from pending messages or tail observations). */
  #target = 0;
  #ids = new Set<string>();
  #repairing = false;
  readonly #opts: RoomOrderOptions;

  constructor(
    readonly room: string,
    readonly sink: RoomOrderSink,
    readonly counters: OrderCounters,
    opts: Partial<RoomOrderOptions> = {},
  ) {
    this.#opts = { ...DEFAULT_ORDER_OPTIONS, ...opts };
  }

  get positioned(): boolean {
    return this.#positioned;
  }

  /** Set the starting point: messages with seq > `seq` will be delivered. Emits the `position` event. */
  position(seq: number, epoch: number): void {
    if (this.#positioned || this.#closed) return;
    this.#positioned = true;
    this.lastSeq = seq;
    this.epoch = epoch;
    this.#target = Math.max(this.#target, seq);
    this.sink.event({ type: "position", room: this.room, seq, epoch });
    const early = this.#early;
    this.#early = [];
    for (const m of early) this.offer(m);
  }

  /**
   * The sequencer says the room is at (seq, epoch): repair a tail gap or detect a lost generation. `base`, when the
   * sequencer knows it: the seq its current lineage continued from (nothing at or below it was assigned under it).
   */
  observe(seq: number, epoch: number, base?: number): void {
    if (!this.#positioned || this.#closed) return;
    if (epoch > this.epoch && seq <= this.lastSeq && !(base !== undefined && base >= this.lastSeq)) {
      // The sequencer lost its counter: the new generation starts over; fetch it from its start. (`<=`: a restarted
      // counter that happens to stand exactly at our old position must not look like "nothing new", unless the
      // sequencer says its lineage continued from exactly there.)
      this.#restart(epoch, `backplane lost the room's history (epoch ${this.epoch} -> ${epoch})`);
    }
    if (seq > this.lastSeq) {
      this.#target = Math.max(this.#target, seq);
      this.#repair();
    }
  }

  offer(m: SequencedMessage): void {
    if (this.#closed) return;
    if (!this.#positioned) {
      this.#early.push(m);
      return;
    }
    if (this.#ids.has(m.id)) {
      this.counters.duplicatesDropped++;
      return;
    }
    if (m.epoch < this.#floorEpoch) {
      this.counters.staleEpochDropped++;
      return;
    }
    if (m.epoch > this.epoch && m.seq <= this.lastSeq) {
      this.#restart(m.epoch, `sequence restarted under epoch ${m.epoch} (backplane lost its counter)`);
    }
    if (m.seq <= this.lastSeq) {
      this.counters.duplicatesDropped++;
      return;
    }
    if (m.seq === this.lastSeq + 1) {
      this.#accept(m);
      this.#drain();
      return;
    }
    if (!this.#pending.has(m.seq)) this.#pending.set(m.seq, m);
    this.#target = Math.max(this.#target, m.seq);
    this.#repair();
  }

  close(): void {
    this.#closed = true;
    this.#pending.clear();
    this.#early = [];
  }

  /** A new generation whose seqs restart: report it, then continue from seq 1 of that generation. */
  #restart(epoch: number, reason: string): void {
    this.#discontinuity(1, epoch, reason);
    this.lastSeq = 0;
    this.epoch = epoch;
    this.#floorEpoch = epoch;
    this.#target = this.lastSeq;
    for (const s of [...this.#pending.keys()]) {
      const p = this.#pending.get(s)!;
      if (p.epoch < epoch || s <= this.lastSeq) this.#pending.delete(s);
    }
  }

  #discontinuity(nextSeq: number, epoch: number, reason: string): void {
    this.counters.discontinuities++;
    this.sink.event({ type: "discontinuity", room: this.room, afterSeq: this.lastSeq, nextSeq, epoch, reason });
  }

  #accept(m: SequencedMessage): void {
    this.lastSeq = m.seq;
    if (m.epoch > this.epoch) this.epoch = m.epoch;
    this.#ids.add(m.id);
    if (this.#ids.size > this.#opts.idMemory) this.#ids.delete(this.#ids.values().next().value as string);
    this.counters.delivered++;
    try {
      this.sink.deliver(m);
    } catch {
      this.counters.subscriberErrors++;
    }
  }

  #drain(): void {
    for (;;) {
      const next = this.#pending.get(this.lastSeq + 1);
      if (!next) break;
      this.#pending.delete(next.seq);
      if (this.#ids.has(next.id)) {
        this.counters.duplicatesDropped++;
        this.lastSeq = next.seq; // same message under another seq cannot happen; keep moving
        continue;
      }
      this.#accept(next);
    }
    for (const s of this.#pending.keys()) if (s <= this.lastSeq) this.#pending.delete(s);
  }

  #open(): boolean {
    return !this.#closed && (this.#target > this.lastSeq || this.#pending.size > 0);
  }

  #repair(): void {
    if (this.#repairing || this.#closed) return;
    this.#repairing = true;
    void this.#repairLoop().finally(() => {
      this.#repairing = false;
      if (this.#open()) this.#repair();
    });
  }

  async #repairLoop(): Promise<void> {
    let holeSince: number | undefined; // first answer from history that still left the hole open
    let failingSince: number | undefined; // first failed history request in a row
    let failures = 0;
    while (this.#open()) {
      const before = this.lastSeq;
      let res: SequencedMessage[] | Gap | undefined;
      try {
        res = await this.sink.fetch(this.lastSeq);
        failingSince = undefined;
        failures = 0;
      } catch {
        res = undefined; // backplane unavailable or slow: keep trying, bounded by unavailableTimeoutMs
        failingSince ??= Date.now();
        failures++;
      }
      if (this.#closed) return;
      if (res !== undefined) {
        if (isGap(res)) {
          if (res.epoch > this.epoch && res.lastSeq < this.lastSeq) {
            this.#restart(res.epoch, `backplane lost the room's history (epoch ${this.epoch} -> ${res.epoch})`);
            continue;
          } else if (res.oldestSeq > this.lastSeq + 1 && res.afterSeq === this.lastSeq && res.afterSeq <= res.lastSeq) {
            // Evicted for good: report the hole, then continue from what is held.
            this.#discontinuity(res.oldestSeq, res.epoch, "missed messages are no longer in history");
            this.lastSeq = res.oldestSeq - 1;
            this.#drain();
            holeSince = undefined;
            continue;
          }
        } else {
          for (const m of res) this.offer(m);
        }
      }
      if (this.lastSeq > before) {
        this.counters.gapsRepaired++;
        holeSince = undefined;
        continue;
      }
      if (!this.#open()) return;
      const now = Date.now();
      if (res !== undefined) holeSince ??= now;
      const giveUp = this.#pending.size > this.#opts.maxPending
        ? `more than ${this.#opts.maxPending} messages waiting behind the hole`
        : holeSince !== undefined && now - holeSince >= this.#opts.gapTimeoutMs
        ? `did not arrive within ${this.#opts.gapTimeoutMs} ms`
        : failingSince !== undefined && now - failingSince >= this.#opts.unavailableTimeoutMs
        ? `history unavailable for ${this.#opts.unavailableTimeoutMs} ms`
        : undefined;
      if (giveUp) {
        const next = this.#pending.size > 0 ? Math.min(...this.#pending.keys()) : this.#target + 1;
        this.#discontinuity(next, this.epoch, `messages ${this.lastSeq + 1}..${next - 1} ${giveUp}`);
        this.lastSeq = next - 1;
        this.#drain();
        holeSince = undefined;
        failingSince = undefined;
        continue;
      }
      const delay = res === undefined ? Math.min(this.#opts.retryMs * 2 ** Math.min(failures, 5), 1000) : this.#opts.retryMs;
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/**
 * The RoomOrder of one `subscribe()` call: delivers to `onMessage`, passes events to the subscriber's `onEvent`
 * (guarded: a subscriber bug must not stall the room) and repairs gaps from `fetch`.
 */
export function subscriptionOrder(
  room: string,
  onMessage: (m: SequencedMessage) => void,
  onEvent: ((e: ExchangeEvent) => void) | undefined,
  fetch: RoomOrderSink["fetch"],
  counters: OrderCounters,
  opts: Partial<RoomOrderOptions> = {},
): RoomOrder {
  return new RoomOrder(room, {
    deliver: onMessage,
    event: (e) => {
      try {
        onEvent?.(e);
      } catch { /* a subscriber bug must not stall the room */ }
    },
    fetch,
  }, counters, opts);
}
