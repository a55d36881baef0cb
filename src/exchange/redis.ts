/**
 * The Redis exchange (docs/design.md §5): one Lua script per publish (`INCR`-style counter, server `TIME`, capped history,
 * `PUBLISH`) so a room's seq order is the order in which Redis ran the scripts. The epoch lives in Redis and is bumped
 * when Redis lost its data; subscribers follow the rules of docs/design.md §4 (dedupe, gap repair from history, discontinuity
 * events) and re-check every room after a reconnect (e.g. after Redis dropped the subscriber for output-buffer
 * overflow), so a missed message is repaired or reported, never hidden.
 *
 * Takes the user's clients structurally: node-redis v4/v5 or ioredis. Use {@link connectRedis} for a default pair.
 * Requires a single Redis (or a Sentinel-managed primary), `maxmemory-policy noeviction`.
 *
 * @module
 */
import { createEnvelope, decodeEnvelope, DEFAULT_LIMITS, encodeEnvelope, type Payload, validateRoom } from "../envelope.ts";
import { EdgeplaneError, isEdgeplaneError } from "../errors.ts";
import { randomId } from "../_utf8.ts";
import { RecentMap } from "../_recent-map.ts";
import type {
  Exchange,
  ExchangeStatus,
  Gap,
  SeqInfo,
  SequencedMessage,
  SubscribeOptions,
  Unsubscribe,
} from "./exchange.ts";
import { newOrderCounters, RoomOrder, subscriptionOrder } from "./_room-order.ts";
import { type PubSub, pubSub, sendCommand } from "./_redis-client.ts";
import { PublishGates } from "./_publish-gate.ts";
import { validateAuthority } from "./_authority.ts";
import { HISTORY_LUA, POSITIONS_LUA, PUBLISH_LUA, RELAY_LUA, SEAL_LUA, SEED_LUA } from "./_redis-scripts.ts";

/**
 * The command connection, structurally: node-redis (`sendCommand([...])`) or ioredis (`call(cmd, ...args)`).
 * Event methods are optional; when present the exchange watches `ready`/`error`/`end`.
 *
 * @example
 * ```ts
 * import { createClient } from "redis";
 * const client: RedisCommandClient = createClient({ url: "redis://127.0.0.1:6379" });
 * ```
 */
export type RedisCommandClient =
  & ({ sendCommand(args: string[]): Promise<unknown> } | { call(command: string, ...args: string[]): Promise<unknown> })
  // deno-lint-ignore no-explicit-any
  & { on?(event: string, listener: (...args: any[]) => void): unknown };

/**
 * The pub/sub connection, structurally: node-redis v4/v5 (`subscribe(channel, listener)`) or ioredis
 * (`subscribe(channel)` + `on("message", (channel, message) => …)`). It must be a connection of its own.
 *
 * @example
 * ```ts
 * const subscriber: RedisSubscriberClient = client.duplicate(); // node-redis; connect() it before use
 * ```
 */
export type RedisSubscriberClient = {
  /** SUBSCRIBE to a channel (node-redis passes a listener, ioredis emits `message`). */
  subscribe(channel: string, ...rest: never[]): Promise<unknown>;
  /** UNSUBSCRIBE from a channel. */
  unsubscribe(channel: string, ...rest: never[]): Promise<unknown>;
  /** Connection events (`ready`, `error`, `end`, `message`), when the client has them. */
  // deno-lint-ignore no-explicit-any
  on?(event: string, listener: (...args: any[]) => void): unknown;
};

/**
 * Options of {@link RedisExchange}.
 *
 * @example
 * ```ts
 * const exchange = new RedisExchange({ client, subscriber, prefix: "chat", historySize: 5000 } satisfies RedisExchangeOptions);
 * ```
 */
