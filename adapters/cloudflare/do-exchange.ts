/**
 * The Durable Object exchange, for deployments that live on Cloudflare only: each room's authority is a room object
 * ({@link roomObject}, one per room by `idFromName`), which assigns seq + timestamp and keeps history in its storage;
 * this exchange, inside a hub object, sends publishes to it (batched per room, one request in flight, so one hub's
 * publishes keep their order), subscribes the hub to the rooms its clients joined, and takes the room's ordered
 * deliveries (repairing any hole from the room's history).
 *
 * @module
 */
import { EdgeplaneError } from "../../src/errors.ts";
import { type Payload, validateId, validatePayload, validateRoom } from "../../src/envelope.ts";
import type { Exchange, ExchangeEvent, ExchangeState, ExchangeStatus, Gap, SeqInfo, SequencedMessage, SubscribeOptions, Unsubscribe } from "../../src/exchange/exchange.ts";
import { randomId } from "../../src/_utf8.ts";
import type { DurableObjectNamespaceLike } from "./_types.ts";
import { call, type DeliveryTarget, fromWire, PATHS, payloadFields, reply, type WireMessage } from "./_wire.ts";

/**
 * Options of {@link DurableObjectExchange}.
 *
 * @example
 * ```ts
 * const opts: DurableObjectExchangeOptions = { rooms: env.EDGEPLANE_ROOM, hub: "hub-0" };
 * ```
 */
export interface DurableObjectExchangeOptions {
  /** The room objects' namespace binding (`env.EDGEPLANE_ROOM`). */
  rooms: DurableObjectNamespaceLike;
  /** Name of the hub object this exchange lives in (deliveries are addressed to it). */
  hub: string;
  /** This exchange's id inside its hub object (default: the hub name); also the envelope origin. */
  nodeId?: string;
  /** Largest payload, bytes (default 64 KiB; a stored message must fit a Durable Object storage value). */
  maxPayloadBytes?: number;
  /** Upper bound of one request to a room object, ms (default 5000). */
  sendTimeout?: number;
}

interface LocalSub {
  onMessage: (m: SequencedMessage) => void;
  onEvent?: (e: ExchangeEvent) => void;
  fromSeq?: number;
  /** Last seq handed to this subscriber; undefined until it is positioned. */
  pos?: number;
}

interface PendingPub {
  id: string;
  payload: Payload;
  resolve: (info: SeqInfo) => void;
  reject: (err: unknown) => void;
}

/** One subscribed room: position, reorder buffer, local subscribers. */
interface Feed {
  room: string;
  gen: number;
  /** Last seq delivered in order; undefined until the room object answered the subscribe. */
  pos?: number;
  epoch: number;
  early: Map<number, SequencedMessage>;
  subs: Set<LocalSub>;
  repairing: boolean;
}

const MAX_PUBLISH_BATCH = 128;

/**
 * Exchange over room Durable Objects. Create one per hub object; route the room objects' deliveries to
 * {@link DurableObjectExchange.receive} (the hub object of this adapter does).
 *
 * @example
 * ```ts
 * import { DurableObjectExchange } from "edgeplane/adapters/cloudflare";
 * // inside a Durable Object: `env.EDGEPLANE_ROOM` is the room objects' namespace
 * const ex = new DurableObjectExchange({ rooms: env.EDGEPLANE_ROOM, hub: "hub-0" });
 * ex.subscribe("lobby", (m) => console.log(m.seq, m.payload));
 * const { seq } = await ex.publish("lobby", "hello");
 * ```
 */
export class DurableObjectExchange implements Exchange {
  readonly nodeId: string;
  readonly maxPayloadBytes: number;
  readonly #rooms: DurableObjectNamespaceLike;
  readonly #hub: string;
  readonly #timeout: number;
  readonly #feeds = new Map<string, Feed>();
  readonly #outgoing = new Map<string, { queue: PendingPub[]; inflight: boolean }>();
  #gen = Date.now() * 1000;
  #state: ExchangeState = "ready";
  readonly #counters = { published: 0, delivered: 0, duplicatesDropped: 0, gapsRepaired: 0, discontinuities: 0, subscriberErrors: 0 };

