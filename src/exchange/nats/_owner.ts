// Private: the owner role of a node (docs/design.md §4). For the rooms this node owns it sequences publishes (assigns seq and
// a never-decreasing timestamp, keeps history, sends the message on the room subject), acks a publish only once the
// message is out while the owner lease holds, answers publish requests from other nodes (single or batched), and
// steps rooms down when membership or the lease says so. Takeover (activation) is in _takeover.ts, the chain
// extension's owner side in _chain-owner.ts.
import { EdgeplaneError } from "../../errors.ts";
import type { SeqInfo, SequencedMessage } from "../exchange.ts";
import { cmpEpoch, type DecodedRequest, decodeRequests } from "./_codec.ts";
import type { Core } from "./_core.ts";
import { flushRelays, type RelayHost, releaseRelays } from "./_relay.ts";
import { type Confirmation, RoomEmitter, type SendHost } from "./_publisher.ts";
import { batchEntry, errorBody, type Outcome } from "./_replies.ts";
import { OwnedRoom } from "./_sequencer.ts";
import { roomKey, type RoomKey } from "./_subjects.ts";
import type { NatsMsgLike } from "./_types.ts";
import { Takeover } from "./_takeover.ts";
import { ChainOwner } from "./_chain-owner.ts";

/** The error of a request refused because this node's owner lease lapsed. */
export const leaseError = (): EdgeplaneError =>
  new EdgeplaneError("BACKPLANE_UNAVAILABLE", "owner lease lapsed (this node was paused or cut off): re-validating");

/** Owner side of one node. */
export class OwnerRole {
  readonly owned = new Map<string, OwnedRoom>();
  readonly emitter: RoomEmitter;
  readonly relayHost: RelayHost;
  readonly takeover: Takeover;
  readonly chain: ChainOwner;
  /** Owner-side requests waiting for the lease to be re-validated (the sync fast path must not overtake them). */
  #leaseQueue = 0;
  /** Seqs assigned here whose ack waits for RoomEmitter.confirm(), and those whose confirmation timed out. */
  readonly #confirming = new WeakMap<SeqInfo, Promise<Outcome<SeqInfo>>>();
  readonly #unsure = new WeakSet<SeqInfo>();

  constructor(readonly core: Core, send: SendHost, relayHoleMs: number) {
    this.emitter = new RoomEmitter(send);
    this.relayHost = {
      emit: (r, p) => this.chain.emitRelayed(r, p),
      now: core.now,
      holeMs: relayHoleMs,
      maxPending: Math.max(100, core.limits.maxMessages),
      skipped: (n) => void (core.counters.relayHolesSkipped += n),
    };
    this.takeover = new Takeover(core, this);
    this.chain = new ChainOwner(core, this);
  }

  /** Rooms this node is the active owner of. */
  activeCount(): number {
    let active = 0;
    for (const r of this.owned.values()) if (r.state === "active") active++;
    return active;
  }

  // ───────────────────────────── ownership and step-down ─────────────────────────────

  /** The node that should sequence `key` as far as this node can tell. */
  ownerFor(key: RoomKey, exclude?: ReadonlySet<string>): string | undefined {
    const c = this.core;
    const r = this.owned.get(key.token);
    if (r?.deferTo && r.deferUntil > c.now() && c.membership.isLive(r.deferTo) && !exclude?.has(r.deferTo)) {
      return r.deferTo;
    }
    return c.membership.owner(key, exclude);
  }

  ownedRoom(room: string, key: RoomKey): OwnedRoom {
    let r = this.owned.get(key.token);
    if (!r) {
      r = new OwnedRoom(room, key, this.core.limits);
      this.owned.set(key.token, r);
    }
    return r;
  }

  onMembershipChange(): void {
    const m = this.core.membership;
    for (const r of this.owned.values()) {
      if (r.state !== "inactive" && m.owner(r.key) !== this.core.nodeId) this.stepDown(r);
    }
    this.core.wake("change");
  }

  stepDown(r: OwnedRoom): void {
    // Relays waiting for a hole are published now, from this (still current) owner, so the successor's gather sees
    // them in our ring instead of losing them.
    releaseRelays(this.relayHost, r);
    r.state = "inactive";
    r.gen++;
    r.dirty = true;
    this.core.counters.stepDowns++;
    this.core.known.record(r.key.token, r.seq, { term: r.term, owner: this.core.nodeId }, r.lastTs);
  }

  stepDownAll(): void {
    for (const r of this.owned.values()) if (r.state !== "inactive") this.stepDown(r);
  }

  /** A higher owner announced `epoch` for a room we hold: step down rather than keep a second order. */
  onHigherOwner(token: string, term: number, owner: string): void {
    const r = this.owned.get(token);
    if (!r || r.state !== "active") return;
    if (cmpEpoch({ term, owner }, { term: r.term, owner: this.core.nodeId }) > 0) this.stepDown(r);
  }

  /** Cancel hole timers (the exchange closes). */
  stopTimers(): void {
    for (const r of this.owned.values()) {
      if (r.holeTimer !== undefined) clearTimeout(r.holeTimer);
      r.holeTimer = undefined;
    }
  }