export interface RedisExchangeOptions {
  /** Command connection (node-redis or ioredis). */
  client: RedisCommandClient;
  /** A second connection used only for SUBSCRIBE (node-redis: `client.duplicate()` then `connect()`). */
  subscriber: RedisSubscriberClient;
  /** Key and channel prefix (default "edgeplane"). Exchanges with different prefixes never see each other. */
  prefix?: string;
  /** Node id (default random). */
  nodeId?: string;
  /** Messages of history kept per room in Redis (default 1000). */
  historySize?: number;
  /** Largest payload accepted (default 1 MiB). */
  maxPayloadBytes?: number;
  /** Bound on every Redis round trip; beyond it the call rejects with BACKPLANE_UNAVAILABLE (default 2000 ms). */
  timeoutMs?: number;
  /** How long a published id is remembered for idempotent retries (default 600 s). */
  idTtlSeconds?: number;
  /** How long a subscriber waits for a hole to fill before reporting a discontinuity (default 2000 ms). */
  gapTimeoutMs?: number;
  /** Every this many ms, compare each subscribed room's position with Redis (tail-gap check; 0 = off; default 5000). */
  sweepIntervalMs?: number;
  /** Called when the exchange swallows an error (client errors, bad envelopes). */
  onError?: (err: unknown) => void;
  /** Called by `close()` after unsubscribing (e.g. quit the clients this exchange owns). */
  onClose?: () => Promise<void> | void;
}

/**
 * What a publish on the Redis exchange resolves to: the seq info plus the epoch it was assigned under.
 *
 * @example
 * ```ts
 * const { seq, epoch }: RedisSeqInfo = await redisExchange.publish("lobby", "hi");
 * ```
 */
export interface RedisSeqInfo extends SeqInfo {
  /** The generation the seq was assigned under (bumps when Redis lost its data). */
  epoch: number;
}

interface LocalSub {
  order: RoomOrder;
  /** Opens this subscription's hold on the room's publish gate (once positioned, unsubscribed or closed). */
  release: () => void;
}

interface Channel {
  room: string;
  name: string;
  subs: Set<LocalSub>;
  /** Resolves once SUBSCRIBE is confirmed (rejects if it failed; retried on the next `ready`). */
  subscribed: Promise<void>;
  ok: boolean;
  /** A SUBSCRIBE is in flight. */
  pending: boolean;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

interface Known {
  seq: number;
  epoch: number;
  ts: number;
}

/** `k` raised to (seq, epoch, ts): the highest seq wins (a lineage Redis restarted below it is raised above it again). */
function raised(k: Known | undefined, seq: number, epoch: number, ts: number): Known {
  if (!k) return { seq, epoch, ts };
  const higher = seq > k.seq || (seq === k.seq && epoch > k.epoch);
  return { seq: higher ? seq : k.seq, epoch: higher ? epoch : k.epoch, ts: Math.max(ts, k.ts) };
}

/**
 * Redis-backed {@link Exchange}.
 *
 * @example
 * ```ts
 * import { connectRedis } from "./redis-connect.ts";
 * const ex = await connectRedis("redis://127.0.0.1:6379");
 * ex.subscribe("lobby", (m) => console.log(m.seq, m.payload));
 * await ex.publish("lobby", "hello");
 * ```
 */
export class RedisExchange implements Exchange {
  readonly nodeId: string;
  readonly maxPayloadBytes: number;
  /** Key and channel prefix. */
  readonly prefix: string;
  readonly #client: RedisCommandClient;
  readonly #pubsub: PubSub;
  readonly #historySize: number;
  readonly #timeoutMs: number;
  readonly #idTtl: number;
  readonly #gapTimeoutMs: number;
  readonly #onError: (err: unknown) => void;
  readonly #onClose?: () => Promise<void> | void;
  readonly #channels = new Map<string, Channel>();
  /**
   * Highest seq (with its epoch, and the highest timestamp) this node saw per subscribed room, and per room it recently
   * published to: every script carries it, so a Redis that lost its data continues above it (REBASE).
   */
  readonly #known = new Map<string, Known>();
  readonly #acked = new RecentMap<string, Known>(4096);
  readonly #inflight = new Set<Promise<unknown>>();
  /** Publishes of a room wait for this node's subscriptions of it that are not positioned yet. */
  readonly #gates = new PublishGates();
  #epoch = 0;
  #state: ExchangeStatus["state"] = "connecting";
  #sweepTimer: ReturnType<typeof setInterval> | undefined;
  #sealedBy = "";
  readonly #order = newOrderCounters();
  readonly #counters = {
    published: 0,
    relayed: 0,
    relayConflicts: 0,
    seeded: 0,
    reconnects: 0,
    badEnvelopes: 0,
    timeouts: 0,
    errors: 0,
    epochBumps: 0,
  };

