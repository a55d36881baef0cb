/**
 * The chain exchange (docs/design.md §6): one {@link Exchange} over several brokers, for migrating a live fleet from one
 * backplane to another (Redis → NATS) with zero loss.
 *
 * - Exactly one member, the **authority**, assigns seqs. The chain publishes through it and **relays the sequenced
 *   message unchanged** (same seq, epoch, timestamp, id, origin) to every other member with `relay`, so nodes that
 *   listen only to the old broker and nodes that listen only to the new one see the same seq for the same message.
 * - Subscriptions listen to every member and merge: a message arriving from two brokers is delivered once (dedupe by
 *   id and seq), in seq order, with gap repair over the merged history of all members.
 * - Switching authority (listing the new broker as authority) first **seals** the older members (their `publish`
 *   rejects from then on, so a node still configured for the old authority follows the seal instead of sequencing
 *   alone), then **seeds** the new authority from the old counters: it continues at the old seq + 1 under epoch + 1,
 *   so no seq is ever assigned twice. Every room is seeded in the background (`positions`), and on first use.
 * - A publish fails only when the authority fails. A relay failure is retried with backoff and counted
 *   (`relayFailures`, `relayRetries`, `relayDropped`), never silent.
 *
 * Members must list brokers oldest first: `chain([redis, nats], { authority: "redis" })` (phase 2), then
 * `chain([redis, nats], { authority: "nats" })` (phase 3).
 *
 * @module
 */
import { createEnvelope, DEFAULT_LIMITS, type Payload, validateRoom } from "../envelope.ts";
import { EdgeplaneError, isEdgeplaneError } from "../errors.ts";
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
} from "./exchange.ts";
import { isGap } from "./exchange.ts";
import { newOrderCounters, subscriptionOrder } from "./_room-order.ts";
import { PublishGates } from "./_publish-gate.ts";

/**
 * A named chain member. A bare Exchange is named by its `status().kind`.
 *
 * @example
 * ```ts
 * const members: ChainMember[] = [{ name: "redis", exchange: redis }, { name: "nats", exchange: nats }];
 * const ex = chain(members, { authority: "redis" });
 * ```
 */
export interface ChainMember {
  /** Unique name in the chain; `authority` may refer to it. */
  name: string;
  /** The member exchange (the chain closes it with the chain). */
  exchange: Exchange;
}

/**
 * Options of {@link chain}.
 *
 * @example
 * ```ts
 * const opts: ChainOptions = { authority: "nats", relayMaxAttempts: 40, onError: (err) => console.warn(err) };
 * const ex = chain([{ name: "redis", exchange: redis }, { name: "nats", exchange: nats }], opts);
 * ```
 */
export interface ChainOptions {
  /** The member that assigns seqs: its name or index. */
  authority: string | number;
  /** Node id reported by the chain (default: the authority's). */
  nodeId?: string;
  /** First relay retry delay, doubled per attempt up to 2 s (default 100 ms). */
  relayRetryMs?: number;
  /** Relay attempts before a relay is dropped and counted as `relayDropped` (default 20, about 30 s). */
  relayMaxAttempts?: number;
  /** Relays in flight or waiting for retry before new ones are dropped and counted (default 100,000). */
  maxPendingRelays?: number;
  /** How long a merged subscription waits for a hole to fill before reporting a discontinuity (default 2000 ms). */
  gapTimeoutMs?: number;
  /** How long a subscription waits for every member's position before starting from those it has (default 2000). */
  positionTimeoutMs?: number;
  /** When switching authority, seed every room of the older members in the background (default true). */
  seedAll?: boolean;
  /**
   * Resolve a publish only after the first relay attempt to every other member settled (default true): an acked
   * message is then already on every broker unless a relay failed (and is being retried). Never makes a publish fail.
   */
  awaitRelays?: boolean;
  /** Called with swallowed errors (relay failures, seal/seed problems). */
  onError?: (err: unknown) => void;
}

