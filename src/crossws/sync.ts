/**
 * A crossws `sync` driver over any edgeplane {@link Exchange}: `peer.publish(topic, data)` on one crossws instance
 * (h3, Nitro, Nuxt, or crossws's own adapters) reaches the subscribers on every other instance, per topic in one
 * sequence order, exactly once, with gaps repaired from the exchange's history and whatever cannot be repaired
 * reported — never dropped silently.
 *
 * The types below are crossws's `SyncAdapter` / `SyncDriver` / `SyncMessage` (crossws ≥ 0.4, `crossws/sync`)
 * restated structurally, so edgeplane needs no crossws import at run time; the tests check them against crossws's own.
 *
 * @module
 */
import { EdgeplaneError, isEdgeplaneError } from "../errors.ts";
import type { Payload } from "../envelope.ts";
import { validateRoom } from "../envelope.ts";
import type { Exchange, ExchangeEvent, SeqInfo, SequencedMessage, Unsubscribe } from "../exchange/exchange.ts";
import { RecentMap } from "../_recent-map.ts";
import { decodeWire, encodeWire, type WireMessage } from "./_wire.ts";
import { shardOf, shardRoom } from "./_shards.ts";

/** crossws's `SyncMessage`: one pub/sub event relayed between instances (`namespace` "" = every namespace). */
export interface CrosswsSyncMessage {
  /** The publishing peer's namespace; "" (a server-side `adapter.publish`) reaches every namespace. */
  namespace: string;
  /** The pub/sub topic. */
  topic: string;
  /** Text or bytes, delivered exactly as published. */
  data: string | Uint8Array;
}

/** crossws's `SyncDriver`, as edgeplane implements it. */
export interface CrosswsSyncDriver {
  /**
   * Start relaying: `deliver` gets every message published on other instances (and every ordered publish, this
   * instance's too). Resolves once every shard room is live on the exchange.
   */
  subscribe(deliver: (message: CrosswsSyncMessage) => void): Promise<void>;
  /** Relay a local publish; rejects with a typed {@link EdgeplaneError} when the exchange did not take it. */
  publish(message: CrosswsSyncMessage): Promise<void>;
  /** Stop relaying (the exchange stays open: it is yours). */
  close(): Promise<void>;
}

/** Data {@link EdgeplaneSync.publishOrdered} accepts: text, bytes, or a plain object / array (sent as JSON). */
export type OrderedData = string | ArrayBuffer | ArrayBufferView | Record<string, unknown> | unknown[];

/** A gap the exchange could not repair: messages of one shard room that this instance will never deliver. */
export interface SyncDiscontinuity {
  /** The `channel` option. */
  channel: string;
  /** Which shard room (0 … shards-1); every topic hashed to it may have lost messages. */
  shard: number;
  /** The exchange room of that shard. */
  room: string;
  /** Messages after this seq were lost … */
  afterSeq: number;
  /** … up to (not including) this seq; `1` with a new `epoch` means the room's sequence restarted. */
  nextSeq: number;
  /** The room's epoch (sequencer generation) after the gap. */
  epoch: number;
  /** What the exchange said happened. */
  reason: string;
  /** The crossws instance id that lost them. */
  instance: string;
}

/** Options of {@link edgeplaneSync}. */
export interface EdgeplaneSyncOptions {
  /** Names this app's rooms on the exchange (`<channel>#<shard>`): instances with the same channel share messages. */
  channel: string;
  /** Number of rooms topics are hashed over (default 16, 1–4096). Every instance must use the same value. */
  shards?: number;
  /**
   * Told about every unrepairable gap (besides crossws's `onError`, stage `"delivery"`, code `GAP`): resync the
   * topics of that shard from your source of truth.
   */
  onDiscontinuity?: (event: SyncDiscontinuity) => void;
}

