/**
 * The in-process exchange: the embedded default for a single server, and a faithful model of the contract for tests.
 * Several `MemoryExchange`s sharing one {@link MemoryBus} behave like nodes sharing a broker.
 *
 * @module
 */
import { createEnvelope, DEFAULT_LIMITS, type EnvelopeLimits, type Payload, validateRoom } from "../envelope.ts";
import { EdgeplaneError } from "../errors.ts";
import { randomId } from "../_utf8.ts";
import { RecentMap } from "../_recent-map.ts";
import { DEFAULT_HISTORY, HistoryRing, type HistoryLimits } from "./_history.ts";
import type {
  Exchange,
  ExchangeEvent,
  ExchangeStatus,
  Gap,
  RelayResult,
  RoomPosition,
  SeqInfo,
  SequencedMessage,
  SubscribeOptions,
  Unsubscribe,
} from "./exchange.ts";
import { isGap } from "./exchange.ts";
import { validateAuthority } from "./_authority.ts";

interface Sub {
  node: MemoryExchange;
  onMessage: (m: SequencedMessage) => void;
  onEvent?: (e: ExchangeEvent) => void;
}

interface RoomState {
  seq: number;
  lastTs: number;
  /** Epoch of the last message sequenced or relayed here. */
  epoch: number;
  /** Counter raised by a relay/seed from another sequencer: the next local sequence starts epoch + 1. */
  foreign: boolean;
  /** Highest seq delivered to subscribers (contiguous); relays beyond it wait in `relayPending`. */
  delivered: number;
  relayPending: Map<number, SequencedMessage>;
  history: HistoryRing;
  subs: Set<Sub>;
  /** Recent ids → seq info, for idempotent retries. */
  ids: RecentMap<string, SeqInfo>;
}

/**
 * Options of {@link MemoryBus}.
 *
 * @example
 * ```ts
 * const bus = new MemoryBus({ history: { maxMessages: 100 }, idCacheSize: 1000 });
 * ```
 */
export interface MemoryBusOptions {
  /** History kept per room (default 1000 messages / 4 MiB). */
  history?: Partial<HistoryLimits>;
  /** Clock (ms); injectable for tests. Default `Date.now`. */
  now?: () => number;
  /** Ids remembered per room for idempotent publish (default 10,000). */
  idCacheSize?: number;
}

/**
 * The shared "broker" of memory exchanges: sequencing state per room and the subscriber lists.
 *
 * @example
 * ```ts
 * const bus = new MemoryBus();
 * const a = new MemoryExchange({ bus }), b = new MemoryExchange({ bus }); // two "nodes"
 * ```
 */
export class MemoryBus {
  readonly #rooms = new Map<string, RoomState>();
  readonly #limits: HistoryLimits;
  readonly #now: () => number;
  readonly #idCacheSize: number;
  /** FIFO of tasks: a function, or a subscriber followed by the message to deliver to it (two slots, no closure). */
  #queue: Array<(() => void) | Sub | SequencedMessage> = [];
  #draining = false;

  /** A bus with its own rooms; pass it as `bus` to every {@link MemoryExchange} that should share them. */
  constructor(opts: MemoryBusOptions = {}) {
    this.#limits = { ...DEFAULT_HISTORY, ...opts.history };
    this.#now = opts.now ?? Date.now;
    this.#idCacheSize = opts.idCacheSize ?? 10_000;
  }

