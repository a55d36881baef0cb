// Private: subscriber-side ordering for one room subscription (docs/design.md §4 "Subscriber rules"). Keeps lastSeq and the
// epoch, drops duplicates (by seq and by recent id), holds out-of-order messages while it repairs the gap from the
// owner's history, and reports a discontinuity when history cannot cover it. Joins without a race: the NATS
// subscription is live (flushed) before the position is asked, live messages are buffered until the position is known.
import type { ExchangeEvent, Gap, SequencedMessage, SubscribeOptions } from "../exchange.ts";
import { isGap } from "../exchange.ts";
import { HistoryRing, type HistoryLimits } from "../_history.ts";
import { cmpEpoch, type Epoch, type RoomWire } from "./_codec.ts";

/** What a room subscription needs from its exchange. */
export interface SubscriberHost {
  readonly counters: Record<string, number>;
  flush(): Promise<void>;
  position(room: string): Promise<{ seq: number; term: number; owner: string; ts: number }>;
  history(room: string, afterSeq: number): Promise<SequencedMessage[] | Gap>;
  record(room: string, seq: number, epoch: Epoch, ts: number): void;
  delay(ms: number): Promise<void>;
  /** Limits of the delivered tail each subscription keeps (the owner's history limits). */
  readonly limits: HistoryLimits;
}

const RECENT_IDS = 4096;
const MAX_PENDING = 20_000;
const MAX_ATTEMPTS = 4;

/** One subscription's ordering state. */
export class RoomSubscription {
  #phase: "joining" | "live" | "closed" = "joining";
  #lastSeq = 0;
  #lastTs = 0;
  #epoch: Epoch = { term: 0, owner: "" };
  #epochBase = 0;
  #buffer: RoomWire[] = [];
  readonly #pending = new Map<number, SequencedMessage>();
  #needUpTo = 0;
  #repairing = false;
  readonly #recent = new Set<string>();
  readonly #recentRing: string[] = [];
  /** seq, timestamp and epoch term of the id at the same index of #recentRing (what a new owner needs for idempotency). */
  readonly #recentSeq: number[] = [];
  readonly #recentTs: number[] = [];
  readonly #recentTerm: number[] = [];
  #recentAt = 0;
  /**
   * The most recent delivered messages, contiguous, bounded like the owner's history: when the owner crashes, its
   * successor rebuilds the room's history (and idempotency ids) from the tails of live nodes (see _takeover.ts).
   */
  readonly tail: HistoryRing;

  constructor(
    readonly host: SubscriberHost,
    readonly room: string,
    readonly onMessage: (m: SequencedMessage) => void,
    readonly opts: SubscribeOptions,
  ) {
    this.tail = new HistoryRing(host.limits);
  }

  /** Whether the delivered tail ends at `seq` (it can seed a new owner's history up to `seq`). */
  tailEndsAt(seq: number): boolean {
    return seq > 0 && this.tail.lastSeq === seq;
  }

  get closed(): boolean {
    return this.#phase === "closed";
  }
  get lastSeq(): number {
    return this.#lastSeq;
  }
  /** The epoch term this subscription follows: a successor owner starts above it (two epochs never share a term). */
  get term(): number {
    return this.#epoch.term;
  }
  /** Highest timestamp delivered: a successor owner continues at or above it (timestamps never go back). */
  get lastTs(): number {
    return this.#lastTs;
  }