/** Counters of {@link EdgeplaneSync.status}. */
export interface EdgeplaneSyncCounters {
  /** Local publishes the exchange sequenced. */
  published: number;
  /** Local publishes the exchange refused or timed out on (each reported to crossws's `onError`, stage `"publish"`). */
  publishFailed: number;
  /** {@link EdgeplaneSync.publishOrdered} calls the exchange sequenced. */
  orderedPublished: number;
  /** Messages handed to crossws. */
  delivered: number;
  /** This instance's own messages coming back from the exchange (not delivered: crossws already did). */
  echoSkipped: number;
  /** Messages seen twice (dropped). */
  duplicatesDropped: number;
  /** Unrepairable gaps reported. */
  discontinuities: number;
  /** Payloads in our rooms that were not crossws sync messages (dropped, reported). */
  malformed: number;
  /** Messages from an instance configured with another `shards` value (delivered, reported once). */
  shardMismatches: number;
}

/** A snapshot of {@link EdgeplaneSync.status}. */
export interface EdgeplaneSyncStatus {
  /** The `channel` option. */
  channel: string;
  /** The number of shard rooms. */
  shards: number;
  /** Every crossws instance created from this driver is relaying (and there is at least one). */
  ready: boolean;
  /** crossws instances (adapters) using this driver. */
  instances: number;
  /** What happened so far, over every instance of this driver. */
  counters: EdgeplaneSyncCounters;
}

/**
 * crossws's `SyncAdapter` (call it with `{ id }` to get a driver — crossws does, once per adapter) plus readiness,
 * the ordered publish path and status.
 */
export interface EdgeplaneSync {
  /** crossws calls this once per adapter instance with a stable random id. */
  (ctx: { id: string }): CrosswsSyncDriver;
  /** The `channel` option. */
  readonly channel: string;
  /** The number of shard rooms topics are hashed over. */
  readonly shards: number;
  /**
   * Resolves when relaying has started: every adapter created with this driver has all its shard rooms live on the
   * exchange (a publish from another instance after this point is delivered or reported). Waits for the first
   * adapter. Rejects with `CLOSED` if the adapters closed first.
   */
  ready(): Promise<void>;
  /**
   * Publish through the exchange only, and deliver to local subscribers too when the exchange delivers it, in seq
   * order: every instance (this one included) delivers the topic's ordered messages in the same order. Unlike
   * `peer.publish`, the publishing peer receives its own message if it is subscribed. Resolves with the message's
   * `{ seq, timestamp }` in its shard room, or rejects with a typed {@link EdgeplaneError}.
   */
  publishOrdered(topic: string, data: OrderedData, opts?: { namespace?: string }): Promise<SeqInfo>;
  /** Counters and readiness. */
  status(): EdgeplaneSyncStatus;
}

const MAX_SHARDS = 4096;
const ID_MEMORY = 8192;

/**
 * Build a crossws sync driver over `exchange`. Give the result to crossws as `sync`; await `ready()` before you
 * start accepting traffic if publishes from the first moments matter.
 *
 * What each path guarantees — `peer.publish` (crossws delivers locally first, then calls the driver): other instances
 * get the topic's messages in one order, exactly once; the publishing instance shows its own messages first, so two
 * instances publishing into one topic at once may each show a different order. `publishOrdered`: one order per topic
 * on every instance. Either way a message the exchange refused is reported (crossws `onError` stage `"publish"`, or
 * the rejected promise), and one it lost beyond repair is reported as a discontinuity.
 *
 * @example
 * ```ts
 * import nodeAdapter from "crossws/adapters/node";
 * import { connectNats, NatsExchange } from "edgeplane";
 * import { edgeplaneSync } from "edgeplane/crossws";
 *
 * const exchange = new NatsExchange(await connectNats({ servers: "nats://127.0.0.1:4222" }));
 * await exchange.ready();
 * const sync = edgeplaneSync(exchange, { channel: "chat" });
 * const ws = nodeAdapter({ sync, hooks: { open: (peer) => peer.subscribe("lobby"), message: (peer, msg) => peer.publish("lobby", msg.text()) } });
 * await sync.ready();
 * // then hand your HTTP server's upgrades to it: server.on("upgrade", (req, socket, head) => ws.handleUpgrade(req, socket, head))
 * ```
 */