  /** @internal */
  room(name: string): RoomState {
    let r = this.#rooms.get(name);
    if (!r) {
      r = {
        seq: 0,
        lastTs: 0,
        epoch: 1,
        foreign: false,
        delivered: 0,
        relayPending: new Map(),
        history: new HistoryRing(this.#limits),
        subs: new Set(),
        ids: new RecentMap(this.#idCacheSize),
      };
      this.#rooms.set(name, r);
    }
    return r;
  }

  /** @internal Assign seq + timestamp, store, and queue delivery to every subscriber. */
  sequence(room: string, id: string, origin: string, payload: Payload, fresh = false): SeqInfo {
    const r = this.room(room);
    // An id the exchange just made up cannot be a retry: no lookup, and nobody can ask for it again.
    const known = fresh ? undefined : r.ids.get(id);
    if (known) return known;
    if (this.sealedBy) {
      throw new EdgeplaneError("BACKPLANE_UNAVAILABLE", `sequencing moved to "${this.sealedBy}" (migration)`, { sealedBy: this.sealedBy });
    }
    if (r.foreign) {
      r.epoch++;
      r.foreign = false;
    }
    const seq = ++r.seq;
    const timestamp = Math.max(this.#now(), r.lastTs);
    r.lastTs = timestamp;
    const msg: SequencedMessage = { room, seq, timestamp, epoch: r.epoch, id, origin, payload };
    const info = { seq, timestamp, epoch: r.epoch };
    if (!fresh) r.ids.set(id, info);
    this.#emit(r, msg);
    return info;
  }

  /** The authority sequencing was handed to (see {@link MemoryExchange.seal}), or "". */
  sealedBy = "";

  #emit(r: RoomState, msg: SequencedMessage): void {
    r.history.push(msg);
    r.delivered = msg.seq;
    r.relayPending.delete(msg.seq);
    this.#deliverAll(r, msg);
    for (let next = r.relayPending.get(r.delivered + 1); next; next = r.relayPending.get(r.delivered + 1)) {
      r.relayPending.delete(next.seq);
      r.history.push(next);
      r.delivered = next.seq;
      const m = next;
      this.#deliverAll(r, m);
    }
  }

  /** @internal Store and deliver an already-sequenced message (chain relay). */
  relay(msg: SequencedMessage): RelayResult {
    const r = this.room(msg.room);
    const held = r.relayPending.get(msg.seq) ?? this.#held(r, msg.room, msg.seq);
    if (held) return held.id === msg.id ? "dup" : "conflict";
    if (msg.seq > r.seq) {
      r.seq = msg.seq;
      r.foreign = true;
    }
    r.lastTs = Math.max(r.lastTs, msg.timestamp);
    r.epoch = Math.max(r.epoch, msg.epoch);
    if (msg.seq <= r.delivered) return "dup"; // older than what subscribers already passed; nothing to fill
    if (msg.seq === r.delivered + 1) this.#emit(r, msg);
    else {
      r.relayPending.set(msg.seq, msg);
      // A hole that never fills must not stall the room forever: past 1000 waiting, skip to the oldest waiting.
      if (r.relayPending.size > 1000) this.#emit(r, r.relayPending.get(Math.min(...r.relayPending.keys()))!);
    }
    return "ok";
  }

  /** @internal Raise a room's counter (chain seed). */
  seed(room: string, pos: RoomPosition): void {
    const r = this.room(room);
    if (pos.seq > r.seq || (pos.seq === r.seq && pos.epoch > r.epoch)) {
      r.seq = Math.max(r.seq, pos.seq);
      r.delivered = Math.max(r.delivered, pos.seq);
      r.lastTs = Math.max(r.lastTs, pos.timestamp);
      r.epoch = Math.max(r.epoch, pos.epoch);
      r.foreign = true;
    }
  }

  /** @internal Rooms with a counter. */
  *positions(): Generator<RoomPosition & { room: string }> {
    for (const [room, r] of this.#rooms) if (r.seq > 0) yield { room, seq: r.seq, epoch: r.epoch, timestamp: r.lastTs };
  }

  #held(r: RoomState, room: string, seq: number): SequencedMessage | undefined {
    const h = r.history.after(room, seq - 1, r.delivered, r.epoch);
    return Array.isArray(h) && h.length > 0 && h[0].seq === seq ? h[0] : undefined;
  }

  /** Queue `msg` for every subscriber of the room (one task per subscriber, no closure per delivery). */
  #deliverAll(r: RoomState, msg: SequencedMessage): void {
    if (r.subs.size === 0) return;
    for (const sub of r.subs) this.#queue.push(sub, msg);
    this.#drain();
  }

  /**
   * @internal Run deliveries in FIFO order, never re-entrantly: a subscriber that publishes from inside its callback
   * cannot make others see seq n+1 before seq n.
   */
  enqueue(...tasks: Array<() => void>): void {
    this.#queue.push(...tasks);
    this.#drain();
  }

  #drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    const q = this.#queue;
    try {
      for (let i = 0; i < q.length; i++) {
        const t = q[i];
        if (typeof t === "function") t();
        else {
          const sub = t as Sub;
          sub.node.deliver(sub, q[++i] as SequencedMessage);
        }
      }
    } finally {
      q.length = 0;
      this.#draining = false;
    }
  }
}