  /** An exchange on the given (connected) clients: watches their events and starts the tail-gap sweep. */
  constructor(opts: RedisExchangeOptions) {
    this.#client = opts.client;
    this.#pubsub = pubSub(opts.subscriber);
    this.prefix = opts.prefix ?? "edgeplane";
    this.nodeId = opts.nodeId ?? `redis-${randomId().slice(0, 12)}`;
    this.maxPayloadBytes = opts.maxPayloadBytes ?? DEFAULT_LIMITS.maxPayloadBytes;
    this.#historySize = opts.historySize ?? 1000;
    this.#timeoutMs = opts.timeoutMs ?? 2000;
    this.#idTtl = opts.idTtlSeconds ?? 600;
    this.#gapTimeoutMs = opts.gapTimeoutMs ?? 2000;
    this.#onError = opts.onError ?? (() => {});
    this.#onClose = opts.onClose;
    const c = opts.client as { on?: (ev: string, l: (err: unknown) => void) => unknown };
    if (typeof c.on === "function") c.on.call(opts.client, "error", (err) => this.#swallow(err));
    this.#pubsub.on("error", (err) => this.#swallow(err));
    this.#pubsub.on("down", () => {
      if (this.#state === "ready") this.#state = "degraded";
    });
    this.#pubsub.on("ready", () => {
      if (this.#state === "closed") return;
      this.#counters.reconnects++;
      void this.#resync();
    });
    const sweep = opts.sweepIntervalMs ?? 5000;
    if (sweep > 0) {
      this.#sweepTimer = setInterval(() => void this.#sweep().catch(() => {}), sweep);
      (this.#sweepTimer as { unref?: () => void }).unref?.();
    }
  }

