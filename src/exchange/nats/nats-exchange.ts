/**
 * The NATS exchange: one global order per room over plain NATS core subjects, without JetStream (DESIGN §4).
 *
 * Every node heartbeats; the owner of a room is the best live, settled node by rendezvous hashing. The owner assigns
 * `seq` and a never-decreasing timestamp and publishes the sequenced message itself, so NATS's per-publisher order is
 * the room's order. Other nodes send publish requests to the owner (bounded by `sendTimeout`, retried on the next
 * ranked node, idempotent by envelope id). Subscribers drop duplicates, repair gaps from the owner's history and report
 * a `discontinuity` when history cannot cover a gap. Ownership changes start a new epoch `(term, owner)` continuing
 * above every seq any live node has seen, so a seq is never reused.
 *
 * @module
 */
import { EdgeplaneError } from "../../errors.ts";
import { DEFAULT_LIMITS, type Payload, type PayloadKind, validateId, validatePayload, validateRoom } from "../../envelope.ts";
import { randomId, utf8Encode } from "../../_utf8.ts";
import { DEFAULT_HISTORY, type HistoryLimits } from "../_history.ts";
import type {
  Exchange,
  ExchangeStatus,
  Gap,
  RelayResult,
  RoomPosition,
  SeqInfo,
  SequencedMessage,
  SubscribeOptions,
  Unsubscribe,
} from "../exchange.ts";
import {
  cmpEpoch,
  decodeChainRequest,
  decodeHistoryPage,
  decodeRequest,
  decodeRequestBatch,
  decodeRoomWires,
  type DecodedRequest,
  encodeHistoryPage,
  type Epoch,
  type HeadersFactory,
  isRequestBatch,
  jsonBytes,
  messageField,
  noticeHeaders,
  num,
  parseJson,
  relayRequestHeaders,
  requestField,
  seedRequestHeaders,
  WireHeaders,
} from "./_codec.ts";
import {
  checkPosition,
  checkRelayed,
  flushRelays,
  type PendingRelay,
  type RelayHost,
  relayInto,
  releaseRelays,
  seedInto,
} from "./_relay.ts";
import { type GatherEntry, Gatherer } from "./_gather.ts";
import { fastRandomId } from "./_ids.ts";
import { OwnerRequests, RoomEmitter, type SendHost } from "./_publisher.ts";
import { batchEntry, classify, errorBody, failureBody, type Outcome, parseReply, replyBody } from "./_replies.ts";
import { Membership } from "./_membership.ts";
import { OwnerLease } from "./_lease.ts";
import { IdCache, KnownPositions, OwnedRoom } from "./_sequencer.ts";
import { RoomSubscription, type SubscriberHost } from "./_subscriber.ts";
import { isKnownRoom, isToken, isValidPrefix, type RoomKey, roomKey, Subjects } from "./_subjects.ts";
import type { NatsConnectionLike, NatsMsgLike, NatsSubscriptionLike } from "./_types.ts";

export type { NatsConnectionLike, NatsHeadersLike, NatsMsgLike, NatsSubscriptionLike } from "./_types.ts";

/**
 * Options of {@link NatsExchange}.
 *
 * @example
 * ```ts
 * const opts: NatsExchangeOptions = { prefix: "chat", sendTimeout: 2000, history: { maxMessages: 500 } };
 * const ex = new NatsExchange(nc, opts);
 * ```
 */
export interface NatsExchangeOptions {
  /** This node's id: 1–64 of `[A-Za-z0-9_-]`, unique among live nodes. Default random. */
  nodeId?: string;
  /** Subject prefix, so several apps can share one NATS (default `"edgeplane"`). */
  prefix?: string;
  /** Upper bound for a publish (or history/position request) including retries, ms (default 2000). */
  sendTimeout?: number;
  /** Heartbeat interval, ms (default 1000). */
  heartbeatMs?: number;
  /** A node is dead after this many silent heartbeat intervals (default 3, at least 2). */
  missedBeats?: number;
  /** A joining node may own rooms only after this many heartbeat intervals (default 2). */
  settleBeats?: number;
  /** History held per owned room (default 1000 messages / 4 MiB). */
  history?: Partial<HistoryLimits>;
  /** Largest payload accepted; never above the server's `max_payload` minus room for headers. */
  maxPayloadBytes?: number;
  /** Envelope ids remembered for idempotent retries (default 100,000 across rooms). */
  idCacheSize?: number;
  /** How long a takeover waits for the other live nodes to report positions, ms (default min(500, sendTimeout/4)). */
  gatherTimeout?: number;
  /** Factory for outgoing headers. Default: a built-in NATS/1.0 encoder that nats v2 and v3 both accept. */
  headers?: HeadersFactory;
  /**
   * Chain extension: how long a relayed message that arrived out of order waits for the hole below it before the
   * owner publishes it anyway (subscribers then report the hole as a discontinuity), ms (default sendTimeout).
   */
  relayHoleMs?: number;
  /** Clock (ms), injectable for tests. */
  now?: () => number;
  /** @internal Fault injection for tests: drop an incoming sequenced message before the ordering logic sees it. */
  faults?: { dropIncoming?: (room: string, seq: number) => boolean };
}

/** Header room reserved below the server's `max_payload` for the envelope headers. */
const HEADER_ROOM = 2048;

type Position = { seq: number; term: number; owner: string; ts: number };
interface Waiter {
  resolve: () => void;
}
type WaitKind = "change" | "conn" | "lease";

const leaseError = () => new EdgeplaneError("BACKPLANE_UNAVAILABLE", "owner lease lapsed (this node was paused or cut off): re-validating");

const COUNTER_NAMES = [
  "published",
  "sequenced",
  "delivered",
  "duplicatesDropped",
  "gapsRepaired",
  "discontinuities",
  "epochChanges",
  "epochConflicts",
  "stepDowns",
  "requestTimeouts",
  "noResponders",
  "redirects",
  "retries",
  "rejected",
  "malformedDropped",
  "staleDropped",
  "subscriberErrors",
  "heartbeatsSent",
  "heartbeatsReceived",
  "membersDied",
  "historyServed",
  "gathers",
  "relayed",
  "relayDuplicates",
  "relayConflicts",
  "relayHolesSkipped",
  "seeded",
  "leaseLapses",
  "leaseWaits",
  "batchesSent",
  "batchedPublishes",
  "acksWithheld",
] as const;

/**
 * Exchange over NATS core. Pass a connection you made (nats v2 or `@nats-io/*` v3, or {@link connectNats}).
 * The exchange never closes that connection; `close()` drains and leaves the cluster.
 *
 * @example
 * ```ts
 * import { connectNats, NatsExchange } from "edgeplane";
 * const nc = await connectNats({ servers: "127.0.0.1:4222" });
 * const ex = new NatsExchange(nc, { prefix: "myapp" });
 * await ex.ready();
 * ex.subscribe("lobby", (m) => console.log(m.seq, m.payload));
 * const { seq } = await ex.publish("lobby", "hello");
 * ```
 */