  // ───────────────────────────── lease (fencing) ─────────────────────────────

  /**
   * Whether this node holds its owner lease (see _lease.ts). The first check after a lapse steps every owned room down:
   * a node that was frozen may have been declared dead and its rooms taken over, so it gathers again before it
   * sequences; and it sends a heartbeat at once, whose echo re-validates the lease.
   */
  leaseOk(): boolean {
    const c = this.core;
    if (c.lease.valid()) return true;
    if (c.lease.takeLapse()) {
      c.counters.leaseLapses++;
      this.stepDownAll();
      c.liveness.sendHeartbeat(false);
    }
    return false;
  }

  /** The lease is valid and nobody waits for it: an owner-side request may go on without yielding. */
  leaseReady(): boolean {
    return this.#leaseQueue === 0 && this.leaseOk();
  }

  /**
   * Wait, bounded by `sendTimeout`, until the lease is valid. Waiters keep their arrival order, and a request that
   * arrives while others wait queues behind them, so a publisher's order survives the wait. False if it did not return.
   */
  async awaitLease(): Promise<boolean> {
    const c = this.core;
    this.#leaseQueue++;
    c.counters.leaseWaits++;
    try {
      await null; // behind the waiters already woken
      const deadline = c.now() + c.sendTimeout;
      while (!this.leaseOk()) {
        const remaining = deadline - c.now();
        if (remaining <= 0 || c.closed) return false;
        await c.wait("lease", remaining);
      }
      return true;
    } finally {
      this.#leaseQueue--;
    }
  }

  // ───────────────────────────── sequencing ─────────────────────────────

  /** The room's state when this node is its active owner, connected, with no publish queued behind an activation. */
  activeOwned(key: RoomKey): OwnedRoom | undefined {
    const c = this.core;
    const r = this.owned.get(key.token);
    if (!r || r.state !== "active" || r.waiting > 0 || !c.connected || c.closed) return undefined;
    if (!this.leaseReady()) return undefined;
    return this.ownerFor(key) === c.nodeId ? r : undefined;
  }

  /**
   * This node's publish when it is the room's active owner with nothing queued ahead: sequenced synchronously, the ack
   * after confirmation; undefined when the routed path must take it.
   */
  fastPublish(key: RoomKey, req: DecodedRequest, raw: Uint8Array): Promise<Outcome<SeqInfo>> | Outcome<SeqInfo> | undefined {
    const fast = this.activeOwned(key);
    if (!fast) return undefined;
    const sealed = this.core.seal.refuse(key.token, req.id);
    if (sealed) return sealed;
    let info: SeqInfo | undefined;
    try {
      info = this.sequence(fast, req, raw);
    } catch { /* fall back to the routed path, which waits for the connection or rejects in time */ }
    return info ? this.ack(key, req.id, info) : undefined;
  }

  /** Owner side of a publish (local or from a request). */
  async handlePublish(req: DecodedRequest, key: RoomKey, raw: Uint8Array): Promise<Outcome<SeqInfo>> {
    const c = this.core;
    if (c.closed) return { retry: new EdgeplaneError("CLOSED", "owner is closing"), suspect: true };
    const known = c.ids.get(key.token, req.id);
    if (known) return this.ack(key, req.id, known);
    const owner = this.ownerFor(key);
    if (owner !== c.nodeId) return { redirect: owner ?? null };
    const r = this.ownedRoom(req.room, key);
    if (!this.leaseReady() && !await this.awaitLease()) return { retry: leaseError() };
    if (r.state !== "active" || r.waiting > 0) {
      // Queue behind the activation (FIFO: promise reactions run in registration order).
      r.waiting++;
      try {
        await (r.activation ?? this.takeover.activate(r));
      } finally {
        r.waiting--;
      }
      if ((r.state as OwnedRoom["state"]) !== "active") return { redirect: this.ownerFor(key) ?? null };
    }
    if (!c.connected) return { retry: new EdgeplaneError("BACKPLANE_UNAVAILABLE", "owner is disconnected from NATS") };
    if (!this.leaseOk()) return { retry: leaseError() };
    if (r.state !== "active") return { redirect: this.ownerFor(key) ?? null };
    const sealed = c.seal.refuse(key.token, req.id);
    if (sealed) return sealed;
    return this.ack(key, req.id, this.sequence(r, req, raw));
  }

  sequence(r: OwnedRoom, req: DecodedRequest, raw: Uint8Array): SeqInfo {
    const c = this.core;
    const known = c.ids.get(r.key.token, req.id);
    if (known) return known;
    if (r.pending.size > 0) flushRelays(this.relayHost, r);
    if (r.foreign) {
      // The counter came from another sequencer (relay/seed): continue above it under a new term, once.
      r.foreign = false;
      r.term++;
      c.sawEpoch(r.term);
      c.counters.epochChanges++;
    }
    const seq = ++r.seq;
    r.out = seq;
    const now = c.now();
    const timestamp = now > r.lastTs ? now : r.lastTs;
    r.lastTs = timestamp;
    const msg: SequencedMessage = { room: r.room, seq, timestamp, epoch: r.term, id: req.id, origin: req.origin, payload: req.payload };
    r.ring.push(msg, raw.byteLength);
    const info = { seq, timestamp, epoch: r.term };
    c.ids.set(r.key.token, req.id, info);
    this.#confirming.set(info, this.#confirm(r.key, req.id, info));
    r.dirty = true;
    c.counters.sequenced++;
    this.emitter.emit(r, { msg, kind: req.kind, relayed: false, raw });
    return info;
  }