/**
 * Build a chain over `members` (oldest broker first) with one authority.
 *
 * @example
 * ```ts
 * // Phase 2 of a Redis → NATS migration: Redis still sequences, every message is relayed to NATS too.
 * const ex = chain([{ name: "redis", exchange: redis }, { name: "nats", exchange: nats }], { authority: "redis" });
 * await ex.ready();
 * await ex.publish("lobby", "hi");
 * ```
 */
export function chain(members: Array<Exchange | ChainMember>, opts: ChainOptions): ChainExchange {
  return new ChainExchange(members, opts);
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/**
 * The chain exchange; see {@link chain}.
 *
 * @example
 * ```ts
 * const ex = new ChainExchange([redis, nats], { authority: 1 });
 * ```
 */
export class ChainExchange implements Exchange {
  readonly nodeId: string;
  readonly maxPayloadBytes: number;
  /** The members, oldest broker first. */
  readonly members: readonly ChainMember[];
  #auth: number;
  readonly #configuredAuth: number;
  readonly #opts: Required<Omit<ChainOptions, "nodeId" | "authority" | "onError">>;
  readonly #onError: (err: unknown) => void;
  #closed = false;
  #sealing: Promise<void> | undefined;
  #seedAll: Promise<void> | undefined;
  #seedAllDone = false;
  readonly #seeded = new Set<string>();
  readonly #seeding = new Map<string, Promise<void>>();
  #pendingRelays = 0;
  readonly #relayWaiters = new Set<() => void>();
  readonly #retryTimers = new Set<ReturnType<typeof setTimeout>>();
  readonly #unsubs = new Set<Unsubscribe>();
  /** Members whose most recent relay attempt failed. */
  readonly #failing = new Set<number>();
  readonly #order = newOrderCounters();
  /** Publishes of a room wait until this node's merged subscriptions of it started (every member positioned). */
  readonly #gates = new PublishGates();
  readonly #counters = {
    published: 0,
    relayed: 0,
    relayDuplicates: 0,
    relayConflicts: 0,
    relayFailures: 0,
    relayRetries: 0,
    relayDropped: 0,
    authoritySwitches: 0,
    seeded: 0,
    seedAllDone: 0,
  };

  /** Same as {@link chain}: throws `BAD_OPTION` for no members, duplicate names or an unknown authority. */
  constructor(members: Array<Exchange | ChainMember>, opts: ChainOptions) {
    if (members.length === 0) throw new EdgeplaneError("BAD_OPTION", "chain needs at least one member");
    this.members = members.map((m) => ("exchange" in m && "name" in m ? m : { name: (m as Exchange).status().kind, exchange: m as Exchange }));
    const names = new Set(this.members.map((m) => m.name));
    if (names.size !== this.members.length) {
      throw new EdgeplaneError("BAD_OPTION", "chain members need distinct names: pass { name, exchange }");
    }
    const idx = typeof opts.authority === "number" ? opts.authority : this.members.findIndex((m) => m.name === opts.authority);
    if (!(idx >= 0 && idx < this.members.length)) {
      throw new EdgeplaneError("BAD_OPTION", `authority ${String(opts.authority)} is not a chain member`);
    }
    this.#auth = idx;
    this.#configuredAuth = idx;
    this.nodeId = opts.nodeId ?? this.members[idx].exchange.nodeId;
    this.maxPayloadBytes = Math.min(...this.members.map((m) => m.exchange.maxPayloadBytes));
    this.#onError = opts.onError ?? (() => {});
    this.#opts = {
      relayRetryMs: opts.relayRetryMs ?? 100,
      relayMaxAttempts: opts.relayMaxAttempts ?? 20,
      maxPendingRelays: opts.maxPendingRelays ?? 100_000,
      gapTimeoutMs: opts.gapTimeoutMs ?? 2000,
      positionTimeoutMs: opts.positionTimeoutMs ?? 2000,
      seedAll: opts.seedAll ?? true,
      awaitRelays: opts.awaitRelays ?? true,
    };
  }

  /** Name of the member that currently assigns seqs (it moves forward if a newer authority sealed ours). */
  get authority(): string {
    return this.members[this.#auth].name;
  }

  /** Resolves when the background seeding of every room (after an authority switch) is done. */
  seeded(): Promise<void> {
    return this.#seedAll ?? Promise.resolve();
  }

  async ready(): Promise<void> {
    this.#assertOpen();
    const results = await Promise.allSettled(this.members.map((m) => m.exchange.ready()));
    const authResult = results[this.#auth];
    if (authResult.status === "rejected") throw authResult.reason;
    results.forEach((r, i) => {
      if (r.status === "rejected") this.#swallow(new EdgeplaneError("BACKPLANE_UNAVAILABLE", `chain member ${this.members[i].name} not ready`, { cause: String(r.reason) }));
    });
    await this.#sealOlder();
  }

  publish(room: string, payload: Payload, opts: { id?: string } = {}): Promise<SeqInfo> {
    return this.#publish(room, payload, opts);
  }

  async #publish(room: string, payload: Payload, opts: { id?: string }): Promise<SeqInfo> {
    this.#assertOpen();
    // Validate and fix the id here, so a retry through another authority stays idempotent.
    const env = createEnvelope(room, payload, {
      origin: "chain",
      id: opts.id,
      limits: { ...DEFAULT_LIMITS, maxPayloadBytes: this.maxPayloadBytes },
    });
    // A member's position read after this publish was relayed to it would start the merged subscription above it.
    const gate = this.#gates.wait(room, this.#opts.positionTimeoutMs);
    if (gate) {
      await gate;
      this.#assertOpen();
    }
    for (let attempt = 0;; attempt++) {
      await this.#sealOlder();
      const auth = this.#auth;
      const member = this.members[auth];
      if (auth > 0) await this.#seedRoom(room);
      let info: SeqInfo;
      try {
        info = await member.exchange.publish(room, payload, { id: env.id });
      } catch (err) {
        const sealedBy = isEdgeplaneError(err) ? err.details?.sealedBy : undefined;
        const next = typeof sealedBy === "string" ? this.members.findIndex((m) => m.name === sealedBy) : -1;
        if (next > auth && attempt < this.members.length) {
          // A newer node moved sequencing on: follow the seal (this node's config is one phase behind).
          this.#switchTo(next);
          continue;
        }
        throw err;
      }
      this.#counters.published++;
      const epoch = info.epoch ?? (await this.#epochOf(member.exchange, room, info.seq));
      const msg: SequencedMessage = {
        room,
        seq: info.seq,
        timestamp: info.timestamp,
        epoch,
        id: env.id,
        origin: member.exchange.nodeId,
        payload,
      };
      const relays: Promise<void>[] = [];
      for (let i = 0; i < this.members.length; i++) {
        if (i === auth) continue;
        const p = this.#relay(i, msg, 1);
        // A member whose last relay failed is not waited for: its retries run in the background, so a broken
        // non-authority broker never slows publishes down.
        if (!this.#failing.has(i)) relays.push(p);
      }
      if (this.#opts.awaitRelays) await Promise.all(relays);
      return { seq: info.seq, timestamp: info.timestamp, epoch };
    }
  }

  subscribe(room: string, onMessage: (m: SequencedMessage) => void, opts: SubscribeOptions = {}): Unsubscribe {
    this.#assertOpen();
    validateRoom(room);
    const order = subscriptionOrder(room, onMessage, opts.onEvent, (after) => this.history(room, after), this.#order, {
      gapTimeoutMs: this.#opts.gapTimeoutMs,
    });
    const positions = new Map<number, { seq: number; epoch: number }>();
    const release = this.#gates.hold(room);
    let started = false;
    let timedOut = false;
    const start = () => {
      if (started || positions.size === 0) return;
      started = true;
      clearTimeout(timer);
      let best = { seq: 0, epoch: 0 };
      for (const p of positions.values()) if (p.seq > best.seq || (p.seq === best.seq && p.epoch > best.epoch)) best = p;
      const from = opts.fromSeq !== undefined ? Math.max(0, Math.min(opts.fromSeq - 1, best.seq)) : best.seq;
      order.position(from, best.epoch);
      release();
      order.observe(best.seq, best.epoch);
    };
    // Start once every member positioned, or after positionTimeoutMs with the positions known by then.
    const timer = setTimeout(() => {
      timedOut = true;
      start();
    }, this.#opts.positionTimeoutMs);
    const unsubs: Unsubscribe[] = [];
    this.members.forEach((m, i) => {
      try {
        unsubs.push(m.exchange.subscribe(room, (msg) => order.offer(msg), {
          fromSeq: opts.fromSeq,
          onEvent: (e) => {
            if (e.type === "position") {
              positions.set(i, { seq: e.seq, epoch: e.epoch });
              if (positions.size === this.members.length || timedOut) start();
            }
            // A member's discontinuity is not the chain's: another member may hold those messages. The merged order
            // repairs from every member's history and reports a discontinuity only if none has them.
          },
        }));
      } catch (err) {
        if (i === this.#auth) {
          clearTimeout(timer);
          release();
          unsubs.forEach((u) => u());
          throw err;
        }
        this.#swallow(err);
      }
    });
    if (this.#auth > 0) void this.#seedRoom(room).catch((err) => this.#swallow(err));
    const unsub = () => {
      if (!this.#unsubs.delete(unsub)) return;
      clearTimeout(timer);
      release();
      order.close();
      unsubs.forEach((u) => u());
    };
    this.#unsubs.add(unsub);
    return unsub;
  }

  /** Merged history of every member: the contiguous run after `afterSeq`, or a Gap if no member still holds it. */
  async history(room: string, afterSeq: number): Promise<SequencedMessage[] | Gap> {
    this.#assertOpen();
    validateRoom(room);
    if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) {
      throw new EdgeplaneError("BAD_OPTION", "afterSeq must be a non-negative integer");
    }
    const results = await Promise.allSettled(this.members.map((m) => m.exchange.history(room, afterSeq)));
    const ok = results.filter((r) => r.status === "fulfilled").map((r) => (r as PromiseFulfilledResult<SequencedMessage[] | Gap>).value);
    if (ok.length === 0) throw (results[this.#auth] as PromiseRejectedResult).reason;
    const held = new Map<number, SequencedMessage>();
    let last = 0, epoch = 0, gapOldest = Infinity;
    let allAhead = true;
    for (const r of ok) {
      if (isGap(r)) {
        last = Math.max(last, r.lastSeq);
        epoch = Math.max(epoch, r.epoch);
        if (r.afterSeq <= r.lastSeq) {
          allAhead = false;
          gapOldest = Math.min(gapOldest, r.oldestSeq);
        }
      } else {
        allAhead = false;
        for (const m of r) {
          held.set(m.seq, m);
          last = Math.max(last, m.seq);
          epoch = Math.max(epoch, m.epoch);
        }
      }
    }
    if (allAhead) {
      const g = ok[0] as Gap;
      return { gap: true, room, afterSeq, oldestSeq: Math.max(...ok.map((r) => (r as Gap).oldestSeq)), lastSeq: last, epoch: Math.max(epoch, g.epoch) };
    }
    const out: SequencedMessage[] = [];
    for (let s = afterSeq + 1; held.has(s); s++) out.push(held.get(s)!);
    if (out.length > 0 || last <= afterSeq) return out;
    const heldAfter = [...held.keys()].filter((s) => s > afterSeq);
    const oldest = Math.min(gapOldest, ...heldAfter, last + 1);
    if (oldest <= afterSeq + 1) return out; // some member is still catching up; no evidence of loss yet
    return { gap: true, room, afterSeq, oldestSeq: oldest, lastSeq: last, epoch };
  }

  status(): ExchangeStatus {
    const states = this.members.map((m) => m.exchange.status());
    const auth = states[this.#auth];
    const degraded = states.some((s) => s.state !== "ready");
    return {
      kind: "chain",
      state: this.#closed ? "closed" : auth.state !== "ready" ? auth.state : degraded ? "degraded" : "ready",
      nodeId: this.nodeId,
      epoch: Math.max(...states.map((s) => s.epoch)),
      counters: { ...this.#counters, ...this.#order, pendingRelays: this.#pendingRelays, authorityIndex: this.#auth },
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Drain: in-flight relays get a bounded chance to land before the members close.
    const deadline = Date.now() + 5000;
    while (this.#pendingRelays > 0 && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, 100);
        function done() {
          clearTimeout(t);
          resolve();
        }
        this.#relayWaiters.add(done);
      });
    }
    this.#closed = true;
    this.#gates.openAll();
    for (const t of this.#retryTimers) clearTimeout(t);
    this.#retryTimers.clear();
    for (const u of [...this.#unsubs]) u();
    await this.#seedAll?.catch(() => {});
    await Promise.allSettled(this.members.map((m) => m.exchange.close()));
  }

  // ---- internals ----

  #switchTo(idx: number): void {
    if (idx <= this.#auth) return;
    this.#auth = idx;
    this.#counters.authoritySwitches++;
    this.#sealing = undefined;
    this.#seedAllDone = false;
    this.#seedAll = undefined;
  }

  /** Seal every member older than the authority (once); then start seeding every room in the background. */
  #sealOlder(): Promise<void> {
    if (this.#auth === 0) return Promise.resolve();
    if (!this.#sealing) {
      const auth = this.#auth;
      const name = this.members[auth].name;
      this.#sealing = (async () => {
        for (let i = 0; i < auth; i++) {
          const ex = this.members[i].exchange;
          if (!ex.seal) throw new EdgeplaneError("BAD_OPTION", `chain member ${this.members[i].name} cannot be sealed`);
          const inForce = await ex.seal(name);
          const j = this.members.findIndex((m) => m.name === inForce);
          if (inForce !== name && j > auth) this.#switchTo(j);
        }
        if (this.#opts.seedAll && !this.#seedAll) {
          this.#seedAll = this.#seedEveryRoom().catch((err) => this.#swallow(err));
        }
      })();
      const p = this.#sealing;
      p.catch(() => {
        if (this.#sealing === p) this.#sealing = undefined; // retry on the next publish
      });
    }
    return this.#sealing;
  }

  async #seedEveryRoom(): Promise<void> {
    const auth = this.#auth;
    for (let i = 0; i < auth; i++) {
      const src = this.members[i].exchange;
      if (!src.positions) return; // cannot enumerate: rooms are seeded on first use only
      for await (const p of src.positions()) {
        if (this.#closed || this.#auth !== auth) return;
        if (this.#seeded.has(p.room)) continue;
        await this.#seedFrom(p.room, p);
      }
    }
    this.#seedAllDone = true;
    this.#counters.seedAllDone = 1;
  }

  /** Before the new authority sequences `room` for the first time: raise it to the older members' position. */
  #seedRoom(room: string): Promise<void> {
    if (this.#seeded.has(room) || this.#seedAllDone) return Promise.resolve();
    let p = this.#seeding.get(room);
    if (!p) {
      p = (async () => {
        let best: RoomPosition & { last?: SequencedMessage } = { seq: 0, epoch: 0, timestamp: 0 };
        for (let i = 0; i < this.#auth; i++) {
          const pos = await this.#positionOf(this.members[i].exchange, room);
          if (pos.seq > best.seq || (pos.seq === best.seq && pos.epoch > best.epoch)) best = pos;
        }
        await this.#seedFrom(room, best);
      })().finally(() => this.#seeding.delete(room));
      this.#seeding.set(room, p);
    }
    return p;
  }

  async #seedFrom(room: string, pos: RoomPosition & { last?: SequencedMessage }): Promise<void> {
    const auth = this.members[this.#auth].exchange;
    if (pos.seq > 0) {
      if (auth.seed) await auth.seed(room, { seq: pos.seq, epoch: pos.epoch, timestamp: pos.timestamp });
      else if (auth.relay && pos.last) await auth.relay(pos.last);
      else throw new EdgeplaneError("BAD_OPTION", `authority ${this.authority} supports neither seed nor relay`);
      this.#counters.seeded++;
    }
    this.#seeded.add(room);
  }

  /** Position of `room` on an exchange, through the plain history API. */
  async #positionOf(ex: Exchange, room: string): Promise<RoomPosition & { last?: SequencedMessage }> {
    const probe = await ex.history(room, MAX_SAFE);
    if (!isGap(probe) || probe.lastSeq === 0) return { seq: 0, epoch: 0, timestamp: 0 };
    const tail = await ex.history(room, probe.lastSeq - 1);
    if (!isGap(tail) && tail.length > 0) {
      const last = tail[tail.length - 1];
      return { seq: last.seq, epoch: last.epoch, timestamp: last.timestamp, last };
    }
    return { seq: probe.lastSeq, epoch: probe.epoch, timestamp: 0 };
  }

  async #epochOf(ex: Exchange, room: string, seq: number): Promise<number> {
    try {
      const h = await ex.history(room, seq - 1);
      if (!isGap(h)) {
        const m = h.find((x) => x.seq === seq);
        if (m) return m.epoch;
      }
    } catch { /* fall through */ }
    return ex.status().epoch;
  }

  /** Relay `msg` to member `i`; resolves when this attempt settled (landed, or failed and a retry is scheduled). */
  #relay(i: number, msg: SequencedMessage, attempt: number): Promise<void> {
    const ex = this.members[i].exchange;
    if (!ex.relay) {
      this.#counters.relayDropped++;
      this.#swallow(new EdgeplaneError("BAD_OPTION", `chain member ${this.members[i].name} cannot relay`));
      return Promise.resolve();
    }
    if (attempt === 1) {
      if (this.#pendingRelays >= this.#opts.maxPendingRelays) {
        this.#counters.relayDropped++;
        this.#swallow(new EdgeplaneError("BACKPLANE_UNAVAILABLE", `relay backlog full; dropped relay to ${this.members[i].name}`, { room: msg.room, seq: msg.seq }));
        return Promise.resolve();
      }
      this.#pendingRelays++;
    }
    const settle = () => {
      this.#pendingRelays--;
      if (this.#pendingRelays === 0) for (const w of [...this.#relayWaiters]) w();
      this.#relayWaiters.clear();
    };
    let attemptPromise: Promise<RelayResult>;
    try {
      attemptPromise = ex.relay(msg);
    } catch (err) {
      attemptPromise = Promise.reject(err);
    }
    return attemptPromise.then((res) => {
      this.#failing.delete(i);
      if (res === "ok") this.#counters.relayed++;
      else if (res === "dup") this.#counters.relayDuplicates++;
      else {
        this.#counters.relayConflicts++;
        this.#swallow(new EdgeplaneError("BACKPLANE_UNAVAILABLE", `relay conflict on ${this.members[i].name}: seq ${msg.seq} of ${msg.room} holds another id`));
      }
      settle();
    }, (err) => {
      this.#failing.add(i);
      this.#counters.relayFailures++;
      if (this.#closed || attempt >= this.#opts.relayMaxAttempts) {
        this.#counters.relayDropped++;
        this.#swallow(new EdgeplaneError("BACKPLANE_UNAVAILABLE", `relay to ${this.members[i].name} dropped after ${attempt} attempts`, { room: msg.room, seq: msg.seq, cause: String(err) }));
        settle();
        return;
      }
      this.#counters.relayRetries++;
      const delay = Math.min(this.#opts.relayRetryMs * 2 ** (attempt - 1), 2000);
      const t = setTimeout(() => {
        this.#retryTimers.delete(t);
        if (this.#closed) {
          this.#counters.relayDropped++;
          settle();
          return;
        }
        void this.#relay(i, msg, attempt + 1);
      }, delay);
      this.#retryTimers.add(t);
    });
  }

  #assertOpen(): void {
    if (this.#closed) throw new EdgeplaneError("CLOSED", "exchange is closed");
  }

  #swallow(err: unknown): void {
    try {
      this.#onError(err);
    } catch { /* never */ }
  }
}