export class NatsExchange implements Exchange {
  readonly nodeId: string;
  readonly #nc: NatsConnectionLike;
  readonly #subjects: Subjects;
  readonly #sendTimeout: number;
  readonly #hbMs: number;
  readonly #settleMs: number;
  readonly #gatherTimeout: number;
  readonly #limits: HistoryLimits;
  readonly #maxPayloadOpt: number | undefined;
  readonly #headers: HeadersFactory;
  readonly #now: () => number;
  readonly #faults: NatsExchangeOptions["faults"];
  readonly #relayHost: RelayHost;
  readonly #membership: Membership;
  readonly #lease: OwnerLease;
  /** Owner-side requests waiting for the lease to be re-validated (the sync fast path must not overtake them). */
  #leaseQueue = 0;
  readonly #owned = new Map<string, OwnedRoom>();
  readonly #known = new KnownPositions();
  readonly #ids: IdCache;
  readonly #hints = new Map<string, { node: string; version: number }>();
  readonly #subsByToken = new Map<string, Set<RoomSubscription>>();
  readonly #natsSubs: NatsSubscriptionLike[] = [];
  readonly #roomUnsubs = new Set<() => void>();
  readonly #inflight = new Set<Promise<unknown>>();
  readonly #counters = Object.fromEntries(COUNTER_NAMES.map((n) => [n, 0])) as Record<(typeof COUNTER_NAMES)[number], number>;
  readonly #requests: OwnerRequests;
  readonly #gatherer: Gatherer;
  /** Seqs assigned here whose ack waits for RoomEmitter.confirm(), and those whose confirmation timed out. */
  readonly #confirming = new WeakMap<SeqInfo, Promise<Outcome<SeqInfo>>>();
  readonly #unsure = new WeakSet<SeqInfo>();
  readonly #emitter: RoomEmitter;
  readonly #startedAt: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #connected = true;
  #closing = false;
  #closed = false;
  #closePromise: Promise<void> | undefined;
  #epoch = 0;
  #lastTick: number | undefined;
  #serverMaxCache: number | undefined;
  #readyWaiters: Waiter[] = [];
  readonly #waiters: Record<WaitKind, Waiter[]> = { change: [], conn: [], lease: [] };

