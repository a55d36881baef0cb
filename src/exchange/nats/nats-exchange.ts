/**
 * The NATS exchange: one global order per room over plain NATS core subjects, without JetStream (docs/design.md §4).
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
import { type Payload, type PayloadKind, validateId, validatePayload, validateRoom } from "../../envelope.ts";
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
import { type DecodedRequest, type HeadersFactory, jsonBytes, relayRequestHeaders, seedRequestHeaders, WireHeaders } from "./_codec.ts";
import { checkPosition, checkRelayed } from "./_relay.ts";
import { Core, HEADER_ROOM } from "./_core.ts";
import { fastRandomId } from "./_ids.ts";
import type { SendHost } from "./_publisher.ts";
import { Membership } from "./_membership.ts";
import { OwnerLease } from "./_lease.ts";
import { OwnerRole } from "./_owner.ts";
import { Router } from "./_router.ts";
import { HistoryService } from "./_history-service.ts";
import { Liveness } from "./_liveness.ts";
import { BackplaneSeal } from "./_seal.ts";
import { Subscriptions } from "./_subscriptions.ts";
import { isKnownRoom, isValidPrefix, type RoomKey, roomKey, Subjects } from "./_subjects.ts";
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
  /**
   * Publishes of this node in flight at once (default 1024). More wait, in call order, for a slot (backpressure: the
   * publish promise stays pending; `sendTimeout` starts once it has a slot).
   */
  maxInflight?: number;
  /** Publishes of this node in flight to one remote owner at once (default 512). */
  maxInflightPerOwner?: number;
  /** Clock (ms), injectable for tests. */
  now?: () => number;
  /** @internal Fault injection for tests: drop an incoming sequenced message before the ordering logic sees it. */
  faults?: { dropIncoming?: (room: string, seq: number) => boolean };
}


