/**
 * The Exchange contract (docs/design.md §3): the backplane that assigns one order per room and delivers sequenced messages
 * to every node subscribed to the room, including the publishing node.
 *
 * @module
 */
import type { Payload } from "../envelope.ts";

/**
 * What a publish resolves to: Telefunc's `WirePublishInfo`.
 *
 * @example
 * ```ts
 * const info: SeqInfo = await exchange.publish("lobby", "hello");
 * console.log(info.seq, new Date(info.timestamp));
 * ```
 */
export interface SeqInfo {
  /** Position in the room's one global order, from 1, contiguous. */
  seq: number;
  /** Milliseconds since the epoch, never decreasing within a room. */
  timestamp: number;
  /** Epoch the seq was assigned under, when the exchange reports it (the chain relays with it). */
  epoch?: number;
}

/**
 * A message as delivered by an exchange.
 *
 * @example
 * ```ts
 * exchange.subscribe("lobby", (m: SequencedMessage) => console.log(m.seq, m.origin, m.payload));
 * ```
 */
export interface SequencedMessage {
  /** The room it was published to. */
  room: string;
  /** Position in the room's order, from 1, contiguous. */
  seq: number;
  /** Milliseconds since the epoch, assigned by the sequencer; never decreasing within a room. */
  timestamp: number;
  /** Sequencer generation; bumps on ownership change or lost history. */
  epoch: number;
  /** Random 128-bit id of the envelope (dedupe key). */
  id: string;
  /** Node id of the publisher. */
  origin: string;
  /** The body, byte-identical to what was published. */
  payload: Payload;
}

/**
 * History cannot cover the request: messages after `afterSeq` up to `oldestSeq - 1` are gone.
 *
 * @example
 * ```ts
 * const h = await exchange.history("lobby", 0);
 * if (isGap(h)) console.log(`lost ${h.afterSeq + 1}..${h.oldestSeq - 1} of ${h.lastSeq}`);
 * ```
 */
export interface Gap {
  /** Always `true`: tells a gap from a message list. */
  gap: true;
  /** The room asked about. */
  room: string;
  /** What was asked for: messages with seq > afterSeq. */
  afterSeq: number;
  /** Oldest seq still held (or lastSeq + 1 when nothing is held). */
  oldestSeq: number;
  /** Latest seq assigned in the room. */
  lastSeq: number;
  /** The room's current epoch. */
  epoch: number;
}

/**
 * Something other than a message that a room subscription reports.
 *
 * @example
 * ```ts
 * exchange.subscribe("lobby", onMessage, {
 *   onEvent: (e: ExchangeEvent) => {
 *     if (e.type === "discontinuity") console.warn(`lost ${e.afterSeq + 1}..${e.nextSeq - 1}: ${e.reason}`);
 *   },
 * });
 * ```
 */
export type ExchangeEvent =
  | {
    /** The subscription is live: every message with seq > `seq` will reach `onMessage` (or a discontinuity). */
    type: "position";
    room: string;
    seq: number;
    epoch: number;
  }
  | {
    /** Messages in (afterSeq, nextSeq) were lost and could not be repaired from history. Resync. */
    type: "discontinuity";
    room: string;
    afterSeq: number;
    nextSeq: number;
    epoch: number;
    reason: string;
  };

/**
 * Options of {@link Exchange.subscribe}.
 *
 * @example
 * ```ts
 * const opts: SubscribeOptions = { fromSeq: 41, onEvent: (e) => console.log(e.type) }; // replay from seq 41
 * exchange.subscribe("lobby", (m) => console.log(m.seq), opts);
 * ```
 */
export interface SubscribeOptions {
  /** Also deliver held history with seq >= fromSeq before live messages (or a discontinuity if evicted). */
  fromSeq?: number;
  /** Position and discontinuity events for this room. `position` comes before the first message. */
  onEvent?: (event: ExchangeEvent) => void;
}

/**
 * Stops a subscription; idempotent.
 *
 * @example
 * ```ts
 * const stop: Unsubscribe = exchange.subscribe("lobby", (m) => console.log(m.seq));
 * stop();
 * ```
 */
export type Unsubscribe = () => void;

/**
 * A room's sequencer position, as used to seed a new authority (chain extension).
 *
 * @example
 * ```ts
 * const position: RoomPosition = { seq: 120, epoch: 3, timestamp: Date.now() };
 * await exchange.seed?.("lobby", position); // the next seq it assigns is 121, under a higher epoch
 * ```
 */
export interface RoomPosition {
  /** Last seq assigned. */
  seq: number;
  /** Epoch of that seq. */
  epoch: number;
  /** Timestamp of that seq. */
  timestamp: number;
}

/**
 * Outcome of {@link Exchange.relay}: stored and delivered, already held, or another id holds that seq.
 *
 * @example
 * ```ts
 * const r: RelayResult | undefined = await exchange.relay?.(message);
 * if (r === "conflict") console.error("two messages claim seq", message.seq);
 * ```
 */
