/**
 * The room authority of the Durable Object exchange: one Durable Object per room (`idFromName(room)`) assigns each
 * message its `seq` and a never-decreasing timestamp, keeps the room's history in Durable Object storage (so seqs and
 * history survive eviction and restarts), answers history requests, and fans every message out to the hub objects
 * subscribed to the room, one ordered delivery stream per subscriber.
 *
 * State lives in storage as `meta` (room, seq, timestamp, epoch), `i:<seq>` (id, size, timestamp: small, loaded at
 * start for idempotency and eviction), `m:<seq>` (the message) and `s:<hub>/<node>` (subscribers). Everything a
 * request changes is decided synchronously before the first `await`, so concurrent requests never interleave, and the
 * runtime's output gate holds every answer and delivery until the writes behind it are durable.
 *
 * @module
 */
import { EdgeplaneError } from "../../src/errors.ts";
import { validateId, validateRoom } from "../../src/envelope.ts";
import { DEFAULT_HISTORY, type HistoryLimits } from "../../src/exchange/_history.ts";
import type { DurableObjectNamespaceLike, DurableObjectStateLike } from "./_types.ts";
import { call, type DeliveryTarget, HUB_HEADER, PATHS, reply, replyError, type WireMessage, type WirePublish } from "./_wire.ts";

/**
 * Options of {@link roomObject}.
 *
 * @example
 * ```ts
 * const opts: RoomObjectOptions = { hubBinding: "EDGEPLANE_HUB", history: { maxMessages: 5000 } };
 * ```
 */
export interface RoomObjectOptions {
  /** Binding of the hub objects' namespace, where deliveries go (default `"EDGEPLANE_HUB"`). */
  hubBinding?: string;
  /** History kept per room in storage (default 1000 messages / 4 MiB of payload). */
  history?: Partial<HistoryLimits>;
  /** How long a subscriber may stay unreachable before the room forgets it, ms (default 60000). */
  dropAfterMs?: number;
}

/**
 * What {@link roomObject} returns: a Durable Object class (export it under the name your wrangler config binds).
 *
 * @example
 * ```ts
 * const EdgeplaneRoom: RoomObjectClass = roomObject();
 * ```
 */
export type RoomObjectClass = new (state: DurableObjectStateLike, env: Record<string, unknown>) => { fetch(request: Request): Promise<Response> };

interface Meta {
  room?: string;
  seq: number;
  ts: number;
  epoch: number;
}

interface IndexEntry {
  id: string;
  /** Payload bytes. */
  n: number;
  ts: number;
}

interface StoredSub extends DeliveryTarget {
  gen: number;
}

const MAX_BATCH = 256;
const key = (prefix: string, seq: number) => `${prefix}${String(seq).padStart(16, "0")}`;
const subKey = (t: DeliveryTarget) => `s:${t.hub}/${t.node}`;

/**
 * Build the room authority Durable Object class.
 *
 * @example
 * ```ts
 * import { roomObject } from "edgeplane/adapters/cloudflare";
 * export const EdgeplaneRoom = roomObject({ history: { maxMessages: 2000 } });
 * ```
 */