  /** The most recently delivered ids with their seq info (a node that takes the room over answers retries with them). */
  recent(fn: (id: string, info: { seq: number; timestamp: number; epoch: number }) => void): void {
    for (let i = 0; i < this.#recentRing.length; i++) {
      fn(this.#recentRing[i], { seq: this.#recentSeq[i], timestamp: this.#recentTs[i], epoch: this.#recentTerm[i] });
    }
  }

  close(): void {
    this.#phase = "closed";
    this.tail.clear();
    this.#buffer = [];
    this.#pending.clear();
  }

  /** Subscribe (already done by the caller), flush, fetch the position, merge the buffered live messages. */
  async join(): Promise<void> {
    try {
      await this.host.flush();
    } catch { /* a failed flush only means we are disconnected; the position request below waits it out */ }
    let pos: { seq: number; term: number; owner: string; ts: number } | undefined;
    for (let attempt = 1; !this.closed; attempt++) {
      try {
        pos = await this.host.position(this.room);
        break;
      } catch {
        await this.host.delay(Math.min(1000, 50 * attempt));
      }
    }
    if (!pos || this.closed) return;
    this.#epoch = { term: pos.term, owner: pos.owner };
    this.#epochBase = pos.seq;
    const from = this.opts.fromSeq;
    if (from !== undefined && Number.isSafeInteger(from) && from - 1 < pos.seq) {
      this.#lastSeq = Math.max(0, from - 1);
      this.#needUpTo = pos.seq;
    } else {
      this.#lastSeq = pos.seq;
    }
    this.#event({ type: "position", room: this.room, seq: this.#lastSeq, epoch: pos.term });
    this.#phase = "live";
    const buffered = this.#buffer;
    this.#buffer = [];
    for (const w of buffered) this.#accept(w, true);
    void this.#repair();
  }

  /** A message or epoch notice from the room subject. */
  onWire(w: RoomWire): void {
    if (this.#phase === "closed") return;
    if (this.#phase === "joining") {
      if (this.#buffer.length >= MAX_PENDING) this.#buffer.shift(); // dropped ones are repaired as a gap later
      this.#buffer.push(w);
      return;
    }
    this.#accept(w, false);
  }

  /** The owner announced (on its heartbeat) that the room is at `seq`: repair a lost tail. */
  onAnnounce(seq: number, epoch: Epoch): void {
    if (this.#phase !== "live" || cmpEpoch(epoch, this.#epoch) < 0) return;
    if (seq > this.#lastSeq && seq > this.#needUpTo) {
      this.#needUpTo = seq;
      void this.#repair();
    }
  }

  /** After a reconnect: ask where the room is and repair anything missed. */
  async resync(): Promise<void> {
    if (this.#phase !== "live") return;
    try {
      const pos = await this.host.position(this.room);
      if (this.#phase !== "live") return;
      this.#accept({ type: "epoch", room: this.room, epoch: { term: pos.term, owner: pos.owner }, seq: pos.seq, ts: pos.ts }, false);
      if (pos.seq > this.#needUpTo) this.#needUpTo = pos.seq;
      void this.#repair();
    } catch { /* next reconnect or announcement tries again */ }
  }

  #accept(w: RoomWire, replay: boolean): void {
    const c = this.host.counters;
    if (w.type === "epoch") {
      const cmp = cmpEpoch(w.epoch, this.#epoch);
      if (cmp > 0) {
        if (w.epoch.term === this.#epoch.term) this.#conflict(w.epoch);
        this.#epoch = w.epoch;
        this.#epochBase = Math.max(w.seq, this.#lastSeq);
        this.host.record(this.room, w.seq, w.epoch, w.ts);
      }
      if (w.seq > this.#lastSeq && w.seq > this.#needUpTo && cmp >= 0) {
        this.#needUpTo = w.seq;
        void this.#repair();
      }
      return;
    }
    const m = w.msg;
    // A relayed message (chain extension) was sequenced by another exchange and carries that exchange's epoch: it is
    // ordered by seq alone and never moves this subscription's (term, owner) epoch, old or new.
    const e: Epoch = { term: m.epoch, owner: w.owner };
    const cmp = w.relayed ? 0 : cmpEpoch(e, this.#epoch);
    if (cmp < 0 && m.seq > this.#epochBase && m.seq > this.#lastSeq) {
      // From a deposed owner, past the point where the newer epoch took over: it is not part of the room's order.
      // Its publisher may have been acked, so this is a loss the subscriber must hear about, not a silent drop.
      c.staleDropped++;
      c.discontinuities++;
      this.#event({
        type: "discontinuity",
        room: this.room,
        afterSeq: this.#lastSeq,
        nextSeq: this.#lastSeq + 1,
        epoch: this.#epoch.term,
        reason: `dropped ${m.id} (seq ${m.seq}) from deposed owner ${w.owner} (term ${m.epoch}); following ${this.#epoch.owner} (term ${this.#epoch.term})`,
      });
      return;
    }
    if (cmp > 0) {
      if (e.term === this.#epoch.term) this.#conflict(e);
      this.#epoch = e;
      this.#epochBase = Math.max(this.#lastSeq, m.seq - 1);
    }
    if (m.seq <= this.#lastSeq) {
      if (!replay) c.duplicatesDropped++;
      return;
    }
    if (m.seq === this.#lastSeq + 1) {
      this.#deliver(m);
      this.#drain();
      return;
    }
    if (this.#pending.size >= MAX_PENDING) {
      // Far behind and not catching up: stop holding, report, continue from the oldest held.
      const next = Math.min(...this.#pending.keys());
      this.#discontinuity(next, "too far behind");
    }
    this.#pending.set(m.seq, m);
    if (m.seq - 1 > this.#needUpTo) this.#needUpTo = m.seq - 1;
    void this.#repair();
  }

  #conflict(e: Epoch): void {
    this.host.counters.epochConflicts++;
    this.#event({
      type: "discontinuity",
      room: this.room,
      afterSeq: this.#lastSeq,
      nextSeq: this.#lastSeq + 1,
      epoch: e.term,
      reason: `conflicting owners for term ${e.term} (${this.#epoch.owner} and ${e.owner}); following ${e.owner}`,
    });
    this.host.counters.discontinuities++;
  }

  #deliver(m: SequencedMessage): void {
    this.#lastSeq = m.seq;
    if (m.timestamp > this.#lastTs) this.#lastTs = m.timestamp;
    this.tail.push(m);
    const c = this.host.counters;
    if (this.#recent.has(m.id)) {
      c.duplicatesDropped++;
      return;
    }
    let at = this.#recentRing.length;
    if (at >= RECENT_IDS) {
      at = this.#recentAt;
      this.#recent.delete(this.#recentRing[at]);
      this.#recentAt = (at + 1) % RECENT_IDS;
    }
    this.#recentRing[at] = m.id;
    this.#recentSeq[at] = m.seq;
    this.#recentTs[at] = m.timestamp;
    this.#recentTerm[at] = m.epoch;
    this.#recent.add(m.id);
    c.delivered++;
    try {
      this.onMessage(m);
    } catch {
      c.subscriberErrors++;
    }
  }

  #drain(): void {
    while (this.#pending.size > 0) {
      const next = this.#pending.get(this.#lastSeq + 1);
      if (next) {
        this.#pending.delete(next.seq);
        this.#deliver(next);
        continue;
      }
      let stale = false;
      for (const s of this.#pending.keys()) {
        if (s <= this.#lastSeq) {
          this.#pending.delete(s);
          stale = true;
        }
      }
      if (!stale) break;
    }
  }

  #minPending(): number | undefined {
    let min: number | undefined;
    for (const s of this.#pending.keys()) if (min === undefined || s < min) min = s;
    return min;
  }

  /** Skip to just before `nextSeq`, telling the subscriber what was lost. */
  #discontinuity(nextSeq: number, reason: string): void {
    if (nextSeq <= this.#lastSeq + 1) return;
    this.host.counters.discontinuities++;
    this.#event({ type: "discontinuity", room: this.room, afterSeq: this.#lastSeq, nextSeq, epoch: this.#epoch.term, reason });
    this.#lastSeq = nextSeq - 1;
    this.#drain();
  }

  async #repair(): Promise<void> {
    if (this.#repairing || this.#phase !== "live") return;
    this.#repairing = true;
    let failures = 0;
    try {
      while (this.#phase === "live") {
        const minP = this.#minPending();
        const target = Math.max(this.#needUpTo, minP !== undefined ? minP - 1 : 0);
        if (target <= this.#lastSeq) break;
        let res: SequencedMessage[] | Gap;
        try {
          res = await this.host.history(this.room, this.#lastSeq);
        } catch {
          if (++failures >= MAX_ATTEMPTS) {
            failures = 0;
            this.#discontinuity(minP ?? target + 1, "history unavailable");
            if (minP === undefined) this.#needUpTo = this.#lastSeq;
          } else await this.host.delay(100 * failures);
          continue;
        }
        if (this.#phase !== "live") break;
        if (isGap(res)) {
          if (res.lastSeq <= this.#lastSeq) {
            // The owner knows less than we do (it lost state): nothing to fetch; skip what we hold back.
            if (minP !== undefined) this.#discontinuity(minP, "owner lost history");
            else this.#needUpTo = this.#lastSeq;
            continue;
          }
          const next = Math.min(res.oldestSeq, minP ?? Infinity, target + 1);
          if (next > this.#lastSeq + 1) this.#discontinuity(next, "history evicted");
          else if (++failures >= MAX_ATTEMPTS) break;
          continue;
        }
        const before = this.#lastSeq;
        for (const m of res) {
          if (m.seq <= this.#lastSeq) continue;
          if (m.seq !== this.#lastSeq + 1) break;
          this.#deliver(m);
        }
        this.#drain();
        if (this.#lastSeq > before) {
          this.host.counters.gapsRepaired++;
          failures = 0;
        } else if (res.length === 0) {
          // The owner has nothing after lastSeq.
          if (minP !== undefined) this.#discontinuity(minP, "owner has no history for the gap");
          else this.#needUpTo = this.#lastSeq;
        } else if (++failures >= MAX_ATTEMPTS) break;
      }
    } finally {
      this.#repairing = false;
    }
  }

  #event(e: ExchangeEvent): void {
    try {
      this.opts.onEvent?.(e);
    } catch {
      this.host.counters.subscriberErrors++;
    }
  }
}