export function edgeplaneSync(exchange: Exchange, options: EdgeplaneSyncOptions): EdgeplaneSync {
  const { channel, shards, onDiscontinuity } = checkOptions(options);
  const rooms = Array.from({ length: shards }, (_, i) => shardRoom(channel, i));
  const counters: EdgeplaneSyncCounters = {
    published: 0,
    publishFailed: 0,
    orderedPublished: 0,
    delivered: 0,
    echoSkipped: 0,
    duplicatesDropped: 0,
    discontinuities: 0,
    malformed: 0,
    shardMismatches: 0,
  };
  const drivers = new Set<Driver>();
  let firstCreated!: () => void;
  const firstDriver = new Promise<void>((resolve) => (firstCreated = resolve));

  const wire = (sender: string, namespace: string, topic: string, data: string | Uint8Array, ordered: boolean) => ({
    room: rooms[shardOf(topic, shards)],
    payload: encodeWire({ sender, namespace, topic, data, ordered, shards }),
  });

  const factory = (ctx: { id: string }): CrosswsSyncDriver => {
    if (!ctx || typeof ctx.id !== "string" || ctx.id.length === 0) {
      throw new EdgeplaneError("BAD_OPTION", "the sync adapter must be called with { id } (crossws does this)");
    }
    const driver = new Driver(ctx.id, exchange, rooms, shards, channel, counters, onDiscontinuity, () => drivers.delete(driver));
    drivers.add(driver);
    firstCreated();
    return {
      subscribe: (deliver) => driver.subscribe(deliver),
      publish: async (message) => {
        const m = checkMessage(message);
        const { room, payload } = wire(ctx.id, m.namespace, m.topic, m.data, false);
        try {
          await exchange.publish(room, payload);
          counters.published++;
        } catch (err) {
          counters.publishFailed++;
          throw relayError(err, m, room);
        }
      },
      close: () => driver.close(),
    };
  };

  return Object.assign(factory, {
    channel,
    shards,
    async ready(): Promise<void> {
      await firstDriver;
      if (drivers.size === 0) throw new EdgeplaneError("CLOSED", "every crossws adapter using this sync driver closed");
      await Promise.all([...drivers].map((d) => d.live));
    },
    async publishOrdered(topic: string, data: OrderedData, opts: { namespace?: string } = {}): Promise<SeqInfo> {
      if (typeof topic !== "string") throw new EdgeplaneError("BAD_ENVELOPE", "topic must be a string");
      const namespace = opts.namespace ?? "";
      if (typeof namespace !== "string") throw new EdgeplaneError("BAD_ENVELOPE", "namespace must be a string");
      const { room, payload } = wire("", namespace, topic, orderedData(data), true);
      const info = await exchange.publish(room, payload);
      counters.orderedPublished++;
      return info;
    },
    status: (): EdgeplaneSyncStatus => ({
      channel,
      shards,
      ready: drivers.size > 0 && [...drivers].every((d) => d.isLive),
      instances: drivers.size,
      counters: { ...counters },
    }),
  });
}

type Deliver = (message: CrosswsSyncMessage) => void;

/** One crossws instance's relaying: a subscription per shard room, echo filter, dedupe, reports. */
class Driver {
  readonly live: Promise<void>;
  isLive = false;
  #resolveLive!: () => void;
  #rejectLive!: (err: unknown) => void;
  readonly #delivers = new Set<Deliver>();
  readonly #unsubs: Unsubscribe[] = [];
  readonly #liveShards = new Set<number>();
  readonly #ids = new RecentMap<string, true>(ID_MEMORY);
  #mismatchReported = false;
  #started = false;
  #closed = false;

