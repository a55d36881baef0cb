/**
 * The in-process exchange: the embedded default for a single server, and a faithful model of the contract for tests.
 * Several `MemoryExchange`s sharing one {@link MemoryBus} behave like nodes sharing a broker.
 *
 * @module
 */
import { createEnvelope, DEFAULT_LIMITS, type Payload, validateRoom } from "../envelope.ts";
import { EdgeplaneError } from "../errors.ts";
import { randomId } from "../_utf8.ts";
import { DEFAULT_HISTORY, HistoryRing, type HistoryLimits } from "./_history.ts";
import type {
  Exchange,
  ExchangeEvent,
  ExchangeStatus,
  Gap,
  SeqInfo,
  SequencedMessage,
  SubscribeOptions,
  Unsubscribe,
} from "./exchange.ts";

interface Sub {
  node: MemoryExchange;
  onMessage: (m: SequencedMessage) => void;
  onEvent?: (e: ExchangeEvent) => void;
}

interface RoomState {
  seq: number;
  lastTs: number;
  history: HistoryRing;
  subs: Set<Sub>;
  /** Recent ids → seq info, for idempotent retries. */
  ids: Map<string, SeqInfo>;
}

/** Options of {@link MemoryBus}. */
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
  #queue: Array<() => void> = [];
  #draining = false;

  constructor(opts: MemoryBusOptions = {}) {
    this.#limits = { ...DEFAULT_HISTORY, ...opts.history };
    this.#now = opts.now ?? Date.now;
    this.#idCacheSize = opts.idCacheSize ?? 10_000;
  }

  /** @internal */
  room(name: string): RoomState {
    let r = this.#rooms.get(name);
    if (!r) {
      r = { seq: 0, lastTs: 0, history: new HistoryRing(this.#limits), subs: new Set(), ids: new Map() };
      this.#rooms.set(name, r);
    }
    return r;
  }

  /** @internal Assign seq + timestamp, store, and queue delivery to every subscriber. */
  sequence(room: string, id: string, origin: string, payload: Payload): SeqInfo {
    const r = this.room(room);
    const known = r.ids.get(id);
    if (known) return known;
    const seq = ++r.seq;
    const timestamp = Math.max(this.#now(), r.lastTs);
    r.lastTs = timestamp;
    const msg: SequencedMessage = { room, seq, timestamp, epoch: 1, id, origin, payload };
    r.history.push(msg);
    const info = { seq, timestamp };
    r.ids.set(id, info);
    if (r.ids.size > this.#idCacheSize) r.ids.delete(r.ids.keys().next().value as string);
    this.enqueue(...Array.from(r.subs, (sub) => () => sub.node.deliver(sub, msg)));
    return info;
  }

  /**
   * @internal Run deliveries in FIFO order, never re-entrantly: a subscriber that publishes from inside its callback
   * cannot make others see seq n+1 before seq n.
   */
  enqueue(...tasks: Array<() => void>): void {
    this.#queue.push(...tasks);
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (let i = 0; i < this.#queue.length; i++) this.#queue[i]();
    } finally {
      this.#queue = [];
      this.#draining = false;
    }
  }
}

/** Options of {@link MemoryExchange}. */
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

  constructor(opts: MemoryExchangeOptions = {}) {
    this.#bus = opts.bus ?? new MemoryBus(opts);
    this.nodeId = opts.nodeId ?? `mem-${randomId().slice(0, 12)}`;
    this.maxPayloadBytes = opts.maxPayloadBytes ?? DEFAULT_LIMITS.maxPayloadBytes;
  }

  publish(room: string, payload: Payload, opts: { id?: string } = {}): Promise<SeqInfo> {
    try {
      this.#assertOpen();
      const env = createEnvelope(room, payload, {
        origin: this.nodeId,
        id: opts.id,
        limits: { ...DEFAULT_LIMITS, maxPayloadBytes: this.maxPayloadBytes },
      });
      const info = this.#bus.sequence(room, env.id, env.origin, env.payload);
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
    this.#bus.enqueue(() => {
      if (this.#closed) return;
      let position = r.seq;
      if (opts.fromSeq !== undefined && opts.fromSeq <= r.seq) {
        const held = r.history.after(room, opts.fromSeq - 1, r.seq, 1);
        if (Array.isArray(held)) {
          position = opts.fromSeq - 1;
        } else {
          position = held.oldestSeq - 1;
          sub.onEvent?.({ type: "discontinuity", room, afterSeq: opts.fromSeq - 1, nextSeq: held.oldestSeq, epoch: 1, reason: "history evicted" });
        }
      }
      sub.onEvent?.({ type: "position", room, seq: position, epoch: 1 });
      if (position < r.seq) {
        const held = r.history.after(room, position, r.seq, 1);
        if (Array.isArray(held)) for (const m of held) this.deliver(sub, m);
      }
      r.subs.add(sub);
      this.#subs.add(entry);
    });
    return () => {
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
      return Promise.resolve(r.history.after(room, afterSeq, r.seq, 1));
    } catch (err) {
      return Promise.reject(err);
    }
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