export type RelayResult = "ok" | "dup" | "conflict";

/**
 * Lifecycle state of an exchange: `degraded` while the broker is unreachable (publishes reject), `closed` after
 * `close()`.
 *
 * @example
 * ```ts
 * const state: ExchangeState = exchange.status().state;
 * if (state === "degraded") console.warn("backplane down");
 * ```
 */
export type ExchangeState = "connecting" | "ready" | "degraded" | "closed";

/**
 * Status snapshot of an exchange.
 *
 * @example
 * ```ts
 * const s: ExchangeStatus = exchange.status();
 * console.log(s.kind, s.state, s.counters.published);
 * ```
 */
export interface ExchangeStatus {
  /** Which exchange: "memory", "nats", "redis", "chain". */
  kind: string;
  /** Lifecycle state. */
  state: ExchangeState;
  /** This node's id on the backplane. */
  nodeId: string;
  /** Highest epoch this node has produced or seen. */
  epoch: number;
  /** Monotonic counters (published, delivered, duplicatesDropped, gapsRepaired, discontinuities, …). */
  counters: Record<string, number>;
}

/**
 * The backplane contract every exchange (memory, NATS, Redis, chain) implements.
 *
 * @example
 * ```ts
 * const exchange: Exchange = new MemoryExchange();
 * exchange.subscribe("lobby", (m) => console.log(m.seq, m.payload));
 * const { seq } = await exchange.publish("lobby", "hello"); // 1
 * await exchange.close();
 * ```
 */
export interface Exchange {
  /** This node's id on the backplane (also the envelope origin). */
  readonly nodeId: string;
  /** Maximum payload this exchange accepts, in bytes. */
  readonly maxPayloadBytes: number;
  /** Assign the next seq for `room` and deliver to every subscriber of `room` on every node (incl. this one). */
  publish(room: string, payload: Payload, opts?: { id?: string }): Promise<SeqInfo>;
  /**
   * Subscribe this node to `room`. The Hub keeps at most one per room; others may subscribe more.
   *
   * Subscribe, then publish loses nothing: every `publish` on this node that starts after `subscribe()` returned
   * reaches this subscription (exchanges whose subscriptions go live asynchronously make such a publish wait until
   * they are positioned). Publishes of other nodes are covered from the `position` event on.
   */
  subscribe(room: string, onMessage: (msg: SequencedMessage) => void, opts?: SubscribeOptions): Unsubscribe;
  /** Messages of `room` with seq > afterSeq still held in history, or a {@link Gap} if some are gone. */
  history(room: string, afterSeq: number): Promise<SequencedMessage[] | Gap>;
  /** Resolves when connected and able to publish. */
  ready(): Promise<void>;
  /** Status and counters. */
  status(): ExchangeStatus;
  /** Drain: finish in-flight publishes, hand off, close. Idempotent. */
  close(): Promise<void>;

  // ---- Optional chain extension (docs/design.md §6; implemented by memory, redis and nats). A chain member that is relayed to must
  // implement `relay`; a member that becomes the authority after another must implement `seed` (or `relay`); a member
  // that hands authority away must implement `seal`; `positions` lets the chain seed every room, not just active ones.

  /**
   * Store and deliver an already-sequenced message unchanged (room, seq, epoch, timestamp, id, origin, payload) to
   * every subscriber of this exchange. Idempotent by (room, seq, id); out-of-order relays are fine (subscribers
   * reorder). Raises the room's counter to at least `msg.seq` (timestamp and epoch likewise) and marks it foreign, so
   * the next message this exchange sequences itself continues at counter + 1 under epoch + 1.
   */
  relay?(msg: SequencedMessage): Promise<RelayResult>;
  /** Raise a room's counter to `position` (max-merge, marks it foreign like `relay`), without a message. */
  seed?(room: string, position: RoomPosition): Promise<void>;
  /**
   * Hand sequencing to `authority` for good: afterwards `publish` rejects with BACKPLANE_UNAVAILABLE and
   * `details.sealedBy = authority` (relay, history and subscriptions keep working; an id sequenced before keeps its
   * seq). Shared by every node on this backplane; the first seal wins and is returned. An authority that is not a
   * 1–128 character name rejects with BAD_OPTION.
   */
  seal?(authority: string): Promise<string>;
  /** Every room this exchange holds a counter for (for seeding a new authority before the old one goes away). */
  positions?(): AsyncIterable<RoomPosition & { room: string }>;
}

/**
 * Narrow a history result to a {@link Gap}.
 *
 * @example
 * ```ts
 * const h = await exchange.history("lobby", 10);
 * if (isGap(h)) console.log("resync from", h.oldestSeq); else for (const m of h) console.log(m.seq);
 * ```
 */
export function isGap(result: SequencedMessage[] | Gap): result is Gap {
  return !Array.isArray(result);
}