  #keys(room: string) {
    const p = this.prefix;
    return { gen: `${p}:gen`, sealed: `${p}:sealed`, room: `${p}:r:${room}`, hist: `${p}:h:${room}`, channel: `${p}:m:${room}` };
  }

  publish(room: string, payload: Payload, opts: { id?: string } = {}): Promise<RedisSeqInfo> {
    return this.#track(this.#publish(room, payload, opts));
  }

  async #publish(room: string, payload: Payload, opts: { id?: string }): Promise<RedisSeqInfo> {
    this.#assertOpen();
    const env = createEnvelope(room, payload, {
      origin: this.nodeId,
      id: opts.id,
      limits: { ...DEFAULT_LIMITS, maxPayloadBytes: this.maxPayloadBytes },
    });
    const gate = this.#gates.wait(room, this.#timeoutMs);
    if (gate) {
      await gate;
      this.#assertOpen();
    }
    const k = this.#keys(room);
    const res = await this.#eval(PUBLISH_LUA, [k.gen, k.sealed, k.room, k.hist, `${this.prefix}:i:${room}:${env.id}`], [
      String(this.#epoch),
      encodeEnvelope(env),
      k.channel,
      String(this.#historySize),
      String(this.#idTtl),
      ...this.#knownArgs(room),
    ]) as string[];
    const tag = String(res[0]);
    if (tag === "sealed") {
      this.#sealedBy = String(res[1]);
      throw new EdgeplaneError("BACKPLANE_UNAVAILABLE", `sequencing of this Redis moved to "${res[1]}" (migration)`, {
        sealedBy: String(res[1]),
      });
    }
    let seq: number, timestamp: number, epoch: number;
    if (tag === "dup") [seq, timestamp, epoch] = String(res[1]).split(":").map(Number);
    else [seq, timestamp, epoch] = [Number(res[1]), Number(res[2]), Number(res[3])];
    this.#seeEpoch(epoch);
    this.#acked.set(room, raised(this.#acked.get(room), seq, epoch, timestamp));
    this.#counters.published++;
    return { seq, timestamp, epoch };
  }

  subscribe(room: string, onMessage: (m: SequencedMessage) => void, opts: SubscribeOptions = {}): Unsubscribe {
    this.#assertOpen();
    validateRoom(room);
    const k = this.#keys(room);
    const order = subscriptionOrder(room, onMessage, opts.onEvent, (after) => this.history(room, after), this.#order, {
      gapTimeoutMs: this.#gapTimeoutMs,
    });
    const local: LocalSub = { order, release: this.#gates.hold(room) };
    let ch = this.#channels.get(k.channel);
    if (!ch) {
      const created: Channel = { room, name: k.channel, subs: new Set(), subscribed: Promise.resolve(), ok: false, pending: false };
      this.#ensureSubscribed(created);
      this.#channels.set(k.channel, created);
      ch = created;
    }
    ch.subs.add(local);
    const channel = ch;
    void channel.subscribed.then(async () => {
      const [pos] = await this.#positions([room]);
      if (!channel.subs.has(local)) return;
      const start = opts.fromSeq !== undefined ? Math.max(0, Math.min(opts.fromSeq - 1, pos.seq)) : pos.seq;
      order.position(start, pos.epoch);
      local.release();
      order.observe(pos.seq, pos.epoch, pos.base);
    }).catch((err) => {
      // Not subscribed yet (Redis down): the next `ready` or sweep resubscribes and positions this room. Until then
      // the gate stays closed, so a publish of this room from this node rejects (typed) rather than go unseen here.
      this.#swallow(err);
    });
    return () => {
      if (!channel.subs.delete(local)) return;
      local.release();
      order.close();
      if (channel.subs.size === 0 && this.#channels.get(channel.name) === channel) {
        this.#channels.delete(channel.name);
        this.#known.delete(room);
        void this.#pubsub.unsubscribe(channel.name).catch((err) => this.#swallow(err));
      }
    };
  }

  /** SUBSCRIBE the channel unless it is subscribed or a SUBSCRIBE is in flight; returns the attempt. */
  #ensureSubscribed(ch: Channel): Promise<void> {
    if (ch.ok || ch.pending) return ch.subscribed;
    ch.pending = true;
    const p = this.#withTimeout(this.#pubsub.subscribe(ch.name, (text) => this.#onChannelMessage(ch, text)), "SUBSCRIBE");
    ch.subscribed = p.then(() => {
      ch.ok = true;
      ch.pending = false;
    }, (err) => {
      ch.ok = false;
      ch.pending = false;
      throw err;
    });
    ch.subscribed.catch(() => {}); // failures are retried by the next reconnect or sweep
    return ch.subscribed;
  }

  #onChannelMessage(ch: Channel, text: string): void {
    let m: SequencedMessage;
    try {
      m = this.#decode(text);
    } catch (err) {
      this.#counters.badEnvelopes++;
      this.#swallow(err);
      return;
    }
    if (m.room !== ch.room) {
      this.#counters.badEnvelopes++;
      return;
    }
    this.#noteKnown(m);
    for (const s of ch.subs) s.order.offer(m);
  }

  #noteKnown(m: SequencedMessage): void {
    this.#seeEpoch(m.epoch);
    if (!this.#channels.has(this.#keys(m.room).channel)) return;
    this.#known.set(m.room, raised(this.#known.get(m.room), m.seq, m.epoch, m.timestamp));
  }

  /** knownSeq, knownEpoch, knownTs of `room` for a script (what this node saw as a subscriber or a publisher). */
  #knownArgs(room: string): [string, string, string] {
    const sub = this.#known.get(room), pub = this.#acked.get(room);
    const k = pub ? raised(sub, pub.seq, pub.epoch, pub.ts) : sub;
    return k ? [String(k.seq), String(k.epoch), String(k.ts)] : ["0", "0", "0"];
  }

  #decode(text: string): SequencedMessage {
    const { envelope, extra } = decodeEnvelope(text, { ...DEFAULT_LIMITS, maxPayloadBytes: this.maxPayloadBytes });
    const seq = extra.seq, ts = extra.ts, epoch = extra.epoch;
    if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(ts) || !Number.isSafeInteger(epoch) || (seq as number) < 1) {
      throw new EdgeplaneError("BAD_ENVELOPE", "sequenced envelope lacks seq/ts/epoch");
    }
    return {
      room: envelope.room,
      seq: seq as number,
      timestamp: ts as number,
      epoch: epoch as number,
      id: envelope.id,
      origin: envelope.origin,
      payload: envelope.payload,
    };
  }

  history(room: string, afterSeq: number): Promise<SequencedMessage[] | Gap> {
    return this.#track(this.#history(room, afterSeq));
  }

  async #history(room: string, afterSeq: number): Promise<SequencedMessage[] | Gap> {
    this.#assertOpen();
    validateRoom(room);
    if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) {
      throw new EdgeplaneError("BAD_OPTION", "afterSeq must be a non-negative integer");
    }
    const k = this.#keys(room);
    const res = await this.#eval(HISTORY_LUA, [k.gen, k.room, k.hist], [
      String(this.#epoch),
      String(Math.min(afterSeq, MAX_SAFE)),
      String(this.#historySize),
      ...this.#knownArgs(room),
    ]) as [unknown, unknown, unknown[], unknown];
    const lastSeq = Number(res[0]);
    const epoch = Number(res[1]);
    const floor = Number(res[3] ?? 0);
    this.#seeEpoch(epoch);
    if (afterSeq === lastSeq) return [];
    const held: SequencedMessage[] = [];
    for (const text of res[2] ?? []) {
      try {
        held.push(this.#decode(String(text)));
      } catch (err) {
        this.#counters.badEnvelopes++;
        this.#swallow(err);
      }
    }
    const oldest = held.length > 0 ? held[0].seq : lastSeq + 1;
    // A gap: asked beyond the last seq (a lost generation), or the next seq was evicted (or lies below a seed).
    if (afterSeq > lastSeq || (afterSeq + 1 < oldest && afterSeq + 1 <= floor)) {
      return { gap: true, room, afterSeq, oldestSeq: Math.max(oldest, Math.min(floor + 1, lastSeq + 1)), lastSeq, epoch };
    }
    // Contiguous prefix only: a missing seq above the floor is a relay still in flight; the caller asks again.
    const out: SequencedMessage[] = [];
    for (const m of held) {
      if (m.seq !== afterSeq + 1 + out.length) break;
      out.push(m);
    }
    return out;
  }

  /**
   * Chain extension: store and deliver an already-sequenced message unchanged (seq, epoch, timestamp, id, origin).
   * Idempotent by seq+id; raises the room's counter to at least `msg.seq`, so the next publish sequenced here
   * continues after it under epoch + 1. Resolves "dup" if held already, "conflict" if another id holds that seq.
   *
   * @example
   * ```ts
   * await newBroker.relay({ room: "r", seq: 7, timestamp: Date.now(), epoch: 3, id: "abc", origin: "n1", payload: "x" });
   * ```
   */
  relay(msg: SequencedMessage): Promise<"ok" | "dup" | "conflict"> {
    return this.#track((async () => {
      this.#assertOpen();
      const env = createEnvelope(msg.room, msg.payload, {
        origin: msg.origin,
        id: msg.id,
        limits: { ...DEFAULT_LIMITS, maxPayloadBytes: this.maxPayloadBytes },
      });
      const k = this.#keys(msg.room);
      const text = encodeEnvelope(env, { seq: msg.seq, ts: msg.timestamp, epoch: msg.epoch });
      const res = await this.#eval(RELAY_LUA, [k.gen, k.room, k.hist], [
        String(this.#epoch),
        text,
        String(msg.seq),
        String(msg.timestamp),
        String(msg.epoch),
        msg.id,
        k.channel,
        String(this.#historySize),
      ]) as string[];
      const tag = String(res[0]) as "ok" | "dup" | "conflict";
      if (tag === "ok") this.#counters.relayed++;
      if (tag === "conflict") this.#counters.relayConflicts++;
      this.#seeEpoch(msg.epoch);
      return tag;
    })());
  }

  /**
   * Chain extension: raise a room's counter to `position` (max-merge) without a message, so the next publish
   * sequenced here continues at `seq + 1` under `epoch + 1`.
   *
   * @example
   * ```ts
   * await newBroker.seed("lobby", { seq: 120, epoch: 4, timestamp: Date.now() });
   * ```
   */
  seed(room: string, position: { seq: number; epoch: number; timestamp: number }): Promise<void> {
    return this.#track((async () => {
      this.#assertOpen();
      validateRoom(room);
      const k = this.#keys(room);
      const res = await this.#eval(SEED_LUA, [k.gen, k.room], [
        String(this.#epoch),
        String(position.seq),
        String(position.timestamp),
        String(position.epoch),
      ]) as string[];
      if (String(res[0]) === "ok") this.#counters.seeded++;
    })());
  }

  /**
   * Chain extension: hand sequencing to `authority` for good (migration phase 3). Afterwards `publish` rejects with
   * BACKPLANE_UNAVAILABLE and `details.sealedBy`; `relay`, `history` and subscriptions keep working. Resolves with the
   * seal in force (the first one wins).
   *
   * @example
   * ```ts
   * await oldBroker.seal("nats");
   * ```
   */
  async seal(authority: string): Promise<string> {
    validateAuthority(authority);
    this.#assertOpen();
    const res = await this.#eval(SEAL_LUA, [`${this.prefix}:sealed`], [authority]);
    this.#sealedBy = String(res);
    return this.#sealedBy;
  }

  /** The authority this Redis was sealed to ("" if none), as last seen. */
  get sealedBy(): string {
    return this.#sealedBy;
  }

  /**
   * Chain extension: every room this Redis has a counter for, with its position (SCAN; for seeding a new authority).
   *
   * @example
   * ```ts
   * for await (const p of ex.positions()) console.log(p.room, p.seq, p.epoch);
   * ```
   */
  async *positions(): AsyncGenerator<{ room: string; seq: number; epoch: number; timestamp: number }> {
    const match = `${this.prefix}:r:*`;
    const strip = `${this.prefix}:r:`.length;
    let cursor = "0";
    let rounds = 0;
    do {
      const res = await this.#cmd(["SCAN", cursor, "MATCH", match, "COUNT", "500"]) as [unknown, unknown[]];
      cursor = String(res[0]);
      for (const key of res[1]) {
        const room = String(key).slice(strip);
        const st = await this.#cmd(["HMGET", String(key), "seq", "epoch", "ts"]) as unknown[];
        if (st[0] == null) continue;
        yield { room, seq: Number(st[0]), epoch: Number(st[1] ?? 0), timestamp: Number(st[2] ?? 0) };
      }
    } while (cursor !== "0" && ++rounds < 1_000_000);
  }

  async ready(): Promise<void> {
    this.#assertOpen();
    await this.#positions([]);
    if (this.#state === "connecting") this.#state = "ready";
  }

  status(): ExchangeStatus {
    return {
      kind: "redis",
      state: this.#state,
      nodeId: this.nodeId,
      epoch: this.#epoch,
      counters: { ...this.#counters, ...this.#order },
    };
  }

  async close(): Promise<void> {
    if (this.#state === "closed") return;
    if (this.#sweepTimer !== undefined) clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
    // Drain: let in-flight publishes finish (each bounded by timeoutMs).
    await Promise.allSettled([...this.#inflight]);
    this.#state = "closed";
    this.#gates.openAll();
    const names = [...this.#channels.keys()];
    for (const ch of this.#channels.values()) for (const s of ch.subs) s.order.close();
    this.#channels.clear();
    await Promise.allSettled(names.map((n) => this.#withTimeout(this.#pubsub.unsubscribe(n), "UNSUBSCRIBE")));
    await this.#onClose?.();
  }

  // ---- internals ----

  /**
   * Position (seq, epoch, base: where the room's lineage continued from) of rooms, each first raised to what this node
   * saw; also creates a new generation if Redis lost its data.
   */
  async #positions(rooms: string[]): Promise<Array<{ seq: number; epoch: number; base: number }>> {
    const keys = [`${this.prefix}:gen`, `${this.prefix}:sealed`, ...rooms.map((r) => this.#keys(r).room)];
    const res = await this.#eval(POSITIONS_LUA, keys, [String(this.#epoch), ...rooms.flatMap((r) => this.#knownArgs(r))]) as unknown[];
    this.#seeEpoch(Number(res[0]));
    this.#sealedBy = String(res[1] ?? "");
    const out: Array<{ seq: number; epoch: number; base: number }> = [];
    for (let i = 0; i < rooms.length; i++) {
      const seq = Number(res[2 + 3 * i]), epoch = Number(res[3 + 3 * i]), base = Number(res[4 + 3 * i]);
      out.push({ seq, epoch, base });
      if (seq > 0 && this.#channels.has(this.#keys(rooms[i]).channel)) this.#known.set(rooms[i], raised(this.#known.get(rooms[i]), seq, epoch, 0));
    }
    return out;
  }

  /** After a (re)connect of the subscriber: resubscribe what failed, then check every room for missed messages. */
  async #resync(): Promise<void> {
    try {
      await this.#sweep();
      if (this.#state !== "closed") this.#state = "ready";
    } catch (err) {
      this.#swallow(err);
    }
  }

  /** Compare every subscribed room's position with Redis; position rooms that were never positioned. */
  async #sweep(): Promise<void> {
    const retry = [...this.#channels.values()].filter((c) => !c.ok);
    await Promise.allSettled(retry.map((c) => this.#ensureSubscribed(c)));
    const chans = [...this.#channels.values()].filter((c) => c.ok);
    for (let i = 0; i < chans.length; i += 500) {
      const batch = chans.slice(i, i + 500);
      const pos = await this.#positions(batch.map((c) => c.room));
      batch.forEach((ch, j) => {
        for (const s of ch.subs) {
          if (!s.order.positioned) {
            s.order.position(pos[j].seq, pos[j].epoch);
            s.release();
          }
          s.order.observe(pos[j].seq, pos[j].epoch, pos[j].base);
        }
      });
    }
  }

  #seeEpoch(epoch: number): void {
    if (!Number.isFinite(epoch)) return;
    if (epoch > this.#epoch) {
      if (this.#epoch !== 0) this.#counters.epochBumps++;
      this.#epoch = epoch;
    }
  }

  /**
   * EVAL (not EVALSHA): a NOSCRIPT retry after a Redis restart would reorder a node's concurrent publishes, and the
   * script text is small next to a payload. Redis caches the compiled script by its hash either way.
   */
  #eval(script: string, keys: string[], args: string[]): Promise<unknown> {
    return this.#cmd(["EVAL", script, String(keys.length), ...keys, ...args]);
  }

  async #cmd(args: string[]): Promise<unknown> {
    try {
      return await this.#withTimeout(sendCommand(this.#client, args), args[0]);
    } catch (err) {
      if (isEdgeplaneError(err)) throw err;
      const msg = String((err as Error)?.message ?? err);
      this.#counters.errors++;
      throw new EdgeplaneError("BACKPLANE_UNAVAILABLE", `redis ${args[0]} failed: ${msg}`);
    }
  }

  #withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const t = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.#counters.timeouts++;
        reject(new EdgeplaneError("BACKPLANE_UNAVAILABLE", `redis ${what} timed out after ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
    });
    p.catch(() => {}); // a late failure after the timeout is not an unhandled rejection
    return Promise.race([p, t]).finally(() => clearTimeout(timer));
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#inflight.add(p);
    const done = () => this.#inflight.delete(p);
    p.then(done, done);
    return p;
  }

  #assertOpen(): void {
    if (this.#state === "closed") throw new EdgeplaneError("CLOSED", "exchange is closed");
  }

  #swallow(err: unknown): void {
    try {
      this.#onError(err);
    } catch { /* never let a logger throw into the client */ }
  }
}