/**
 * Options of {@link MemoryExchange}.
 *
 * @example
 * ```ts
 * const exchange = new MemoryExchange({ nodeId: "node-a", maxPayloadBytes: 64 * 1024 });
 * ```
 */
export interface MemoryExchangeOptions extends MemoryBusOptions {
  /** Share sequencing with other exchanges (nodes) in this process. Default: a private bus. */
  bus?: MemoryBus;
  /** Node id (default random). */
  nodeId?: string;
  /** Largest payload accepted (default 1 MiB). */
  maxPayloadBytes?: number;
}

/**
 * In-process exchange: per-room seq from 1, timestamps never decreasing, bounded history for replay, idempotent
 * publish by envelope id, delivery to every subscriber including the publisher.
 *
 * @example
 * ```ts
 * const ex = new MemoryExchange();
 * ex.subscribe("lobby", (m) => console.log(m.seq, m.payload));
 * const { seq } = await ex.publish("lobby", "hello"); // logs 1 hello; seq === 1
 * ```
 */
export class MemoryExchange implements Exchange {
  readonly nodeId: string;
  readonly maxPayloadBytes: number;
  readonly #bus: MemoryBus;
  #closed = false;
  readonly #subs = new Set<{ room: string; sub: Sub }>();
  readonly #counters = { published: 0, delivered: 0, subscriberErrors: 0 };
  readonly #limits: EnvelopeLimits;

  /** A node on `opts.bus` (default: a private bus, i.e. a single-process exchange). */
  constructor(opts: MemoryExchangeOptions = {}) {
    this.#bus = opts.bus ?? new MemoryBus(opts);
    this.nodeId = opts.nodeId ?? `mem-${randomId().slice(0, 12)}`;
    this.maxPayloadBytes = opts.maxPayloadBytes ?? DEFAULT_LIMITS.maxPayloadBytes;
    this.#limits = { ...DEFAULT_LIMITS, maxPayloadBytes: this.maxPayloadBytes };
  }