  constructor(
    readonly id: string,
    readonly exchange: Exchange,
    readonly rooms: string[],
    readonly shards: number,
    readonly channel: string,
    readonly counters: EdgeplaneSyncCounters,
    readonly onDiscontinuity: ((e: SyncDiscontinuity) => void) | undefined,
    readonly onClose: () => void,
  ) {
    this.live = new Promise<void>((resolve, reject) => {
      this.#resolveLive = resolve;
      this.#rejectLive = reject;
    });
    this.live.catch(() => {}); // observed through ready() / subscribe(); never an unhandled rejection
  }

  subscribe(deliver: Deliver): Promise<void> {
    if (this.#closed) return Promise.reject(new EdgeplaneError("CLOSED", "this sync driver is closed"));
    if (typeof deliver !== "function") return Promise.reject(new EdgeplaneError("BAD_OPTION", "subscribe() takes a deliver function"));
    this.#delivers.add(deliver);
    if (!this.#started) {
      this.#started = true;
      try {
        this.rooms.forEach((room, shard) => {
          this.#unsubs.push(this.exchange.subscribe(room, (m) => this.#onMessage(m), { onEvent: (e) => this.#onEvent(shard, e) }));
        });
      } catch (err) {
        for (const u of this.#unsubs.splice(0)) u();
        this.#started = false;
        this.#delivers.delete(deliver);
        return Promise.reject(err);
      }
    }
    return this.live;
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    for (const u of this.#unsubs.splice(0)) u();
    this.#delivers.clear();
    this.#rejectLive(new EdgeplaneError("CLOSED", "the sync driver closed before relaying started"));
    this.onClose();
    return Promise.resolve();
  }

  #onEvent(shard: number, e: ExchangeEvent): void {
    if (e.type === "position") {
      this.#liveShards.add(shard);
      if (this.#liveShards.size === this.shards && !this.isLive) {
        this.isLive = true;
        this.#resolveLive();
      }
      return;
    }
    this.counters.discontinuities++;
    const d: SyncDiscontinuity = {
      channel: this.channel,
      shard,
      room: e.room,
      afterSeq: e.afterSeq,
      nextSeq: e.nextSeq,
      epoch: e.epoch,
      reason: e.reason,
      instance: this.id,
    };
    try {
      this.onDiscontinuity?.(d);
    } catch (err) {
      this.#report(err);
    }
    const lost = e.nextSeq > e.afterSeq + 1 ? `messages ${e.afterSeq + 1}-${e.nextSeq - 1}` : `messages after ${e.afterSeq} (sequence restarted)`;
    this.#report(new EdgeplaneError("GAP", `crossws sync: ${lost} of shard ${shard} ("${e.room}") are lost for this instance: ${e.reason}`, { ...d }));
  }

  #onMessage(m: SequencedMessage): void {
    if (this.#closed) return;
    let w: WireMessage;
    try {
      w = decodeWire(m.payload);
    } catch (err) {
      this.counters.malformed++;
      this.#report(err);
      return;
    }
    if (!w.ordered && w.sender === this.id) {
      this.counters.echoSkipped++;
      return;
    }
    if (this.#ids.has(m.id)) {
      this.counters.duplicatesDropped++;
      return;
    }
    this.#ids.set(m.id, true);
    if (w.shards !== this.shards) {
      this.counters.shardMismatches++;
      if (!this.#mismatchReported) {
        this.#mismatchReported = true;
        this.#report(new EdgeplaneError("BAD_OPTION", `crossws sync: an instance on channel "${this.channel}" uses ${w.shards} shards, this one ${this.shards}: topics are ordered in different rooms; give every instance the same shards value`));
      }
    }
    const message: CrosswsSyncMessage = { namespace: w.namespace, topic: w.topic, data: w.data };
    this.counters.delivered++;
    for (const deliver of this.#delivers) {
      try {
        deliver(message);
      } catch (err) {
        this.#report(err);
      }
    }
  }

  /**
   * Hand an error to crossws's `onError` (stage `"delivery"`). crossws gives a driver no error channel besides its
   * `deliver` callback, which reports whatever fanning a message out throws; so we deliver a message whose `topic`
   * throws `err` the moment crossws reads it, before any peer is touched. A deliver that lets it escape (not
   * crossws's) gets it logged instead — reported either way, never lost.
   */
  #report(err: unknown): void {
    const poisoned = {
      namespace: "",
      data: "",
      get topic(): string {
        throw err;
      },
    } as CrosswsSyncMessage;
    if (this.#delivers.size === 0) return void console.error("[edgeplane] crossws sync:", err);
    for (const deliver of this.#delivers) {
      try {
        deliver(poisoned);
      } catch (escaped) {
        console.error("[edgeplane] crossws sync:", escaped);
      }
    }
  }
}

function checkOptions(o: EdgeplaneSyncOptions): Required<Omit<EdgeplaneSyncOptions, "onDiscontinuity">> & Pick<EdgeplaneSyncOptions, "onDiscontinuity"> {
  if (!o || typeof o !== "object") throw new EdgeplaneError("BAD_OPTION", "edgeplaneSync(exchange, { channel }) needs options");
  if (typeof o.channel !== "string" || o.channel.length === 0) throw new EdgeplaneError("BAD_OPTION", "channel must be a non-empty string");
  const shards = o.shards ?? 16;
  if (!Number.isSafeInteger(shards) || shards < 1 || shards > MAX_SHARDS) {
    throw new EdgeplaneError("BAD_OPTION", `shards must be an integer from 1 to ${MAX_SHARDS}`, { shards });
  }
  if (o.onDiscontinuity !== undefined && typeof o.onDiscontinuity !== "function") {
    throw new EdgeplaneError("BAD_OPTION", "onDiscontinuity must be a function");
  }
  try {
    validateRoom(shardRoom(o.channel, shards - 1));
  } catch (err) {
    throw new EdgeplaneError("BAD_OPTION", `channel cannot name exchange rooms: ${(err as Error).message}`);
  }
  return { channel: o.channel, shards, onDiscontinuity: o.onDiscontinuity };
}

function checkMessage(m: CrosswsSyncMessage): CrosswsSyncMessage {
  if (
    !m || typeof m.topic !== "string" || typeof m.namespace !== "string" ||
    !(typeof m.data === "string" || m.data instanceof Uint8Array)
  ) throw new EdgeplaneError("BAD_ENVELOPE", "a sync message is { namespace: string, topic: string, data: string | Uint8Array }");
  return m;
}

function orderedData(data: OrderedData): Payload {
  if (typeof data === "string" || data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data !== null && typeof data === "object") {
    const proto = Object.getPrototypeOf(data);
    if (Array.isArray(data) || proto === Object.prototype || proto === null) return JSON.stringify(data);
  }
  throw new EdgeplaneError("BAD_ENVELOPE", "publishOrdered() takes a string, bytes, or a plain object or array (sent as JSON)");
}

/**
 * The exchange's error, with the topic it was for (crossws's onError shows only the error). "May not": after a
 * `TIMEOUT` the exchange may still have sequenced it (a late ack); after `BACKPLANE_UNAVAILABLE` it did not.
 */
function relayError(err: unknown, m: CrosswsSyncMessage, room: string): EdgeplaneError {
  const code = isEdgeplaneError(err) ? err.code : "BACKPLANE_UNAVAILABLE";
  const why = err instanceof Error ? err.message : String(err);
  return new EdgeplaneError(code, `crossws sync: a publish to topic "${m.topic}" may not have reached other instances: ${why}`, {
    topic: m.topic,
    namespace: m.namespace,
    room,
    cause: err,
  });
}