/**
 * Exchange over NATS core. Pass a connection you made (nats v2 or `@nats-io/*` v3, or {@link connectNats}).
 * The exchange never closes that connection; `close()` drains and leaves the cluster.
 *
 * The work is split by role: the owner role (`_owner.ts`, `_takeover.ts`, `_chain-owner.ts`) sequences and acks the
 * rooms this node owns, the router (`_router.ts`) takes this node's requests to their owners, the history service
 * (`_history-service.ts`) answers and asks for history and positions, liveness (`_liveness.ts`) runs heartbeats, the
 * lease and the connection state, and `_subscriptions.ts` this node's room subscriptions. This class validates
 * input and wires them together.
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
  readonly #core: Core;
  readonly #subs: Subscriptions;
  readonly #natsSubs: NatsSubscriptionLike[] = [];
  #closePromise: Promise<void> | undefined;

  /** An exchange on `nc` (which it never closes); throws `BAD_OPTION` for an invalid option (`nodeId`, `prefix`, timings, `missedBeats` < 2). */
  constructor(nc: NatsConnectionLike, opts: NatsExchangeOptions = {}) {
    this.nodeId = opts.nodeId === undefined ? `n${randomId().slice(0, 15)}` : validateId(opts.nodeId, "nodeId");
    const prefix = opts.prefix ?? "edgeplane";
    if (!isValidPrefix(prefix)) throw new EdgeplaneError("BAD_OPTION", "prefix must be dot-separated tokens of [A-Za-z0-9_-]");
    const sendTimeout = positive(opts.sendTimeout, 2000, "sendTimeout");
    const hbMs = positive(opts.heartbeatMs, 1000, "heartbeatMs");
    const missed = positive(opts.missedBeats, 3, "missedBeats");
    if (missed < 2) throw new EdgeplaneError("BAD_OPTION", "missedBeats must be at least 2 (the owner lease ends half a heartbeat before that)");
    const c = this.#core = new Core(nc, {
      nodeId: this.nodeId,
      subjects: new Subjects(prefix),
      sendTimeout,
      hbMs,
      settleMs: (opts.settleBeats ?? 2) * hbMs,
      gatherTimeout: positive(opts.gatherTimeout, Math.min(500, sendTimeout / 4), "gatherTimeout"),
      limits: { ...DEFAULT_HISTORY, ...opts.history } as HistoryLimits,
      maxPayloadOpt: opts.maxPayloadBytes,
      headers: opts.headers ?? (() => new WireHeaders()),
      now: opts.now ?? Date.now,
      idCacheSize: opts.idCacheSize ?? 100_000,
      faults: opts.faults,
    });
    const relayHoleMs = positive(opts.relayHoleMs, sendTimeout, "relayHoleMs");
    const send: SendHost = {
      nc,
      subjects: c.subjects,
      headers: c.headers,
      nodeId: this.nodeId,
      counters: c.counters,
      known: c.known,
      maxBody: () => c.serverMax() - HEADER_ROOM,
      leaseValid: () => c.lease.valid(),
      leaseTerm: () => c.lease.term,
      confirmTimeout: Math.max(100, sendTimeout / 2),
    };
    const deadAfter = missed * hbMs;
    c.membership = new Membership(this.nodeId, deadAfter, c.now, () => c.owner.onMembershipChange());
    // The lease ends half a heartbeat interval before the others may declare us dead.
    c.lease = new OwnerLease(deadAfter - hbMs / 2);
    c.owner = new OwnerRole(c, send, relayHoleMs);
    c.router = new Router(c, send, {
      maxInflight: positive(opts.maxInflight, 1024, "maxInflight"),
      maxPerOwner: positive(opts.maxInflightPerOwner, 512, "maxInflightPerOwner"),
    });
    c.history = new HistoryService(c);
    c.liveness = new Liveness(c);
    c.seal = new BackplaneSeal(c);
    this.#subs = new Subscriptions(c);
    if (nc.isClosed()) throw new EdgeplaneError("BACKPLANE_UNAVAILABLE", "the NATS connection is closed");
    this.#listen();
    c.liveness.start();
  }

  /** Largest payload accepted: the server's `max_payload` minus room for headers (and the configured cap). */
  get maxPayloadBytes(): number {
    return this.#core.maxPayloadBytes;
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
    return this.#core.owner.ownerFor(roomKey(room));
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
    return [this.nodeId, ...this.#core.membership.others()];
  }

  // ───────────────────────────── public API ─────────────────────────────

  publish(room: string, payload: Payload, opts: { id?: string } = {}): Promise<SeqInfo> {
    const c = this.#core;
    let req: DecodedRequest, raw: Uint8Array, key: RoomKey;
    try {
      if (c.closing) throw new EdgeplaneError("CLOSED", "exchange is closed");
      if (typeof room !== "string" || !isKnownRoom(room)) validateRoom(room);
      const kind = validatePayload(payload, { maxPayloadBytes: c.maxPayloadBytes });
      const id = opts.id === undefined ? fastRandomId() : validateId(opts.id);
      req = { id, origin: this.nodeId, room, kind, payload };
      raw = typeof payload === "string" ? utf8Encode(payload) : payload;
      key = roomKey(room);
    } catch (err) {
      c.counters.rejected++;
      return Promise.reject(err);
    }
    // Admission (backpressure), then this node's fast path when it is the room's active owner with nothing of ours
    // queued for the room, else the room's ordered queue to its owner (see _publish-queue.ts).
    return c.router.publish(key, req, raw);
  }

  subscribe(room: string, onMessage: (msg: SequencedMessage) => void, opts: SubscribeOptions = {}): Unsubscribe {
    if (this.#core.closing) throw new EdgeplaneError("CLOSED", "exchange is closed");
    validateRoom(room);
    if (opts.fromSeq !== undefined && (!Number.isSafeInteger(opts.fromSeq) || opts.fromSeq < 1)) {
      throw new EdgeplaneError("BAD_OPTION", "fromSeq must be a positive integer");
    }
    return this.#subs.subscribe(room, onMessage, opts);
  }

  history(room: string, afterSeq: number): Promise<SequencedMessage[] | Gap> {
    try {
      if (this.#core.closing) throw new EdgeplaneError("CLOSED", "exchange is closed");
      validateRoom(room);
      if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) throw new EdgeplaneError("BAD_OPTION", "afterSeq must be a non-negative integer");
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#core.history.history(room, afterSeq);
  }

  /**
   * Chain extension (docs/design.md §6): store and deliver a message sequenced by another exchange unchanged (room, seq, epoch,
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
      if (this.#core.closing) throw new EdgeplaneError("CLOSED", "exchange is closed");
      ({ msg: m, kind, raw } = checkRelayed(msg, this.#core.maxPayloadBytes));
      key = roomKey(m.room);
    } catch (err) {
      return Promise.reject(err);
    }
    const c = this.#core;
    return c.track(c.router.routed<RelayResult>(key, "relay", (target, timeout) =>
      target === this.nodeId ? c.owner.chain.handleRelay(m, kind, raw, key) : c.router.remoteChain(target, relayRequestHeaders(c.headers, m, kind), raw, timeout)
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
      if (this.#core.closing) throw new EdgeplaneError("CLOSED", "exchange is closed");
      validateRoom(room);
      pos = checkPosition(position);
      key = roomKey(room);
    } catch (err) {
      return Promise.reject(err);
    }
    const c = this.#core;
    return c.track(c.router.routed<RelayResult>(key, "seed", (target, timeout) =>
      target === this.nodeId
        ? c.owner.chain.handleSeed(room, pos, key)
        : c.router.remoteChain(target, seedRequestHeaders(c.headers, room, pos.seq, pos.epoch, pos.timestamp), new Uint8Array(0), timeout)
    )).then(() => {});
  }

  /**
   * Chain extension (docs/design.md §4 "Seal and positions"): hand sequencing of this whole NATS backplane (every node
   * on this prefix) to `authority` for good, so NATS can be the old side of a migration. Afterwards `publish` on any
   * node rejects with BACKPLANE_UNAVAILABLE and `details.sealedBy = authority` (an id sequenced before keeps its seq);
   * `relay`, `seed`, `history` and subscriptions keep working. Resolves with the seal in force (the first one wins:
   * concurrent seals converge on the earliest proposal) once every live node acknowledged it; rejects with TIMEOUT
   * (`details.pending`: the silent nodes) if that did not happen within `sendTimeout` (the seal still holds where it
   * arrived; call again to confirm), BAD_OPTION for an authority that is not a 1–128 character name.
   *
   * The seal lives in the live nodes' memory, like every NATS counter: heartbeats carry it to nodes that join later.
   * If every node of the backplane stops, it is gone with the counters (a phase-3 chain seals again when it starts).
   *
   * @example
   * ```ts
   * const inForce = await natsExchange.seal("redis");
   * await natsExchange.publish("lobby", "x").catch((err) => console.log(err.details.sealedBy)); // "redis"
   * ```
   */
  seal(authority: string): Promise<string> {
    const c = this.#core;
    return c.track(Promise.resolve().then(() => c.seal.seal(authority)));
  }

  /**
   * The authority this backplane was sealed to, as this node knows it ("" while not sealed).
   *
   * @example
   * ```ts
   * if (natsExchange.sealedBy) console.log("sequencing moved to", natsExchange.sealedBy);
   * ```
   */
  get sealedBy(): string {
    return this.#core.seal.sealedBy;
  }

  /**
   * Chain extension: every room a live node of this backplane knows by name (rooms a node owns or owned, rooms a node
   * subscribes to) with its position (highest seq, epoch term and timestamp any of them holds), for seeding a new
   * authority. Asks every live node and waits until each answered in full, within `sendTimeout`; rejects with TIMEOUT
   * (`details.pending`) rather than leave out the rooms of a silent node.
   *
   * @example
   * ```ts
   * for await (const p of natsExchange.positions()) console.log(p.room, p.seq, p.epoch);
   * ```
   */
  async *positions(): AsyncGenerator<RoomPosition & { room: string }> {
    const c = this.#core;
    for (const p of await c.track(c.seal.positions())) yield p;
  }

  ready(): Promise<void> {
    if (this.#core.closing) return Promise.reject(new EdgeplaneError("CLOSED", "exchange is closed"));
    return this.#core.liveness.ready();
  }

  status(): ExchangeStatus {
    const c = this.#core;
    const state = c.closed || c.closing ? "closed" : !c.connected ? "degraded" : c.liveness.isReady() ? "ready" : "connecting";
    return {
      kind: "nats",
      state,
      nodeId: this.nodeId,
      epoch: c.epoch,
      counters: { ...c.counters, members: c.membership.others().length + 1, ownedRooms: c.owner.activeCount() },
    };
  }

  close(): Promise<void> {
    return this.#closePromise ??= this.#close();
  }

  // ───────────────────────────── lifecycle ─────────────────────────────

  #listen(): void {
    const c = this.#core;
    const s = c.subjects;
    const on = (subject: string, fn: (msg: NatsMsgLike) => void) => {
      this.#natsSubs.push(c.nc.subscribe(subject, {
        callback: (err: unknown, msg: NatsMsgLike) => {
          if (err || c.closed) return;
          try {
            fn(msg);
          } catch {
            c.counters.malformedDropped++;
          }
        },
      }));
    };
    on(s.hb, (m) => c.liveness.onHeartbeat(m));
    on(s.gather, (m) => c.owner.takeover.answerGather(m));
    on(s.own(this.nodeId), (m) => c.owner.onPublishRequest(m));
    on(s.rel(this.nodeId), (m) => c.owner.chain.onChainRequest(m));
    on(s.hist(this.nodeId), (m) => c.history.onRequest(m));
    on(s.seal, (m) => c.seal.onSealRequest(m));
    on(s.positions, (m) => c.seal.onPositionsRequest(m));
  }

  async #close(): Promise<void> {
    const c = this.#core;
    c.closing = true;
    // 1. finish in-flight publishes (each is bounded by sendTimeout)
    await Promise.allSettled([...c.inflight]);
    // 2. leave: not eligible any more → every owned room steps down (see OwnerRole.onMembershipChange) and is announced.
    // Handed off below: the active rooms, and rooms this node sequenced before that moved to another node which has
    // not taken them over yet (ownership moves lazily), so their history and their name (positions()) survive.
    const wasActive = [...c.owner.owned.values()].filter((r) => r.state !== "inactive" || r.seq > 0);
    c.membership.setSelfEligible(false);
    c.liveness.sendHeartbeat(false);
    // 3. hand off: ask each room's new owner to take over now, while we still answer its gather and history requests
    await Promise.allSettled(wasActive.map(async (r) => {
      const to = c.membership.owner(r.key);
      if (!to || to === this.nodeId || !c.connected) return;
      try {
        await c.nc.request(c.subjects.hist(to), jsonBytes({ op: "pos", room: r.room }), { timeout: c.sendTimeout });
      } catch { /* it will take over lazily from the announced checkpoint */ }
    }));
    // 4. bye, then stop listening
    c.liveness.sendHeartbeat(true);
    try {
      if (c.connected) await c.nc.flush();
    } catch { /* closed */ }
    c.closed = true;
    c.owner.stopTimers();
    this.#subs.closeAll();
    c.liveness.stop();
    for (const s of this.#natsSubs) {
      try {
        s.unsubscribe();
      } catch { /* closed */ }
    }
    c.wake("change");
    c.wake("conn");
    c.wake("lease");
  }
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