  /** An exchange on `nc` (which it never closes); throws `BAD_OPTION` for an invalid option (`nodeId`, `prefix`, timings, `missedBeats` < 2). */
  constructor(nc: NatsConnectionLike, opts: NatsExchangeOptions = {}) {
    this.#nc = nc;
    this.nodeId = opts.nodeId === undefined ? `n${randomId().slice(0, 15)}` : validateId(opts.nodeId, "nodeId");
    const prefix = opts.prefix ?? "edgeplane";
    if (!isValidPrefix(prefix)) throw new EdgeplaneError("BAD_OPTION", "prefix must be dot-separated tokens of [A-Za-z0-9_-]");
    this.#subjects = new Subjects(prefix);
    this.#sendTimeout = positive(opts.sendTimeout, 2000, "sendTimeout");
    this.#hbMs = positive(opts.heartbeatMs, 1000, "heartbeatMs");
    const missed = positive(opts.missedBeats, 3, "missedBeats");
    if (missed < 2) throw new EdgeplaneError("BAD_OPTION", "missedBeats must be at least 2 (the owner lease ends half a heartbeat before that)");
    this.#settleMs = (opts.settleBeats ?? 2) * this.#hbMs;
    this.#gatherTimeout = positive(opts.gatherTimeout, Math.min(500, this.#sendTimeout / 4), "gatherTimeout");
    this.#limits = { ...DEFAULT_HISTORY, ...opts.history };
    this.#maxPayloadOpt = opts.maxPayloadBytes;
    this.#headers = opts.headers ?? (() => new WireHeaders());
    this.#now = opts.now ?? Date.now;
    this.#faults = opts.faults;
    this.#ids = new IdCache(opts.idCacheSize ?? 100_000);
    this.#relayHost = {
      emit: (r, p) => this.#emitRelayed(r, p),
      now: this.#now,
      holeMs: positive(opts.relayHoleMs, this.#sendTimeout, "relayHoleMs"),
      maxPending: Math.max(100, this.#limits.maxMessages),
      skipped: (n) => void (this.#counters.relayHolesSkipped += n),
    };
    const send: SendHost = {
      nc,
      subjects: this.#subjects,
      headers: this.#headers,
      nodeId: this.nodeId,
      counters: this.#counters,
      known: this.#known,
      maxBody: () => this.#serverMax() - HEADER_ROOM,
      leaseValid: () => this.#lease.valid(),
      leaseTerm: () => this.#lease.term,
      confirmTimeout: Math.max(100, this.#sendTimeout / 2),
    };
    this.#requests = new OwnerRequests(send);
    this.#emitter = new RoomEmitter(send);
    this.#startedAt = this.#now();
    const deadAfter = missed * this.#hbMs;
    this.#membership = new Membership(this.nodeId, deadAfter, this.#now, () => this.#onMembershipChange());
    // The lease ends half a heartbeat interval before the others may declare us dead.
    this.#lease = new OwnerLease(deadAfter - this.#hbMs / 2);
    this.#gatherer = new Gatherer({
      nc,
      subjects: this.#subjects,
      nodeId: this.nodeId,
      membership: this.#membership,
      counters: this.#counters,
      timeoutMs: this.#gatherTimeout,
      recentlyDeadMs: 10 * this.#hbMs,
      connected: () => this.#connected,
    });
    if (nc.isClosed()) throw new EdgeplaneError("BACKPLANE_UNAVAILABLE", "the NATS connection is closed");
    this.#listen();
    this.#watchStatus();
    this.#tick();
    this.#timer = setInterval(() => this.#tick(), this.#hbMs);
    (this.#timer as unknown as { unref?: () => void }).unref?.();
  }

  /** Largest payload accepted: the server's `max_payload` minus room for headers (and the configured cap). */
  get maxPayloadBytes(): number {
    return Math.max(0, Math.min(this.#maxPayloadOpt ?? Infinity, this.#serverMax() - HEADER_ROOM));
  }

  /**
   * The owner of `room` in this node's current view (undefined while no node is eligible).
   *
   * @example
   * ```ts
   * console.log(ex.ownerOf("lobby") === ex.nodeId ? "I sequence lobby" : "someone else does");
   * ```
   */
  ownerOf(room: string): string | undefined {
    validateRoom(room);
    return this.#ownerFor(roomKey(room));
  }

  /**
   * Live node ids in this node's view, this node first.
   *
   * @example
   * ```ts
   * console.log(ex.members().length, "nodes");
   * ```
   */
  members(): string[] {
    return [this.nodeId, ...this.#membership.others()];
  }

  // ───────────────────────────── public API ─────────────────────────────

  publish(room: string, payload: Payload, opts: { id?: string } = {}): Promise<SeqInfo> {
    let req: DecodedRequest, raw: Uint8Array, key: RoomKey;
    try {
      if (this.#closing) throw new EdgeplaneError("CLOSED", "exchange is closed");
      if (typeof room !== "string" || !isKnownRoom(room)) validateRoom(room);
      const kind = validatePayload(payload, { maxPayloadBytes: this.maxPayloadBytes });
      const id = opts.id === undefined ? fastRandomId() : validateId(opts.id);
      req = { id, origin: this.nodeId, room, kind, payload };
      raw = typeof payload === "string" ? utf8Encode(payload) : payload;
      key = roomKey(room);
    } catch (err) {
      this.#counters.rejected++;
      return Promise.reject(err);
    }
    // Fast path: this node is the active owner and nothing is queued ahead of us for the room.
    const fast = this.#activeOwned(key);
    if (fast) {
      let info: SeqInfo | undefined;
      try {
        info = this.#sequence(fast, req, raw);
      } catch { /* fall back to the routed path, which waits for the connection or rejects in time */ }
      if (info) {
        return Promise.resolve(this.#ack(key, req.id, info)).then((out) => {
          if ("ok" in out) {
            this.#counters.published++;
            return out.ok;
          }
          // Not confirmed: go the routed way (a lapsed lease forgot the id, so it is sequenced anew; after a slow
          // round trip the id is kept and the retry gets the same seq once confirmed).
          return this.#routedPublish(key, req, raw);
        });
      }
    }
    return this.#routedPublish(key, req, raw);
  }

  #routedPublish(key: RoomKey, req: DecodedRequest, raw: Uint8Array): Promise<SeqInfo> {
    const p = this.#routed<SeqInfo>(key, "publish", (target, timeout) =>
      target === this.nodeId ? this.#handlePublish(req, key, raw) : this.#remotePublish(target, key, req, raw, timeout)
    ).then(
      (info) => {
        this.#counters.published++;
        return info;
      },
      (err) => {
        this.#counters.rejected++;
        throw err;
      },
    );
    this.#inflight.add(p);
    const done = () => this.#inflight.delete(p);
    p.then(done, done);
    return p;
  }

  subscribe(room: string, onMessage: (msg: SequencedMessage) => void, opts: SubscribeOptions = {}): Unsubscribe {
    if (this.#closing) throw new EdgeplaneError("CLOSED", "exchange is closed");
    validateRoom(room);
    if (opts.fromSeq !== undefined && (!Number.isSafeInteger(opts.fromSeq) || opts.fromSeq < 1)) {
      throw new EdgeplaneError("BAD_OPTION", "fromSeq must be a positive integer");
    }
    const key = roomKey(room);
    const rs = new RoomSubscription(this.#subscriberHost, room, onMessage, opts);
    const faults = this.#faults;
    const encodedRoom = encodeURIComponent(room);
    const sub = this.#nc.subscribe(this.#subjects.room(key.token), {
      callback: (err: unknown, msg: NatsMsgLike) => {
        if (err || rs.closed) return;
        try {
          this.#counters.malformedDropped += decodeRoomWires(msg, room, encodedRoom, (wire) => {
            if (wire.type === "msg" && faults?.dropIncoming?.(room, wire.msg.seq)) return;
            rs.onWire(wire);
          });
        } catch {
          this.#counters.malformedDropped++;
        }
      },
    });
    let set = this.#subsByToken.get(key.token);
    if (!set) this.#subsByToken.set(key.token, set = new Set());
    set.add(rs);
    void rs.join();
    let done = false;
    const unsubscribe = () => {
      if (done) return;
      done = true;
      this.#roomUnsubs.delete(unsubscribe);
      rs.close();
      set!.delete(rs);
      if (set!.size === 0 && this.#subsByToken.get(key.token) === set) this.#subsByToken.delete(key.token);
      try {
        sub.unsubscribe();
      } catch { /* connection already closed */ }
    };
    this.#roomUnsubs.add(unsubscribe);
    return unsubscribe;
  }

  history(room: string, afterSeq: number): Promise<SequencedMessage[] | Gap> {
    try {
      if (this.#closing) throw new EdgeplaneError("CLOSED", "exchange is closed");
      validateRoom(room);
      if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) throw new EdgeplaneError("BAD_OPTION", "afterSeq must be a non-negative integer");
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#history(room, afterSeq);
  }

  /**
   * Chain extension (DESIGN §6): store and deliver a message sequenced by another exchange unchanged (room, seq, epoch,
   * timestamp, id, origin, payload). Routed to the room's owner like a publish; idempotent by (room, seq, id):
   * resolves "dup" when that message is held already (or its seq lies below what subscribers passed), "conflict"
   * when another id holds the seq. Out-of-order relays are published in seq order once the hole below them fills
   * (or after `relayHoleMs`). The counter rises to at least `msg.seq` and the term to at least `msg.epoch`, and the
   * next publish sequenced here continues at counter + 1 under a higher epoch.
   *
   * @example
   * ```ts
   * await ex.relay({ room: "lobby", seq: 7, timestamp: Date.now(), epoch: 1_764_000_000, id: "abc", origin: "n1", payload: "x" });
   * ```
   */
  relay(msg: SequencedMessage): Promise<RelayResult> {
    let m: SequencedMessage, kind: PayloadKind, raw: Uint8Array, key: RoomKey;
    try {
      if (this.#closing) throw new EdgeplaneError("CLOSED", "exchange is closed");
      ({ msg: m, kind, raw } = checkRelayed(msg, this.maxPayloadBytes));
      key = roomKey(m.room);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#track(this.#routed<RelayResult>(key, "relay", (target, timeout) =>
      target === this.nodeId ? this.#handleRelay(m, kind, raw, key) : this.#remoteChain(target, relayRequestHeaders(this.#headers, m, kind), raw, timeout)
    ));
  }

  /**
   * Chain extension: raise a room's counter to `position` (max-merge: never lowers it) without a message, so the next
   * publish continues at `position.seq + 1` under an epoch above `position.epoch` (the seeded term may be any
   * non-negative safe integer, e.g. a Redis epoch of about 1.8e9). Routed to the room's owner.
   *
   * @example
   * ```ts
   * await ex.seed("lobby", { seq: 120, epoch: 1_764_000_000, timestamp: Date.now() });
   * ```
   */
  seed(room: string, position: RoomPosition): Promise<void> {
    let key: RoomKey, pos: RoomPosition;
    try {
      if (this.#closing) throw new EdgeplaneError("CLOSED", "exchange is closed");
      validateRoom(room);
      pos = checkPosition(position);
      key = roomKey(room);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#track(this.#routed<RelayResult>(key, "seed", (target, timeout) =>
      target === this.nodeId
        ? this.#handleSeed(room, pos, key)
        : this.#remoteChain(target, seedRequestHeaders(this.#headers, room, pos.seq, pos.epoch, pos.timestamp), new Uint8Array(0), timeout)
    )).then(() => {});
  }

  ready(): Promise<void> {
    if (this.#closing) return Promise.reject(new EdgeplaneError("CLOSED", "exchange is closed"));
    if (this.#isReady()) return Promise.resolve();
    return new Promise((resolve) => this.#readyWaiters.push({ resolve }));
  }

  status(): ExchangeStatus {
    let active = 0;
    for (const r of this.#owned.values()) if (r.state === "active") active++;
    const state = this.#closed || this.#closing
      ? "closed"
      : !this.#connected
      ? "degraded"
      : this.#isReady()
      ? "ready"
      : "connecting";
    return {
      kind: "nats",
      state,
      nodeId: this.nodeId,
      epoch: this.#epoch,
      counters: { ...this.#counters, members: this.#membership.others().length + 1, ownedRooms: active },
    };
  }

  close(): Promise<void> {
    return this.#closePromise ??= this.#close();
  }

  // ───────────────────────────── lifecycle ─────────────────────────────

  #isReady(): boolean {
    return this.#connected && this.#membership.selfEligible && !this.#closing;
  }

  #listen(): void {
    const s = this.#subjects;
    const on = (subject: string, fn: (msg: NatsMsgLike) => void) => {
      this.#natsSubs.push(this.#nc.subscribe(subject, {
        callback: (err: unknown, msg: NatsMsgLike) => {
          if (err || this.#closed) return;
          try {
            fn(msg);
          } catch {
            this.#counters.malformedDropped++;
          }
        },
      }));
    };
    on(s.hb, (m) => this.#onHeartbeat(m));
    on(s.gather, (m) => this.#onGather(m));
    on(s.own(this.nodeId), (m) => this.#onPublishRequest(m));
    on(s.rel(this.nodeId), (m) => this.#onChainRequest(m));
    on(s.hist(this.nodeId), (m) => this.#onHistRequest(m));
  }

  #watchStatus(): void {
    const status = this.#nc.status?.bind(this.#nc);
    if (!status) return;
    void (async () => {
      try {
        for await (const s of status()) {
          if (this.#closed) break;
          const type = String(s.type);
          if (type === "disconnect") this.#setConnected(false);
          else if (type === "reconnect") this.#setConnected(true);
        }
      } catch { /* the connection closed */ }
      if (!this.#closed) this.#setConnected(false);
    })();
  }

  #setConnected(v: boolean): void {
    if (v === this.#connected) return;
    this.#connected = v;
    this.#membership.freeze(!v);
    if (v) {
      this.#wake("conn");
      this.#tick();
      for (const set of this.#subsByToken.values()) for (const rs of set) void rs.resync();
      this.#checkReady();
    }
  }

  #tick(): void {
    if (this.#closed) return;
    if (this.#nc.isClosed()) this.#setConnected(false);
    this.#serverMaxCache = undefined;
    const now = this.#now();
    const late = this.#lastTick !== undefined && now - this.#lastTick > 2 * this.#hbMs;
    this.#lastTick = now;
    if (late) {
      // Our own event loop stalled: the silence we measured is ours, and their beats are still queued on our socket.
      // Restart every member's clock instead of declaring live nodes dead (that would split ownership for nothing).
      this.#membership.freeze(true);
      this.#membership.freeze(!this.#connected);
    } else {
      for (const _dead of this.#membership.sweep()) this.#counters.membersDied++;
    }
    if (!this.#closing && this.#now() - this.#startedAt >= this.#settleMs) this.#membership.setSelfEligible(true);
    this.#leaseOk(); // a lapse steps our rooms down now, not at the next publish
    this.#sendHeartbeat(false);
    this.#checkReady();
  }

  #sendHeartbeat(bye: boolean): void {
    if (!this.#connected) return;
    const maxEntries = Math.max(10, Math.floor((this.#serverMax() - 1024) / 80));
    const a: Array<[string, number, number, number]> = [];
    for (const r of this.#owned.values()) {
      if (!r.dirty) continue;
      if (a.length >= maxEntries) break;
      r.dirty = false;
      a.push([r.key.token, r.seq, r.term, r.lastTs]);
    }
    const body: Record<string, unknown> = { n: this.nodeId, e: this.#membership.selfEligible ? 1 : 0, k: this.#lease.stamp() };
    if (a.length) body.a = a;
    if (bye) body.bye = 1;
    try {
      this.#nc.publish(this.#subjects.hb, jsonBytes(body));
      this.#counters.heartbeatsSent++;
    } catch { /* disconnected: the next beat tries again */ }
  }

  #checkReady(): void {
    if (!this.#isReady()) return;
    const w = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const x of w) x.resolve();
  }

  async #close(): Promise<void> {
    this.#closing = true;
    // 1. finish in-flight publishes (each is bounded by sendTimeout)
    await Promise.allSettled([...this.#inflight]);
    // 2. leave: not eligible any more → every owned room steps down (see #onMembershipChange) and is announced
    const wasActive = [...this.#owned.values()].filter((r) => r.state !== "inactive");
    this.#membership.setSelfEligible(false);
    this.#sendHeartbeat(false);
    // 3. hand off: ask each room's new owner to take over now, while we still answer its gather and history requests
    await Promise.allSettled(wasActive.map(async (r) => {
      const to = this.#membership.owner(r.key);
      if (!to || to === this.nodeId || !this.#connected) return;
      try {
        await this.#nc.request(this.#subjects.hist(to), jsonBytes({ op: "pos", room: r.room }), { timeout: this.#sendTimeout });
      } catch { /* it will take over lazily from the announced checkpoint */ }
    }));
    // 4. bye, then stop listening
    this.#sendHeartbeat(true);
    try {
      if (this.#connected) await this.#nc.flush();
    } catch { /* closed */ }
    this.#closed = true;
    for (const r of this.#owned.values()) {
      if (r.holeTimer !== undefined) clearTimeout(r.holeTimer);
      r.holeTimer = undefined;
    }
    for (const u of [...this.#roomUnsubs]) u();
    if (this.#timer !== undefined) clearInterval(this.#timer);
    for (const s of this.#natsSubs) {
      try {
        s.unsubscribe();
      } catch { /* closed */ }
    }
    this.#wake("change");
    this.#wake("conn");
    this.#wake("lease");
  }

  // ───────────────────────────── membership and ownership ─────────────────────────────

  #onHeartbeat(msg: NatsMsgLike): void {
    const b = parseJson(msg.data);
    const n = validateId(b.n, "node");
    const self = n === this.nodeId;
    if (!self) this.#counters.heartbeatsReceived++;
    const entries = b.a;
    if (entries !== undefined) {
      if (!Array.isArray(entries) || entries.length > 100_000) throw new EdgeplaneError("BAD_ENVELOPE", "bad announcements");
      for (const e of entries) {
        if (!Array.isArray(e) || !isToken(e[0])) {
          this.#counters.malformedDropped++;
          continue;
        }
        const seq = num(e[1], "seq"), term = num(e[2], "term"), ts = num(e[3], "ts");
        const epoch = { term, owner: n };
        if (self) {
          // Our own beat, echoed by the server after every message we published before it: our own subscribers
          // check for a lost tail just like remote ones.
          for (const rs of this.#subsByToken.get(e[0]) ?? []) rs.onAnnounce(seq, epoch);
          continue;
        }
        this.#known.record(e[0], seq, epoch, ts);
        const r = this.#owned.get(e[0]);
        if (r && r.state !== "inactive" && cmpEpoch(epoch, { term: r.term, owner: this.nodeId }) > 0 && r.state === "active") {
          // A higher owner exists for this room: step down rather than keep a second order.
          this.#stepDown(r);
        }
        const subs = this.#subsByToken.get(e[0]);
        if (subs) for (const rs of subs) rs.onAnnounce(seq, epoch);
      }
    }
    if (self) {
      // Everything the server sent us before this beat is processed now: the lease runs from when the beat left.
      if (this.#lease.echoed(b.k)) {
        // Valid again after a gap (or for the first time): whatever this node owned from before the gap steps down,
        // even if no check noticed the lapse while it lasted; those rooms are gathered again before they sequence.
        this.#stepDownAll();
        this.#wake("lease");
      }
      return;
    }
    if (b.bye === 1) {
      this.#membership.remove(n);
      return;
    }
    this.#membership.heard(n, b.e === 1);
  }

  #onMembershipChange(): void {
    for (const r of this.#owned.values()) {
      if (r.state !== "inactive" && this.#membership.owner(r.key) !== this.nodeId) this.#stepDown(r);
    }
    this.#wake("change");
  }

  #stepDown(r: OwnedRoom): void {
    // Relays waiting for a hole are published now, from this (still current) owner, so the successor's gather sees
    // them in our ring instead of losing them.
    releaseRelays(this.#relayHost, r);
    r.state = "inactive";
    r.gen++;
    r.dirty = true;
    this.#counters.stepDowns++;
    this.#known.record(r.key.token, r.seq, { term: r.term, owner: this.nodeId }, r.lastTs);
  }

  /**
   * Whether this node holds its owner lease (see _lease.ts). The first check after a lapse steps every owned room down:
   * a node that was frozen may have been declared dead and its rooms taken over, so it gathers again before it
   * sequences; and it sends a heartbeat at once, whose echo re-validates the lease.
   */
  #leaseOk(): boolean {
    if (this.#lease.valid()) return true;
    if (this.#lease.takeLapse()) {
      this.#counters.leaseLapses++;
      this.#stepDownAll();
      this.#sendHeartbeat(false);
    }
    return false;
  }

  #stepDownAll(): void {
    for (const r of this.#owned.values()) if (r.state !== "inactive") this.#stepDown(r);
  }

  /** The lease is valid and nobody waits for it: an owner-side request may go on without yielding. */
  #leaseReady(): boolean {
    return this.#leaseQueue === 0 && this.#leaseOk();
  }

  /**
   * Wait, bounded by `sendTimeout`, until the lease is valid. Waiters keep their arrival order, and a request that
   * arrives while others wait queues behind them, so a publisher's order survives the wait. False if it did not return.
   */
  async #awaitLease(): Promise<boolean> {
    this.#leaseQueue++;
    this.#counters.leaseWaits++;
    try {
      await null; // behind the waiters already woken
      const deadline = this.#now() + this.#sendTimeout;
      while (!this.#leaseOk()) {
        const remaining = deadline - this.#now();
        if (remaining <= 0 || this.#closed) return false;
        await this.#wait("lease", remaining);
      }
      return true;
    } finally {
      this.#leaseQueue--;
    }
  }

  /** The node that should sequence `key` as far as this node can tell. */
  #ownerFor(key: RoomKey, exclude?: ReadonlySet<string>): string | undefined {
    const r = this.#owned.get(key.token);
    if (r?.deferTo && r.deferUntil > this.#now() && this.#membership.isLive(r.deferTo) && !exclude?.has(r.deferTo)) {
      return r.deferTo;
    }
    return this.#membership.owner(key, exclude);
  }

  #ownedRoom(room: string, key: RoomKey): OwnedRoom {
    let r = this.#owned.get(key.token);
    if (!r) {
      r = new OwnedRoom(room, key, this.#limits);
      this.#owned.set(key.token, r);
    }
    return r;
  }

  /**
   * Become the active owner of `r`: gather every live node's view of the room (the previous owner steps down and
   * reports its final seq; an owner that still outranks us in its own view refuses), continue above the highest seq
   * anyone has seen with term + 1, seed history from the previous owner when it is alive, publish an epoch notice.
   */
  #activate(r: OwnedRoom): Promise<void> {
    if (r.state === "active") return Promise.resolve();
    if (r.activation) return r.activation;
    r.state = "activating";
    const gen = r.gen;
    const p = (async () => {
      const askAnyone = this.#membership.others().length > 0 || this.#membership.recentlyDead(10 * this.#hbMs).length > 0;
      const replies = askAnyone ? await this.#gatherer.gather(r.key.token) : [];
      if (r.gen !== gen || this.#closing || this.#membership.owner(r.key) !== this.nodeId) {
        if (r.gen === gen) r.state = "inactive";
        return;
      }
      const refusal = replies.find((x) => x.refuse);
      if (refusal) {
        r.state = "inactive";
        r.deferTo = refusal.node;
        r.deferUntil = this.#now() + this.#hbMs;
        return;
      }
      let base = r.seq, term = r.term, ts = r.lastTs;
      const k = this.#known.get(r.key.token);
      if (k) {
        base = Math.max(base, k.seq);
        term = Math.max(term, k.term);
        ts = Math.max(ts, k.ts);
      }
      // This node's own subscriptions count too (the gather asks only the others): what we delivered was assigned.
      const own = this.#subsByToken.get(r.key.token);
      for (const rs of own ?? []) {
        base = Math.max(base, rs.lastSeq);
        ts = Math.max(ts, rs.lastTs);
      }
      let holder: GatherEntry | undefined;
      for (const x of replies) {
        base = Math.max(base, x.seq);
        term = Math.max(term, x.term);
        ts = Math.max(ts, x.ts);
      }
      for (const x of replies) if (x.ringCurrent && x.seq === base && (!holder || x.term > holder.term)) holder = x;
      if (!(r.ringCurrent && r.seq === base)) {
        r.ring.clear();
        if (holder && base > 0) await this.#seedHistory(r, holder.node, base);
      }
      if (r.gen !== gen || this.#closing || this.#membership.owner(r.key) !== this.nodeId || !this.#leaseOk()) {
        if (r.gen === gen) r.state = "inactive";
        return;
      }
      // A publisher retrying an id we delivered as a subscriber gets its original seq back, not a second one.
      for (const rs of own ?? []) {
        rs.recent((id, info) => {
          if (!this.#ids.get(r.key.token, id)) this.#ids.set(r.key.token, id, info);
        });
      }
      r.seq = base;
      r.out = base;
      r.foreign = false;
      r.term = term + 1;
      r.lastTs = ts;
      r.state = "active";
      r.deferTo = undefined;
      r.dirty = true;
      this.#counters.epochChanges++;
      if (r.term > this.#epoch) this.#epoch = r.term;
      const epoch = { term: r.term, owner: this.nodeId };
      this.#known.record(r.key.token, base, epoch, ts);
      this.#emitter.flush(r);
      try {
        this.#nc.publish(this.#subjects.room(r.key.token), new Uint8Array(0), {
          headers: noticeHeaders(this.#headers, r.room, epoch, base, ts),
        });
      } catch { /* subscribers learn the epoch from the next message */ }
    })().finally(() => {
      if (r.activation === p) r.activation = undefined;
      if (r.state === "activating" && r.gen === gen) r.state = "inactive";
    });
    r.activation = p;
    return p;
  }

  async #seedHistory(r: OwnedRoom, from: string, base: number): Promise<void> {
    const after = Math.max(0, base - this.#limits.maxMessages);
    try {
      const res = await this.#fetchHistoryFrom(from, r.room, after, Math.min(this.#sendTimeout, 1000));
      if (!("ok" in res)) return;
      const list = res.ok;
      if (Array.isArray(list) && list.length && list[list.length - 1].seq === base) {
        for (const m of list) r.ring.push(m);
        for (const m of list) this.#ids.set(r.key.token, m.id, { seq: m.seq, timestamp: m.timestamp, epoch: m.epoch });
      }
    } catch { /* start with an empty ring: older history requests get a Gap */ }
  }

  // ───────────────────────────── gather (takeover/handoff) ─────────────────────────────

  #onGather(msg: NatsMsgLike): void {
    const b = parseJson(msg.data);
    const from = validateId(b.n, "node");
    if (from === this.nodeId || !msg.reply) return;
    if (!Array.isArray(b.t) || b.t.length > 5000) throw new EdgeplaneError("BAD_ENVELOPE", "bad gather");
    this.#leaseOk(); // an owner whose lease lapsed has stepped down: it reports, it does not refuse
    const p: Record<string, [number, number, string, number, number]> = {};
    for (const t of b.t) {
      if (!isToken(t)) continue;
      const r = this.#owned.get(t);
      let flags = 0;
      if (r && r.state !== "inactive") {
        if (this.#ownerFor(r.key) === this.nodeId && r.state === "active") flags |= 1;
        else this.#stepDown(r);
      }
      const k = this.#known.get(t);
      let seq = k?.seq ?? 0, term = k?.term ?? 0, owner = k?.owner ?? this.nodeId, ts = k?.ts ?? 0;
      if (r) {
        if (r.seq >= seq) seq = r.seq;
        if (r.term > term || (r.term === term && this.nodeId > owner)) {
          term = r.term;
          owner = this.nodeId;
        }
        ts = Math.max(ts, r.lastTs);
        if (r.ringCurrent && r.seq === seq) flags |= 2;
      }
      for (const rs of this.#subsByToken.get(t) ?? []) {
        seq = Math.max(seq, rs.lastSeq);
        ts = Math.max(ts, rs.lastTs);
      }
      if (seq === 0 && term === 0 && !r) continue;
      p[t] = [seq, term, owner, ts, flags];
    }
    this.#nc.publish(msg.reply, jsonBytes({ n: this.nodeId, e: this.#membership.selfEligible ? 1 : 0, p }));
  }

  // ───────────────────────────── publish path ─────────────────────────────

  /**
   * Route a request to the room's owner: the owner in this view (or a redirect hint), retrying on redirects, timeouts
   * and no-responders with the next ranked node, until `sendTimeout`. The first attempt is sent synchronously, so
   * publishes from one node reach the owner in call order.
   */
  async #routed<T>(
    key: RoomKey,
    what: string,
    attempt: (target: string, timeout: number) => Promise<Outcome<T>>,
  ): Promise<T> {
    const deadline = this.#now() + this.#sendTimeout;
    const suspects = new Set<string>();
    let lastErr: EdgeplaneError | undefined;
    for (let i = 0;; i++) {
      if (this.#closed) throw new EdgeplaneError("CLOSED", "exchange is closed");
      const remaining = deadline - this.#now();
      if (remaining <= 0) {
        throw lastErr ?? new EdgeplaneError("BACKPLANE_UNAVAILABLE", `${what}: no owner reachable within ${this.#sendTimeout} ms`);
      }
      if (i > 0) this.#counters.retries++;
      if (!this.#connected) {
        lastErr = new EdgeplaneError("BACKPLANE_UNAVAILABLE", `${what}: disconnected from NATS`);
        await this.#wait("conn", remaining);
        continue;
      }
      const hint = this.#hints.get(key.token);
      let target: string | undefined;
      if (hint && hint.version === this.#membership.version && this.#membership.isLive(hint.node) && !suspects.has(hint.node)) {
        target = hint.node;
      } else target = this.#ownerFor(key, suspects);
      if (!target) {
        lastErr ??= new EdgeplaneError("BACKPLANE_UNAVAILABLE", `${what}: no eligible owner`);
        if (suspects.size) suspects.clear();
        await this.#wait("change", Math.min(remaining, this.#hbMs / 2));
        continue;
      }
      let out: Outcome<T>;
      try {
        out = await attempt(target, Math.min(remaining, Math.max(100, this.#sendTimeout / 2)));
      } catch (err) {
        if (err instanceof EdgeplaneError) throw err;
        out = { retry: new EdgeplaneError("BACKPLANE_UNAVAILABLE", `${what}: ${String(err)}`) };
      }
      if ("ok" in out) return out.ok;
      if ("fail" in out) throw out.fail;
      if ("redirect" in out) {
        this.#counters.redirects++;
        const to = out.redirect;
        if (to && to !== target && this.#membership.isLive(to)) {
          this.#hints.set(key.token, { node: to, version: this.#membership.version });
          if (this.#hints.size > 50_000) this.#hints.delete(this.#hints.keys().next().value as string);
        } else {
          this.#hints.delete(key.token);
          lastErr = new EdgeplaneError("BACKPLANE_UNAVAILABLE", `${what}: owners disagree (membership settling)`);
          await this.#wait("change", Math.min(remaining, 20 * Math.min(i + 1, 10)));
        }
        if (i > 2) await this.#wait("change", Math.min(remaining, 10 * Math.min(i, 20)));
        continue;
      }
      lastErr = out.retry;
      if (out.suspect) {
        suspects.add(target);
        if (this.#hints.get(key.token)?.node === target) this.#hints.delete(key.token);
      } else await this.#wait("change", Math.min(remaining, 50));
    }
  }

  #remotePublish(target: string, key: RoomKey, req: DecodedRequest, raw: Uint8Array, timeout: number): Promise<Outcome<SeqInfo>> {
    return this.#requests.publish(target, key.token, requestField(req), raw, timeout);
  }

  /** The room's state when this node is its active owner, connected, with no publish queued behind an activation. */
  #activeOwned(key: RoomKey): OwnedRoom | undefined {
    const r = this.#owned.get(key.token);
    if (!r || r.state !== "active" || r.waiting > 0 || !this.#connected || this.#closed) return undefined;
    if (!this.#leaseReady()) return undefined;
    return this.#ownerFor(key) === this.nodeId ? r : undefined;
  }

  /** Owner side of a publish (local or from a request). */
  async #handlePublish(req: DecodedRequest, key: RoomKey, raw: Uint8Array): Promise<Outcome<SeqInfo>> {
    if (this.#closed) return { retry: new EdgeplaneError("CLOSED", "owner is closing"), suspect: true };
    const known = this.#ids.get(key.token, req.id);
    if (known) return this.#ack(key, req.id, known);
    const owner = this.#ownerFor(key);
    if (owner !== this.nodeId) return { redirect: owner ?? null };
    const r = this.#ownedRoom(req.room, key);
    if (!this.#leaseReady() && !await this.#awaitLease()) return { retry: leaseError() };
    if (r.state !== "active" || r.waiting > 0) {
      // Queue behind the activation (FIFO: promise reactions run in registration order).
      r.waiting++;
      try {
        await (r.activation ?? this.#activate(r));
      } finally {
        r.waiting--;
      }
      if ((r.state as OwnedRoom["state"]) !== "active") return { redirect: this.#ownerFor(key) ?? null };
    }
    if (!this.#connected) return { retry: new EdgeplaneError("BACKPLANE_UNAVAILABLE", "owner is disconnected from NATS") };
    if (!this.#leaseOk()) return { retry: leaseError() };
    if (r.state !== "active") return { redirect: this.#ownerFor(key) ?? null };
    return this.#ack(key, req.id, this.#sequence(r, req, raw));
  }

  #sequence(r: OwnedRoom, req: DecodedRequest, raw: Uint8Array): SeqInfo {
    const known = this.#ids.get(r.key.token, req.id);
    if (known) return known;
    if (r.pending.size > 0) flushRelays(this.#relayHost, r);
    if (r.foreign) {
      // The counter came from another sequencer (relay/seed): continue above it under a new term, once.
      r.foreign = false;
      r.term++;
      if (r.term > this.#epoch) this.#epoch = r.term;
      this.#counters.epochChanges++;
    }
    const seq = ++r.seq;
    r.out = seq;
    const now = this.#now();
    const timestamp = now > r.lastTs ? now : r.lastTs;
    r.lastTs = timestamp;
    const msg: SequencedMessage = { room: r.room, seq, timestamp, epoch: r.term, id: req.id, origin: req.origin, payload: req.payload };
    r.ring.push(msg);
    const info = { seq, timestamp, epoch: r.term };
    this.#ids.set(r.key.token, req.id, info);
    this.#confirming.set(info, this.#confirm(r.key, req.id, info));
    r.dirty = true;
    this.#counters.sequenced++;
    this.#emitter.emit(r, messageField(msg, this.nodeId, req.kind, r.encodedRoom), raw);
    return info;
  }

  /**
   * The ack of a seq this node assigned: given only once its message is out while the lease held (see
   * RoomEmitter.confirm). Every path that answers with `info` (the first answer, a retry of the same id) waits for the
   * same confirmation. If the lease had lapsed, the id is forgotten so that a retry is sequenced anew, rather than
   * answered with a seq a successor may have given to another message.
   */
  #ack(key: RoomKey, id: string, info: SeqInfo): Outcome<SeqInfo> | Promise<Outcome<SeqInfo>> {
    const pending = this.#confirming.get(info);
    if (pending) return pending;
    if (!this.#unsure.has(info)) return { ok: info };
    const p = this.#confirm(key, id, info);
    this.#confirming.set(info, p);
    return p;
  }

  async #confirm(key: RoomKey, id: string, info: SeqInfo): Promise<Outcome<SeqInfo>> {
    const res = await this.#emitter.confirm();
    this.#confirming.delete(info);
    if (res === "ok") {
      this.#unsure.delete(info);
      return { ok: info };
    }
    this.#counters.acksWithheld++;
    if (res === "unconfirmed") {
      // Only the round trip failed (server slow or gone) while the lease held: the seq stays ours; a retry asks again.
      this.#unsure.add(info);
      return { retry: new EdgeplaneError("BACKPLANE_UNAVAILABLE", "owner could not confirm the publish with the server in time") };
    }
    this.#unsure.delete(info);
    if (this.#ids.get(key.token, id) === info) this.#ids.delete(key.token, id);
    return { retry: leaseError() };
  }

  #onPublishRequest(msg: NatsMsgLike): void {
    if (isRequestBatch(msg)) {
      this.#onPublishBatch(msg);
      return;
    }
    const reply = msg.reply;
    let req: DecodedRequest;
    try {
      req = decodeRequest(msg);
    } catch (err) {
      this.#counters.malformedDropped++;
      if (reply) this.#reply(reply, errorBody(err));
      return;
    }
    if (!reply) {
      this.#counters.malformedDropped++;
      return;
    }
    const out = this.#ownerPublish(req, msg.data);
    if (out instanceof Promise) void out.then((o) => this.#reply(reply, replyBody(o)));
    else this.#reply(reply, replyBody(out));
  }

  /** Several publishes in one request: each handled as if it came alone, in order; one reply with every outcome. */
  #onPublishBatch(msg: NatsMsgLike): void {
    const reply = msg.reply;
    let entries;
    try {
      entries = decodeRequestBatch(msg);
      if (!reply) throw new EdgeplaneError("BAD_ENVELOPE", "no reply subject");
    } catch (err) {
      this.#counters.malformedDropped++;
      if (reply) this.#reply(reply, errorBody(err));
      return;
    }
    const outs: unknown[] = new Array(entries.length);
    let pending: Promise<void>[] | undefined;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (e instanceof EdgeplaneError) {
        this.#counters.malformedDropped++;
        outs[i] = errorBody(e);
        continue;
      }
      const out = this.#ownerPublish(e.req, e.raw);
      if (out instanceof Promise) (pending ??= []).push(out.then((o) => void (outs[i] = batchEntry(o))));
      else outs[i] = batchEntry(out);
    }
    if (!pending) this.#reply(reply, { r: outs });
    else void Promise.all(pending).then(() => this.#reply(reply, { r: outs }));
  }

  /** Owner side of a publish request: sequenced at once on the fast path, else queued (activation, lease). */
  #ownerPublish(req: DecodedRequest, raw: Uint8Array): Outcome<SeqInfo> | Promise<Outcome<SeqInfo>> {
    if (raw.byteLength > this.maxPayloadBytes) return { fail: new EdgeplaneError("PAYLOAD_TOO_LARGE", "payload too large") };
    const key = roomKey(req.room);
    const fast = this.#activeOwned(key);
    if (fast) {
      let info: SeqInfo | undefined;
      try {
        info = this.#sequence(fast, req, raw);
      } catch { /* fall back to the queued path */ }
      if (info) return this.#ack(key, req.id, info);
    }
    return this.#handlePublish(req, key, raw).catch(() => ({ retry: new EdgeplaneError("BACKPLANE_UNAVAILABLE", "owner failed") }));
  }

  // ───────────────────────────── chain extension (relay / seed) ─────────────────────────────

  #track<T>(p: Promise<T>): Promise<T> {
    this.#inflight.add(p);
    const done = () => this.#inflight.delete(p);
    p.then(done, done);
    return p;
  }

  /** Owner side of a relay (local or from a request). */
  async #handleRelay(m: SequencedMessage, kind: PayloadKind, raw: Uint8Array, key: RoomKey): Promise<Outcome<RelayResult>> {
    const out = await this.#ownerRoom(m.room, key);
    if (!("ok" in out)) return out;
    if (!this.#connected) return { retry: new EdgeplaneError("BACKPLANE_UNAVAILABLE", "owner is disconnected from NATS") };
    const known = this.#ids.get(key.token, m.id);
    const res = known && known.seq === m.seq ? "dup" : relayInto(this.#relayHost, out.ok, { msg: m, raw, kind, at: this.#now() });
    if (res === "ok" && m.epoch > this.#epoch) this.#epoch = m.epoch;
    this.#counters[res === "ok" ? "relayed" : res === "dup" ? "relayDuplicates" : "relayConflicts"]++;
    return { ok: res };
  }

  /** Owner side of a seed. */
  async #handleSeed(room: string, pos: RoomPosition, key: RoomKey): Promise<Outcome<RelayResult>> {
    const out = await this.#ownerRoom(room, key);
    if (!("ok" in out)) return out;
    if (seedInto(this.#relayHost, out.ok, pos)) {
      this.#counters.seeded++;
      if (pos.epoch > this.#epoch) this.#epoch = pos.epoch;
    }
    return { ok: "ok" };
  }

  /** Publish a relayed message on the room subject unchanged (kind T/B: subscribers order it by seq only). */
  #emitRelayed(r: OwnedRoom, p: PendingRelay): void {
    const m = p.msg;
    r.ring.push(m);
    r.out = m.seq;
    this.#ids.set(r.key.token, m.id, { seq: m.seq, timestamp: m.timestamp, epoch: m.epoch });
    this.#emitter.emit(r, messageField(m, this.nodeId, p.kind, r.encodedRoom, true), p.raw);
  }

  async #remoteChain(target: string, headers: unknown, raw: Uint8Array, timeout: number): Promise<Outcome<RelayResult>> {
    let resp: NatsMsgLike;
    try {
      resp = await this.#nc.request(this.#subjects.rel(target), raw, { timeout, headers });
    } catch (err) {
      return classify(err, this.#counters, target, "relay");
    }
    return parseReply(resp, this.#counters, (b) => {
      if (b.r !== "ok" && b.r !== "dup" && b.r !== "conflict") throw new EdgeplaneError("BAD_ENVELOPE", "bad relay reply");
      return b.r;
    });
  }

  #onChainRequest(msg: NatsMsgLike): void {
    const reply = msg.reply;
    let req;
    try {
      req = decodeChainRequest(msg);
      if (!reply) throw new EdgeplaneError("BAD_ENVELOPE", "no reply subject");
      if (msg.data.byteLength > this.maxPayloadBytes) throw new EdgeplaneError("PAYLOAD_TOO_LARGE", "payload too large");
    } catch (err) {
      this.#counters.malformedDropped++;
      if (reply) this.#reply(reply, errorBody(err));
      return;
    }
    const key = roomKey(req.type === "relay" ? req.msg.room : req.room);
    const work = req.type === "relay"
      ? this.#handleRelay(req.msg, req.kind, msg.data, key)
      : this.#handleSeed(req.room, { seq: req.seq, epoch: req.epoch, timestamp: req.timestamp }, key);
    void work.then(
      (out) => this.#reply(reply, "ok" in out ? { r: out.ok } : failureBody(out)),
      () => this.#reply(reply, { err: "BACKPLANE_UNAVAILABLE", msg: "owner failed" }),
    );
  }

  #reply(subject: string, body: unknown, headers?: unknown): void {
    try {
      this.#nc.publish(subject, body instanceof Uint8Array ? body : jsonBytes(body), headers ? { headers } : undefined);
    } catch { /* requester times out and retries */ }
  }

  // ───────────────────────────── history and position ─────────────────────────────

  #history(room: string, afterSeq: number): Promise<SequencedMessage[] | Gap> {
    const key = roomKey(room);
    return this.#routed<SequencedMessage[] | Gap>(key, "history", async (target, timeout) => {
      if (target === this.nodeId) {
        const out = await this.#ownerRoom(room, key);
        if (!("ok" in out)) return out;
        const r = out.ok;
        this.#counters.historyServed++;
        return { ok: r.ring.after(room, afterSeq, r.out, r.term) };
      }
      return this.#fetchHistoryFrom(target, room, afterSeq, timeout);
    });
  }

  async #fetchHistoryFrom(target: string, room: string, afterSeq: number, timeout: number): Promise<Outcome<SequencedMessage[] | Gap>> {
    const all: SequencedMessage[] = [];
    let after = afterSeq;
    for (let page = 0; page < 10_000; page++) {
      let resp: NatsMsgLike;
      try {
        resp = await this.#nc.request(this.#subjects.hist(target), jsonBytes({ op: "hist", room, after }), { timeout });
      } catch (err) {
        return classify(err, this.#counters, target, "history");
      }
      if (resp.headers?.get("r") === "page") {
        let msgs: SequencedMessage[];
        try {
          msgs = decodeHistoryPage(resp.data, room);
        } catch {
          this.#counters.malformedDropped++;
          return { retry: new EdgeplaneError("BAD_ENVELOPE", "malformed history page"), suspect: true };
        }
        all.push(...msgs);
        if (resp.headers.get("more") !== "1" || msgs.length === 0) return { ok: all };
        after = msgs[msgs.length - 1].seq;
        continue;
      }
      const out = parseReply<Gap>(resp, this.#counters, (b) => {
        const g = b.gap as Record<string, unknown>;
        if (!g || typeof g !== "object") throw new EdgeplaneError("BAD_ENVELOPE", "bad history reply");
        return { gap: true, room, afterSeq, oldestSeq: num(g.oldestSeq, "oldestSeq"), lastSeq: num(g.lastSeq, "lastSeq"), epoch: num(g.epoch, "epoch") };
      });
      if ("ok" in out && all.length) return { ok: all }; // a later page turned into a gap: return what we have
      return out;
    }
    return { ok: all };
  }

  #position(room: string): Promise<Position> {
    const key = roomKey(room);
    return this.#routed<Position>(key, "position", async (target, timeout) => {
      if (target === this.nodeId) {
        const out = await this.#ownerRoom(room, key);
        if (!("ok" in out)) return out;
        return { ok: { seq: out.ok.out, term: out.ok.term, owner: this.nodeId, ts: out.ok.lastTs } };
      }
      let resp: NatsMsgLike;
      try {
        resp = await this.#nc.request(this.#subjects.hist(target), jsonBytes({ op: "pos", room }), { timeout });
      } catch (err) {
        return classify(err, this.#counters, target, "position");
      }
      return parseReply(resp, this.#counters, (b) => ({ seq: num(b.s, "seq"), term: num(b.e, "term"), owner: validateId(b.o, "owner"), ts: num(b.t, "ts") }));
    });
  }

  /** This node's active room state for `room`, activating it if this node is the owner. */
  async #ownerRoom(room: string, key: RoomKey): Promise<Outcome<OwnedRoom>> {
    if (this.#closed) return { retry: new EdgeplaneError("CLOSED", "owner is closing"), suspect: true };
    const owner = this.#ownerFor(key);
    if (owner !== this.nodeId) return { redirect: owner ?? null };
    const r = this.#ownedRoom(room, key);
    if (!this.#leaseReady() && !await this.#awaitLease()) return { retry: leaseError() };
    if (r.state !== "active") {
      await this.#activate(r);
      if ((r.state as OwnedRoom["state"]) !== "active") return { redirect: this.#ownerFor(key) ?? null };
    }
    if (!this.#leaseOk()) return { retry: leaseError() };
    return { ok: r };
  }

  #onHistRequest(msg: NatsMsgLike): void {
    const reply = msg.reply;
    let b: Record<string, unknown>, room: string, op: string, after = 0;
    try {
      b = parseJson(msg.data, 64 * 1024);
      op = String(b.op);
      room = validateRoom(b.room);
      if (op === "hist") after = num(b.after, "after");
      else if (op !== "pos") throw new EdgeplaneError("BAD_ENVELOPE", "unknown op");
      if (!reply) throw new EdgeplaneError("BAD_ENVELOPE", "no reply subject");
    } catch (err) {
      this.#counters.malformedDropped++;
      if (reply) this.#reply(reply, errorBody(err));
      return;
    }
    const key = roomKey(room);
    // A node that just stepped down still serves history for its ring (the successor seeds from it).
    const held = this.#owned.get(key.token);
    const serveHeld = op === "hist" && held && held.state === "inactive" && held.ringCurrent && this.#ownerFor(key) !== this.nodeId;
    const work = serveHeld ? Promise.resolve({ ok: held! } as Outcome<OwnedRoom>) : this.#ownerRoom(room, key);
    void work.then((out) => {
      if (!("ok" in out)) {
        this.#reply(reply, failureBody(out));
        return;
      }
      const r = out.ok;
      if (op === "pos") {
        this.#reply(reply, { s: r.out, e: r.term, o: this.nodeId, t: r.lastTs });
        return;
      }
      this.#counters.historyServed++;
      const res = r.ring.after(room, after, r.out, r.term);
      if (!Array.isArray(res)) {
        this.#reply(reply, { gap: { oldestSeq: res.oldestSeq, lastSeq: res.lastSeq, epoch: res.epoch } });
        return;
      }
      const { bytes, next } = encodeHistoryPage(res, 0, this.#serverMax() - 1024);
      const h = this.#headers();
      h.set("r", "page");
      h.set("more", next < res.length ? "1" : "0");
      this.#reply(reply, bytes, h);
    }, () => this.#reply(reply, { err: "BACKPLANE_UNAVAILABLE", msg: "owner failed" }));
  }

  // ───────────────────────────── helpers ─────────────────────────────

  /** The server's max_payload, re-read on every heartbeat tick and reconnect (nats.js computes `info` on access). */
  #serverMax(): number {
    return this.#serverMaxCache ??= this.#nc.info?.max_payload ?? DEFAULT_LIMITS.maxPayloadBytes;
  }

  #wait(kind: WaitKind, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const w: Waiter = { resolve: () => {} };
      const t = setTimeout(() => w.resolve(), Math.max(0, ms));
      w.resolve = () => {
        clearTimeout(t);
        resolve();
      };
      this.#waiters[kind].push(w);
    });
  }

  #wake(kind: WaitKind): void {
    const list = this.#waiters[kind];
    this.#waiters[kind] = [];
    for (const w of list) w.resolve();
  }

  readonly #subscriberHost: SubscriberHost = {
    counters: this.#counters,
    flush: () => this.#nc.flush(),
    position: (room) => this.#position(room),
    history: (room, after) => this.#history(room, after),
    record: (room, seq, epoch: Epoch, ts) => {
      this.#known.record(roomKey(room).token, seq, epoch, ts);
      if (epoch.term > this.#epoch) this.#epoch = epoch.term;
    },
    delay: (ms) => new Promise((r) => setTimeout(r, ms)),
  };
}

function positive(v: number | undefined, dflt: number, name: string): number {

  if (v === undefined) return dflt;
  if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) throw new EdgeplaneError("BAD_OPTION", `${name} must be a positive number`);
  return v;
}

/**
 * Create a {@link NatsExchange} over a connection you made.
 *
 * @example
 * ```ts
 * import { connect } from "nats";
 * const ex = createNatsExchange(await connect({ servers: "127.0.0.1:4222" }), { prefix: "chat" });
 * await ex.ready();
 * ```
 */
export function createNatsExchange(nc: NatsConnectionLike, opts: NatsExchangeOptions = {}): NatsExchange {
  return new NatsExchange(nc, opts);
}