  /** Throws `BAD_OPTION` without a room namespace or hub name. */
  constructor(opts: DurableObjectExchangeOptions) {
    if (!opts?.rooms || typeof opts.rooms.idFromName !== "function") throw new EdgeplaneError("BAD_OPTION", "rooms must be a Durable Object namespace binding");
    if (typeof opts.hub !== "string" || opts.hub.length === 0) throw new EdgeplaneError("BAD_OPTION", "hub must be the hub object's name");
    this.#rooms = opts.rooms;
    this.#hub = opts.hub;
    this.nodeId = validateId(opts.nodeId ?? opts.hub.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64), "nodeId");
    this.maxPayloadBytes = opts.maxPayloadBytes ?? 64 * 1024;
    this.#timeout = opts.sendTimeout ?? 5000;
  }

  publish(room: string, payload: Payload, opts: { id?: string } = {}): Promise<SeqInfo> {
    try {
      this.#assertOpen();
      validateRoom(room);
      validatePayload(payload, { maxPayloadBytes: this.maxPayloadBytes });
      const id = opts.id === undefined ? randomId() : validateId(opts.id);
      return new Promise((resolve, reject) => {
        let out = this.#outgoing.get(room);
        if (!out) this.#outgoing.set(room, out = { queue: [], inflight: false });
        out.queue.push({ id, payload, resolve, reject });
        this.#sendPublishes(room);
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  subscribe(room: string, onMessage: (m: SequencedMessage) => void, opts: SubscribeOptions = {}): Unsubscribe {
    this.#assertOpen();
    validateRoom(room);
    const sub: LocalSub = { onMessage, onEvent: opts.onEvent, fromSeq: opts.fromSeq };
    let feed = this.#feeds.get(room);
    if (!feed) {
      feed = { room, gen: ++this.#gen, epoch: 0, early: new Map(), subs: new Set(), repairing: false };
      this.#feeds.set(room, feed);
      this.#join(feed);
    }
    feed.subs.add(sub);
    if (feed.pos !== undefined) void this.#position(feed, sub);
    const f = feed;
    return () => {
      if (!f.subs.delete(sub) || f.subs.size > 0 || this.#feeds.get(room) !== f) return;
      this.#feeds.delete(room);
      void this.#call(room, PATHS.unsubscribe, { target: this.#target(), gen: f.gen }).catch(() => {});
    };
  }

  async history(room: string, afterSeq: number): Promise<SequencedMessage[] | Gap> {
    this.#assertOpen();
    validateRoom(room);
    if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) throw new EdgeplaneError("BAD_OPTION", "afterSeq must be a non-negative integer");
    const r = await this.#call<{ msgs?: WireMessage[]; gap?: Omit<Gap, "gap" | "room"> }>(room, PATHS.history, { after: afterSeq });
    if (r.gap) return { gap: true, room, ...r.gap };
    return (r.msgs ?? []).map(fromWire);
  }

  ready(): Promise<void> {
    return this.#state === "closed" ? Promise.reject(new EdgeplaneError("CLOSED", "exchange is closed")) : Promise.resolve();
  }

  status(): ExchangeStatus {
    let epoch = 0;
    for (const f of this.#feeds.values()) epoch = Math.max(epoch, f.epoch);
    return { kind: "durable-object", state: this.#state, nodeId: this.nodeId, epoch, counters: { ...this.#counters } };
  }

  async close(): Promise<void> {
    if (this.#state === "closed") return;
    this.#state = "closed";
    const feeds = [...this.#feeds.values()];
    this.#feeds.clear();
    await Promise.all(feeds.map((f) => this.#call(f.room, PATHS.unsubscribe, { target: this.#target(), gen: f.gen }).catch(() => {})));
  }

  /**
   * Take a room object's delivery (the hub object routes `POST /__edgeplane/hub/deliver` here). Answers
   * `{gone: true}` for a room this exchange is not subscribed to, so the room object stops delivering.
   */
  async receive(request: Request): Promise<Response> {
    let body: { room?: unknown; msgs?: WireMessage[] };
    try {
      body = await request.json();
    } catch {
      return reply({ error: { code: "BAD_FRAME", message: "malformed delivery" } }, 400);
    }
    return reply(this.deliver(String(body.room), body.msgs ?? []));
  }

  /** @internal Hand a delivery batch to the room's feed. */
  deliver(room: string, msgs: WireMessage[]): { ok: true } | { gone: true } {
    const feed = this.#feeds.get(room);
    if (!feed || this.#state === "closed") return { gone: true };
    for (const w of msgs) this.#accept(feed, fromWire(w));
    return { ok: true };
  }

  // ---- internals ----

  #assertOpen(): void {
    if (this.#state === "closed") throw new EdgeplaneError("CLOSED", "exchange is closed");
  }

  #target(): DeliveryTarget {
    return { hub: this.#hub, node: this.nodeId };
  }

  #call<T>(room: string, path: string, body: Record<string, unknown>): Promise<T> {
    const stub = this.#rooms.get(this.#rooms.idFromName(room));
    return call<T>(stub, path, { room, ...body }, { timeoutMs: this.#timeout });
  }

  #sendPublishes(room: string): void {
    const out = this.#outgoing.get(room);
    if (!out || out.inflight) return;
    if (out.queue.length === 0) {
      this.#outgoing.delete(room);
      return;
    }
    out.inflight = true;
    const batch = out.queue.splice(0, MAX_PUBLISH_BATCH);
    const items = batch.map((p) => ({ id: p.id, origin: this.nodeId, ...payloadFields(p.payload) }));
    this.#call<{ acks: Array<{ seq: number; ts: number }>; epoch: number }>(room, PATHS.publish, { items }).then((r) => {
      this.#counters.published += batch.length;
      batch.forEach((p, i) => p.resolve({ seq: r.acks[i].seq, timestamp: r.acks[i].ts, epoch: r.epoch }));
    }, (err) => {
      for (const p of batch) p.reject(err);
    }).finally(() => {
      out.inflight = false;
      this.#sendPublishes(room);
    });
  }

  /** Register this node with the room object; retried until it answers or the feed is gone. */
  #join(feed: Feed, attempt = 0): void {
    this.#call<{ seq: number; epoch: number }>(feed.room, PATHS.subscribe, { target: this.#target(), gen: feed.gen }).then((r) => {
      if (this.#feeds.get(feed.room) !== feed) return;
      feed.pos = r.seq;
      feed.epoch = r.epoch;
      for (const s of feed.subs) void this.#position(feed, s);
      this.#drainEarly(feed);
    }, () => {
      if (this.#feeds.get(feed.room) === feed && this.#state !== "closed") setTimeout(() => this.#join(feed, attempt + 1), Math.min(2000, 50 * 2 ** attempt));
    });
  }

  /** Position a local subscriber: at the feed's position, or replaying history from its `fromSeq` first. */
  async #position(feed: Feed, sub: LocalSub): Promise<void> {
    if (sub.pos !== undefined) return;
    const at = feed.pos!;
    if (sub.fromSeq === undefined || sub.fromSeq > at) {
      sub.pos = at;
      this.#event(sub, { type: "position", room: feed.room, seq: at, epoch: feed.epoch });
      return;
    }
    const after = Math.max(0, sub.fromSeq - 1);
    sub.pos = -1; // positioning: live messages wait in the feed until the replay is in
    let held: SequencedMessage[] | Gap;
    try {
      held = await this.history(feed.room, after);
    } catch {
      held = { gap: true, room: feed.room, afterSeq: after, oldestSeq: at + 1, lastSeq: at, epoch: feed.epoch };
    }
    let start = after;
    if (!Array.isArray(held)) {
      start = held.oldestSeq - 1;
      this.#counters.discontinuities++;
      this.#event(sub, { type: "discontinuity", room: feed.room, afterSeq: after, nextSeq: held.oldestSeq, epoch: feed.epoch, reason: "history evicted" });
    }
    sub.pos = start;
    this.#event(sub, { type: "position", room: feed.room, seq: start, epoch: feed.epoch });
    // Replay, then catch up with what the room delivered meanwhile (live messages are handed on once contiguous).
    let page: SequencedMessage[] | Gap = Array.isArray(held) ? held : [];
    for (let first = true;; first = false) {
      const before: number = sub.pos;
      if (Array.isArray(page)) for (const m of page) if (m.seq === sub.pos + 1 && m.seq <= feed.pos!) this.#hand(sub, m);
      if (sub.pos >= feed.pos! || (sub.pos === before && !first)) return;
      page = await this.history(feed.room, sub.pos).catch(() => [] as SequencedMessage[]);
    }
  }

  #accept(feed: Feed, m: SequencedMessage): void {
    if (feed.pos === undefined || m.seq > feed.pos + 1) {
      if (!feed.early.has(m.seq)) feed.early.set(m.seq, m);
      if (feed.pos !== undefined) this.#repair(feed);
      return;
    }
    if (m.seq <= feed.pos) {
      this.#counters.duplicatesDropped++;
      return;
    }
    this.#advance(feed, m);
    this.#drainEarly(feed);
  }

  #advance(feed: Feed, m: SequencedMessage): void {
    feed.pos = m.seq;
    if (m.epoch > feed.epoch) feed.epoch = m.epoch;
    this.#counters.delivered++;
    for (const s of feed.subs) if (s.pos !== undefined && s.pos >= 0 && m.seq === s.pos + 1) this.#hand(s, m);
  }

  #drainEarly(feed: Feed): void {
    for (const seq of [...feed.early.keys()]) if (seq <= feed.pos!) feed.early.delete(seq);
    let next: SequencedMessage | undefined;
    while ((next = feed.early.get(feed.pos! + 1))) {
      feed.early.delete(next.seq);
      this.#advance(feed, next);
    }
    if (feed.early.size > 0) this.#repair(feed);
  }

  /** A hole below buffered messages: fill it from the room's history (or report a discontinuity). */
  #repair(feed: Feed): void {
    if (feed.repairing) return;
    feed.repairing = true;
    const after = feed.pos!;
    this.history(feed.room, after).then((held) => {
      if (this.#feeds.get(feed.room) !== feed) return;
      if (Array.isArray(held)) {
        this.#counters.gapsRepaired++;
        for (const m of held) if (m.seq === feed.pos! + 1) this.#advance(feed, m);
      } else if (held.oldestSeq - 1 > feed.pos!) {
        this.#counters.discontinuities++;
        const e: ExchangeEvent = { type: "discontinuity", room: feed.room, afterSeq: feed.pos!, nextSeq: held.oldestSeq, epoch: held.epoch, reason: "history evicted" };
        feed.pos = held.oldestSeq - 1;
        for (const s of feed.subs) {
          if (s.pos !== undefined && s.pos >= 0) s.pos = feed.pos;
          this.#event(s, e);
        }
      }
    }, () => {}).finally(() => {
      feed.repairing = false;
      if (this.#feeds.get(feed.room) === feed) this.#drainEarly(feed);
    });
  }

  #hand(s: LocalSub, m: SequencedMessage): void {
    s.pos = m.seq;
    try {
      s.onMessage(m);
    } catch {
      this.#counters.subscriberErrors++;
    }
  }

  #event(s: LocalSub, e: ExchangeEvent): void {
    try {
      s.onEvent?.(e);
    } catch {
      this.#counters.subscriberErrors++;
    }
  }
}