export function roomObject(opts: RoomObjectOptions = {}): RoomObjectClass {
  const limits: HistoryLimits = { ...DEFAULT_HISTORY, ...opts.history };
  const hubBinding = opts.hubBinding ?? "EDGEPLANE_HUB";
  const dropAfterMs = opts.dropAfterMs ?? 60_000;

  return class EdgeplaneRoomObject {
    readonly #state: DurableObjectStateLike;
    readonly #hubs: DurableObjectNamespaceLike | undefined;
    #meta: Meta = { seq: 0, ts: 0, epoch: 1 };
    /** Held history, oldest first: seq = oldestSeq + index. */
    #index: IndexEntry[] = [];
    #oldest = 1;
    #bytes = 0;
    readonly #ids = new Map<string, number>();
    readonly #subs = new Map<string, StoredSub>();
    readonly #outboxes = new Map<string, Outbox>();

    constructor(state: DurableObjectStateLike, env: Record<string, unknown>) {
      this.#state = state;
      this.#hubs = env[hubBinding] as DurableObjectNamespaceLike | undefined;
      void state.blockConcurrencyWhile(() => this.#load());
    }

    async #load(): Promise<void> {
      const s = this.#state.storage;
      this.#meta = (await s.get<Meta>("meta")) ?? { seq: 0, ts: 0, epoch: 1 };
      const idx = await s.list<IndexEntry>({ prefix: "i:" });
      this.#oldest = this.#meta.seq + 1;
      let first = true;
      for (const [k, e] of idx) {
        const seq = Number(k.slice(2));
        if (first) this.#oldest = seq;
        first = false;
        this.#index.push(e);
        this.#ids.set(e.id, seq);
        this.#bytes += e.n;
      }
      for (const sub of (await s.list<StoredSub>({ prefix: "s:" })).values()) this.#subs.set(subKey(sub), sub);
    }

    async fetch(request: Request): Promise<Response> {
      let body: Record<string, unknown>;
      try {
        body = await request.json() as Record<string, unknown>;
        const room = validateRoom(body.room);
        if (this.#meta.room === undefined) this.#meta.room = room;
        else if (this.#meta.room !== room) throw new EdgeplaneError("BAD_ROOM", "request for another room reached this room object");
      } catch (err) {
        return replyError(err instanceof EdgeplaneError ? err : new EdgeplaneError("BAD_FRAME", "malformed internal request"));
      }
      try {
        switch (new URL(request.url).pathname) {
          case PATHS.publish:
            return reply({ acks: this.#publish(body.items as WirePublish[]), epoch: this.#meta.epoch });
          case PATHS.subscribe:
            return reply(this.#subscribe(body.target as DeliveryTarget, Number(body.gen)));
          case PATHS.unsubscribe:
            this.#unsubscribe(body.target as DeliveryTarget, Number(body.gen));
            return reply({ ok: true });
          case PATHS.history:
            return reply(await this.#history(Number(body.after)));
          default:
            return replyError(new EdgeplaneError("BAD_FRAME", "unknown room route"), 404);
        }
      } catch (err) {
        return replyError(err);
      }
    }

    /** Sequence a batch (synchronously), store it, queue its fanout. Known ids answer with their first seq. */
    #publish(items: WirePublish[]): Array<{ seq: number; ts: number }> {
      if (!Array.isArray(items)) throw new EdgeplaneError("BAD_FRAME", "items must be an array");
      const room = this.#meta.room!;
      const entries: Record<string, unknown> = {};
      const fresh: WireMessage[] = [];
      const acks = items.map((it) => {
        validateId(it.id);
        const known = this.#ids.get(it.id);
        if (known !== undefined && known >= this.#oldest) return { seq: known, ts: this.#index[known - this.#oldest].ts };
        const seq = ++this.#meta.seq;
        const ts = this.#meta.ts = Math.max(this.#meta.ts, Date.now());
        const n = typeof it.p === "string" ? it.p.length : Math.floor(((it.b?.length ?? 0) * 3) / 4);
        const m: WireMessage = { room, seq, ts, epoch: this.#meta.epoch, id: it.id, origin: it.origin, ...(typeof it.p === "string" ? { p: it.p } : { b: it.b ?? "" }) };
        const e: IndexEntry = { id: it.id, n, ts };
        entries[key("m:", seq)] = m;
        entries[key("i:", seq)] = e;
        this.#index.push(e);
        this.#ids.set(it.id, seq);
        this.#bytes += n;
        fresh.push(m);
        return { seq, ts };
      });
      if (fresh.length === 0) return acks;
      entries.meta = this.#meta;
      const evicted: string[] = [];
      while (this.#index.length > 1 && (this.#index.length > limits.maxMessages || this.#bytes > limits.maxBytes)) {
        const e = this.#index.shift()!;
        this.#bytes -= e.n;
        if (this.#ids.get(e.id) === this.#oldest) this.#ids.delete(e.id);
        evicted.push(key("m:", this.#oldest), key("i:", this.#oldest));
        delete entries[key("m:", this.#oldest)];
        delete entries[key("i:", this.#oldest)];
        this.#oldest++;
      }
      const storage = this.#state.storage;
      const keys = Object.keys(entries);
      for (let i = 0; i < keys.length; i += 128) {
        const chunk: Record<string, unknown> = {};
        for (const k of keys.slice(i, i + 128)) chunk[k] = entries[k];
        void storage.put(chunk);
      }
      for (let i = 0; i < evicted.length; i += 128) void storage.delete(evicted.slice(i, i + 128));
      for (const sub of this.#subs.values()) this.#outbox(sub).push(fresh);
      return acks;
    }

    #subscribe(t: DeliveryTarget, gen: number): { seq: number; epoch: number } {
      checkTarget(t);
      const k = subKey(t);
      const had = this.#subs.get(k);
      if (!had || had.gen <= gen) {
        const sub: StoredSub = { hub: t.hub, node: t.node, gen };
        this.#subs.set(k, sub);
        void this.#state.storage.put(k, sub);
        this.#outboxes.get(k)?.reset(); // a resubscribed node starts over at the current position
      }
      return { seq: this.#meta.seq, epoch: this.#meta.epoch };
    }

    #unsubscribe(t: DeliveryTarget, gen: number): void {
      checkTarget(t);
      const k = subKey(t);
      const had = this.#subs.get(k);
      if (had && had.gen <= gen) this.#forget(k);
    }

    #forget(k: string): void {
      this.#subs.delete(k);
      this.#outboxes.get(k)?.reset();
      this.#outboxes.delete(k);
      void this.#state.storage.delete([k]);
    }

    async #history(after: number): Promise<unknown> {
      if (!Number.isSafeInteger(after) || after < 0) throw new EdgeplaneError("BAD_OPTION", "afterSeq must be a non-negative integer");
      const { seq, epoch } = this.#meta;
      const oldest = this.#index.length > 0 ? this.#oldest : seq + 1;
      if (after > seq || after + 1 < oldest) return { gap: { afterSeq: after, oldestSeq: oldest, lastSeq: seq, epoch } };
      if (after === seq) return { msgs: [] };
      const held = await this.#state.storage.list<WireMessage>({ start: key("m:", after + 1), end: key("m:", seq + 1) });
      const msgs = [...held.values()].filter((m) => m.seq >= this.#oldest && m.seq <= seq);
      // Eviction may have run while storage was read: anything below the (new) oldest is gone.
      if (msgs.length === 0 || msgs[0].seq !== after + 1) return { gap: { afterSeq: after, oldestSeq: this.#oldest, lastSeq: this.#meta.seq, epoch } };
      return { msgs };
    }

    #outbox(sub: StoredSub): Outbox {
      const k = subKey(sub);
      let o = this.#outboxes.get(k);
      if (!o) {
        if (!this.#hubs) throw new EdgeplaneError("BAD_OPTION", `room object has no ${hubBinding} binding to deliver to`);
        const stub = this.#hubs.get(this.#hubs.idFromName(sub.hub));
        o = new Outbox(this.#meta.room!, sub, (body) =>
          call<{ ok?: boolean; gone?: boolean }>(stub, PATHS.deliver, body, { timeoutMs: 10_000, headers: { [HUB_HEADER]: sub.hub } }),
          () => {
            if (this.#subs.get(k) === sub) this.#forget(k);
          }, dropAfterMs);
        this.#outboxes.set(k, o);
      }
      return o;
    }
  };
}

function checkTarget(t: DeliveryTarget): void {
  if (!t || typeof t.hub !== "string" || typeof t.node !== "string" || t.hub.length === 0 || t.hub.length > 128 || t.node.length > 128) {
    throw new EdgeplaneError("BAD_FRAME", "bad delivery target");
  }
}

/** One subscriber's ordered delivery stream: one request in flight, what queued meanwhile goes in the next. */
class Outbox {
  #queue: WireMessage[] = [];
  #inflight = false;
  #epoch = 0;
  #failingSince: number | undefined;

  constructor(
    readonly room: string,
    readonly target: DeliveryTarget,
    readonly send: (body: unknown) => Promise<{ ok?: boolean; gone?: boolean }>,
    readonly gone: () => void,
    readonly dropAfterMs: number,
  ) {}

  push(msgs: WireMessage[]): void {
    for (const m of msgs) this.#queue.push(m);
    this.#pump();
  }

  /** Forget what is queued (the subscriber starts over, or left). */
  reset(): void {
    this.#queue = [];
    this.#epoch++;
  }

  #pump(): void {
    if (this.#inflight || this.#queue.length === 0) return;
    this.#inflight = true;
    const epoch = this.#epoch;
    const batch = this.#queue.slice(0, MAX_BATCH);
    this.send({ room: this.room, node: this.target.node, msgs: batch }).then((r) => {
      this.#inflight = false;
      this.#failingSince = undefined;
      if (r.gone) return this.gone();
      if (epoch === this.#epoch) this.#queue.splice(0, batch.length);
      this.#pump();
    }, () => {
      // Unreachable for now: retry the same batch (the subscriber drops what it already has) until dropAfterMs.
      const now = Date.now();
      this.#failingSince ??= now;
      if (now - this.#failingSince > this.dropAfterMs) {
        this.#inflight = false;
        return this.gone();
      }
      setTimeout(() => {
        this.#inflight = false;
        this.#pump();
      }, 100);
    });
  }
}