  /**
   * The ack of a seq this node assigned: given only once its message is out while the lease held (see
   * RoomEmitter.confirm). Every path that answers with `info` (the first answer, a retry of the same id) waits for the
   * same confirmation. If the lease had lapsed, the id is forgotten so that a retry is sequenced anew, rather than
   * answered with a seq a successor may have given to another message.
   */
  ack(key: RoomKey, id: string, info: SeqInfo): Outcome<SeqInfo> | Promise<Outcome<SeqInfo>> {
    const pending = this.#confirming.get(info);
    if (pending) return pending;
    if (!this.#unsure.has(info)) return { ok: info };
    const p = this.#confirm(key, id, info);
    this.#confirming.set(info, p);
    return p;
  }

  #confirm(key: RoomKey, id: string, info: SeqInfo): Promise<Outcome<SeqInfo>> {
    return this.emitter.confirm().then((res) => this.#confirmed(key, id, info, res));
  }

  #confirmed(key: RoomKey, id: string, info: SeqInfo, res: Confirmation): Outcome<SeqInfo> {
    const c = this.core;
    this.#confirming.delete(info);
    if (res === "ok") {
      this.#unsure.delete(info);
      return { ok: info };
    }
    c.counters.acksWithheld++;
    if (res === "unconfirmed") {
      // Only the round trip failed (server slow or gone) while the lease held: the seq stays ours; a retry asks again.
      this.#unsure.add(info);
      return { retry: new EdgeplaneError("BACKPLANE_UNAVAILABLE", "owner could not confirm the publish with the server in time") };
    }
    this.#unsure.delete(info);
    if (c.ids.get(key.token, id) === info) c.ids.delete(key.token, id);
    return { retry: leaseError() };
  }

  /** This node's active room state for `room`, activating it if this node is the owner. */
  async ownerRoom(room: string, key: RoomKey): Promise<Outcome<OwnedRoom>> {
    const c = this.core;
    if (c.closed) return { retry: new EdgeplaneError("CLOSED", "owner is closing"), suspect: true };
    const owner = this.ownerFor(key);
    if (owner !== c.nodeId) return { redirect: owner ?? null };
    const r = this.ownedRoom(room, key);
    if (!this.leaseReady() && !await this.awaitLease()) return { retry: leaseError() };
    if (r.state !== "active") {
      await this.takeover.activate(r);
      if ((r.state as OwnedRoom["state"]) !== "active") return { redirect: this.ownerFor(key) ?? null };
    }
    if (!this.leaseOk()) return { retry: leaseError() };
    return { ok: r };
  }

  // ───────────────────────────── publish requests from other nodes ─────────────────────────────

  /** A publish request (one or more publishes): each handled as if it came alone, in order; one reply with every outcome. */
  onPublishRequest(msg: NatsMsgLike): void {
    const c = this.core;
    const reply = msg.reply;
    let entries;
    try {
      entries = decodeRequests(msg);
      if (!reply) throw new EdgeplaneError("BAD_ENVELOPE", "no reply subject");
    } catch (err) {
      c.counters.malformedDropped++;
      if (reply) c.reply(reply, errorBody(err));
      return;
    }
    const outs: unknown[] = new Array(entries.length);
    let pending: Promise<Outcome<SeqInfo>>[] | undefined, at: number[] | undefined;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (e instanceof EdgeplaneError) {
        c.counters.malformedDropped++;
        outs[i] = errorBody(e);
        continue;
      }
      const out = this.#ownerPublish(e.req, e.raw);
      if (out instanceof Promise) {
        (pending ??= []).push(out);
        (at ??= []).push(i);
      } else outs[i] = batchEntry(out);
    }
    if (!pending) c.reply(reply, { r: outs });
    else {
      void Promise.all(pending).then((res) => {
        for (let k = 0; k < res.length; k++) outs[at![k]] = batchEntry(res[k]);
        c.reply(reply, { r: outs });
      });
    }
  }

  /** Owner side of a publish request: sequenced at once on the fast path, else queued (activation, lease). */
  #ownerPublish(req: DecodedRequest, raw: Uint8Array): Outcome<SeqInfo> | Promise<Outcome<SeqInfo>> {
    if (raw.byteLength > this.core.maxPayloadBytes) return { fail: new EdgeplaneError("PAYLOAD_TOO_LARGE", "payload too large") };
    const key = roomKey(req.room);
    const fast = this.fastPublish(key, req, raw);
    if (fast) return fast;
    return this.handlePublish(req, key, raw).catch(() => ({ retry: new EdgeplaneError("BACKPLANE_UNAVAILABLE", "owner failed") }));
  }
}