  publish(room: string, payload: Payload, opts: { id?: string } = {}): Promise<SeqInfo> {
    try {
      this.#assertOpen();
      const env = createEnvelope(room, payload, { origin: this.nodeId, id: opts.id, limits: this.#limits });
      const info = this.#bus.sequence(room, env.id, env.origin, env.payload, opts.id === undefined);
      this.#counters.published++;
      return Promise.resolve(info);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  subscribe(room: string, onMessage: (m: SequencedMessage) => void, opts: SubscribeOptions = {}): Unsubscribe {
    this.#assertOpen();
    validateRoom(room);
    const r = this.#bus.room(room);
    const sub: Sub = { node: this, onMessage, onEvent: opts.onEvent };
    const entry = { room, sub };
    // The subscription counts from this call: a publish made right after it (even from inside a delivery callback,
    // while earlier deliveries are still queued) is replayed from history when the queued subscribe runs.
    const atCall = r.delivered;
    let active = true;
    this.#bus.enqueue(() => {
      if (this.#closed || !active) return;
      let position = opts.fromSeq !== undefined ? Math.max(0, Math.min(opts.fromSeq - 1, r.delivered)) : atCall;
      let held = position < r.delivered ? r.history.after(room, position, r.delivered, r.epoch) : [];
      if (isGap(held)) {
        sub.onEvent?.({ type: "discontinuity", room, afterSeq: position, nextSeq: held.oldestSeq, epoch: r.epoch, reason: "history evicted" });
        position = held.oldestSeq - 1;
        held = r.history.after(room, position, r.delivered, r.epoch);
      }
      sub.onEvent?.({ type: "position", room, seq: position, epoch: r.epoch });
      if (!isGap(held)) for (const m of held) this.deliver(sub, m);
      r.subs.add(sub);
      this.#subs.add(entry);
    });
    return () => {
      active = false;
      r.subs.delete(sub);
      this.#subs.delete(entry);
    };
  }

  history(room: string, afterSeq: number): Promise<SequencedMessage[] | Gap> {
    try {
      this.#assertOpen();
      validateRoom(room);
      if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) {
        throw new EdgeplaneError("BAD_OPTION", "afterSeq must be a non-negative integer");
      }
      const r = this.#bus.room(room);
      return Promise.resolve(r.history.after(room, afterSeq, r.delivered, r.epoch));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Chain extension: store and deliver an already-sequenced message unchanged (see {@link Exchange.relay}).
   *
   * @example
   * ```ts
   * await ex.relay({ room: "r", seq: 7, timestamp: Date.now(), epoch: 2, id: "abc", origin: "n1", payload: "x" });
   * ```
   */
  relay(msg: SequencedMessage): Promise<RelayResult> {
    try {
      this.#assertOpen();
      validateRoom(msg.room);
      return Promise.resolve(this.#bus.relay(msg));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Chain extension: raise a room's counter (see {@link Exchange.seed}).
   *
   * @example
   * ```ts
   * await ex.seed("lobby", { seq: 120, epoch: 4, timestamp: Date.now() });
   * ```
   */
  seed(room: string, position: RoomPosition): Promise<void> {
    try {
      this.#assertOpen();
      validateRoom(room);
      this.#bus.seed(room, position);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Chain extension: hand sequencing of this bus to `authority` for good (see {@link Exchange.seal}).
   *
   * @example
   * ```ts
   * await oldBus.seal("nats");
   * ```
   */
  async seal(authority: string): Promise<string> {
    validateAuthority(authority);
    if (!this.#bus.sealedBy) this.#bus.sealedBy = authority;
    return this.#bus.sealedBy;
  }

  /**
   * Chain extension: every room with a counter on this bus.
   *
   * @example
   * ```ts
   * for await (const p of ex.positions()) console.log(p.room, p.seq);
   * ```
   */
  async *positions(): AsyncGenerator<RoomPosition & { room: string }> {
    for (const p of this.#bus.positions()) yield p;
  }

  ready(): Promise<void> {
    return this.#closed ? Promise.reject(new EdgeplaneError("CLOSED", "exchange is closed")) : Promise.resolve();
  }

  status(): ExchangeStatus {
    return { kind: "memory", state: this.#closed ? "closed" : "ready", nodeId: this.nodeId, epoch: 1, counters: { ...this.#counters } };
  }

  close(): Promise<void> {
    this.#closed = true;
    for (const { room, sub } of this.#subs) this.#bus.room(room).subs.delete(sub);
    this.#subs.clear();
    return Promise.resolve();
  }

  /** @internal */
  deliver(sub: Sub, m: SequencedMessage): void {
    if (this.#closed) return;
    this.#counters.delivered++;
    try {
      sub.onMessage(m);
    } catch {
      this.#counters.subscriberErrors++;
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new EdgeplaneError("CLOSED", "exchange is closed");
  }
}
