// Private: this node's publishes on their way to room owners (docs/design.md §4).
//
// Admission (backpressure): at most `maxInflight` publishes of this node are in flight at once (sequenced locally and
// waiting for their confirmation, or sent to a remote owner); more wait, in call order, for a slot. An overloaded node
// slows its callers down instead of rejecting them, and what it puts on its socket stays bounded, so heartbeats and
// lease echoes never queue behind an unbounded burst. A publish's deadline (`sendTimeout`) starts at admission.
//
// Order: each room has one ordered queue. Its publishes go out in call order, pipelined to one owner at a time (a
// different target waits until the attempts in flight settle), at most `maxPerOwner` entries in flight per remote
// owner. When an attempt does not come back ok (redirect, timeout, no responders, lease re-validating), the queue
// stops, waits for what is still in flight, and resends every unsettled entry, still in call order, to the owner in
// this node's view: the same owner again after a timeout while it is live (a slow owner is not a dead one), the next
// ranked one only once it is gone or has no responders. Retries carry the same id, so an owner answers a publish it
// already sequenced with its original seq. So publishes of one node to one room are sequenced in call order across
// retries, redirects and takeovers.
//
// Deadline: every attempt is bounded by the earliest deadline of its entries (the local owner path included: lease
// waits, takeovers and confirmations do not hold a caller past it). An entry whose deadline passes rejects with
// `TIMEOUT` and `details.maybeSequenced: true` when an attempt of it may have reached an owner (it may still appear,
// under its id), or with the reason it could not be placed (`BACKPLANE_UNAVAILABLE`/`NO_RESPONDERS`,
// `maybeSequenced: false`) when none did.
import { EdgeplaneError } from "../../errors.ts";
import type { SeqInfo } from "../exchange.ts";
import { type DecodedRequest, MAX_BATCH } from "./_codec.ts";
import type { Core } from "./_core.ts";
import type { OwnerRequests } from "./_publisher.ts";
import type { Outcome } from "./_replies.ts";
import type { RoomKey } from "./_subjects.ts";

/** One publish of this node. */
interface Entry {
  req: DecodedRequest;
  raw: Uint8Array;
  deadline: number;
  resolve: (info: SeqInfo) => void;
  reject: (err: EdgeplaneError) => void;
  /** 0 queued, 1 an attempt in flight, 2 settled. */
  state: 0 | 1 | 2;
  /** An attempt may have reached an owner without an answer (timeout, unconfirmed, deadline mid-attempt). */
  maybe: boolean;
  lastErr: EdgeplaneError | undefined;
}

/** The ordered queue of one room. */
interface RoomQueue {
  key: RoomKey;
  items: Entry[];
  /** First entry not settled. */
  head: number;
  /** First entry not sent. */
  next: number;
  /** Attempts in flight and the node they went to. */
  inflight: number;
  target: string | undefined;
  /** An attempt came back not ok: send nothing until the ones in flight settle, then resend from the head. */
  stalled: boolean;
  /** A wait (target, budget, backoff) is scheduled. */
  waiting: boolean;
  /** Nodes that had no responders for this room's publishes (created on first use). */
  suspects: Set<string> | undefined;
  backoffMs: number;
  /** Why the queue could not send (no owner, disconnected), for entries that never got an answer of their own. */
  lastErr: EdgeplaneError | undefined;
}

/** What the queue needs to know of the per-node limits. */
export interface QueueLimits {
  /** Publishes of this node in flight at once (admitted, not settled). */
  maxInflight: number;
  /** Entries in flight to one remote owner at once. */
  maxPerOwner: number;
}

/** Admission and the per-room ordered queues of one node. */
export class PublishQueue {
  readonly #rooms = new Map<string, RoomQueue>();
  readonly #hints: Map<string, { node: string; version: number }>;
  readonly #ownerLoad = new Map<string, number>();
  readonly #ownerWaiters = new Map<string, Set<RoomQueue>>();
  /** Publishes waiting for an in-flight slot, in call order. */
  readonly #admission: Array<() => void> = [];
  #admissionHead = 0;
  inflight = 0;
  highWater = 0;

  constructor(
    readonly core: Core,
    readonly requests: OwnerRequests,
    readonly limits: QueueLimits,
    hints: Map<string, { node: string; version: number }>,
  ) {
    this.#hints = hints;
  }

  /** Publish `req` to `key`'s owner: admitted now or in call order once a slot frees; settles by its deadline. */
  publish(key: RoomKey, req: DecodedRequest, raw: Uint8Array): Promise<SeqInfo> {
    if (this.#admissionHead === this.#admission.length && this.inflight < this.limits.maxInflight) {
      this.#take();
      return this.#admitted(key, req, raw);
    }
    this.core.counters.admissionWaits++;
    return this.core.track(new Promise<void>((resolve) => this.#admission.push(resolve)).then(() => this.#admitted(key, req, raw)));
  }

  /** Take an in-flight slot. */
  #take(): void {
    if (++this.inflight > this.highWater) this.core.counters.inflightHighWater = this.highWater = this.inflight;
  }

  /** Whether `key` has nothing queued or in flight here (this node's own fast path may go ahead). */
  idle(key: RoomKey): boolean {
    const q = this.#rooms.get(key.token);
    return (q === undefined || q.head === q.items.length) && !this.core.gates.has(key.token);
  }

  #admitted(key: RoomKey, req: DecodedRequest, raw: Uint8Array): Promise<SeqInfo> {
    const c = this.core;
    const deadline = c.now() + c.sendTimeout;
    const fast = this.idle(key) ? c.owner.fastPublish(key, req, raw) : undefined;
    if (fast) {
      // This node is the room's active owner and nothing of ours is queued for the room: sequenced synchronously, the
      // ack after the turn's confirmation (bounded by confirmTimeout; close() does not need to track it).
      return Promise.resolve(fast).then((out) => {
        if (!("ok" in out)) return this.#counted(this.#enqueue(key, req, raw, deadline, true));
        this.#release();
        c.counters.published++;
        return out.ok;
      });
    }
    return this.#counted(this.#enqueue(key, req, raw, deadline, false));
  }

  /** A queued publish: tracked for close(), its slot released and counted when it settles. */
  #counted(p: Promise<SeqInfo>): Promise<SeqInfo> {
    const c = this.core;
    return c.track(p).then(
      (info) => {
        this.#release();
        c.counters.published++;
        return info;
      },
      (err) => {
        this.#release();
        c.counters.rejected++;
        throw err;
      },
    );
  }

  #release(): void {
    this.inflight--;
    while (this.#admissionHead < this.#admission.length && this.inflight < this.limits.maxInflight) {
      const go = this.#admission[this.#admissionHead];
      this.#admission[this.#admissionHead++] = undefined as unknown as () => void;
      // The slot is taken now (the publish runs a microtask later), so a burst of releases does not over-admit.
      this.#take();
      go();
    }
    if (this.#admissionHead > 1024 && this.#admissionHead * 2 > this.#admission.length) {
      this.#admission.splice(0, this.#admissionHead);
      this.#admissionHead = 0;
    }
  }

  #enqueue(key: RoomKey, req: DecodedRequest, raw: Uint8Array, deadline: number, maybe: boolean): Promise<SeqInfo> {
    let q = this.#rooms.get(key.token);
    if (!q) {
      q = { key, items: [], head: 0, next: 0, inflight: 0, target: undefined, stalled: false, waiting: false, suspects: undefined, backoffMs: 0, lastErr: undefined };
      this.#rooms.set(key.token, q);
    }
    const room = q;
    return new Promise<SeqInfo>((resolve, reject) => {
      room.items.push({ req, raw, deadline, resolve, reject, state: 0, maybe, lastErr: undefined });
      this.#pump(room);
    });
  }

  /** Send what can be sent now, in order. */
  #pump(q: RoomQueue): void {
    const c = this.core, m = c.membership;
    if (q.waiting || q.stalled) return;
    this.#expire(q);
    if (q.next < q.items.length && c.gates.has(q.key.token)) {
      // A subscription of this node to the room is still reading its start position: it must cover what follows.
      const join = c.gates.wait(q.key.token, Math.max(0, q.items[q.next].deadline - c.now()));
      if (join) {
        q.lastErr = new EdgeplaneError("BACKPLANE_UNAVAILABLE", "publish: this node's subscription to the room did not go live in time (owner unreachable); nothing was published", { maybeSequenced: false });
        q.waiting = true;
        void join.then(() => void (q.lastErr = undefined), () => {}).then(() => {
          q.waiting = false;
          this.#pump(q);
        });
        return;
      }
    }
    if (q.head === q.items.length && q.inflight === 0) {
      if (this.#rooms.get(q.key.token) === q) this.#rooms.delete(q.key.token);
      return;
    }
    while (q.next < q.items.length) {
      if (c.closed) {
        for (let i = q.next; i < q.items.length; i++) this.#settle(q, q.items[i], undefined, new EdgeplaneError("CLOSED", "exchange is closed"));
        break;
      }
      if (!c.connected) {
        q.lastErr = new EdgeplaneError("BACKPLANE_UNAVAILABLE", "publish: disconnected from NATS", { maybeSequenced: false });
        this.#waitThen(q, "conn", Infinity);
        return;
      }
      const hint = this.#hints.get(q.key.token);
      let target: string | undefined;
      if (hint && hint.version === m.version && m.isLive(hint.node) && !q.suspects?.has(hint.node)) target = hint.node;
      else target = c.owner.ownerFor(q.key, q.suspects);
      if (!target) {
        q.suspects = undefined;
        q.lastErr = new EdgeplaneError("BACKPLANE_UNAVAILABLE", "publish: no eligible owner", { maybeSequenced: false });
        if (q.inflight === 0) this.#waitThen(q, "change", c.hbMs / 2);
        return;
      }
      if (q.inflight > 0 && target !== q.target) return; // the new target waits for the old one's answers
      let n = Math.min(MAX_BATCH, q.items.length - q.next);
      const remote = target !== c.nodeId;
      if (remote) {
        const load = this.#ownerLoad.get(target) ?? 0;
        n = Math.min(n, this.limits.maxPerOwner - load);
        if (n <= 0) {
          let w = this.#ownerWaiters.get(target);
          if (!w) this.#ownerWaiters.set(target, w = new Set());
          w.add(q);
          return;
        }
        this.#ownerLoad.set(target, load + n);
      }
      const batch = q.items.slice(q.next, q.next + n);
      q.next += n;
      q.inflight++;
      q.target = target;
      this.#attempt(q, target, batch);
    }
  }

  /** One attempt at `batch` on `target`, bounded by the batch's earliest deadline. */
  #attempt(q: RoomQueue, target: string, batch: Entry[]): void {
    const c = this.core;
    let deadline = Infinity;
    for (const e of batch) {
      e.state = 1;
      if (e.deadline < deadline) deadline = e.deadline;
    }
    const remaining = Math.max(1, deadline - c.now());
    const timeout = Math.min(remaining, Math.max(100, c.sendTimeout / 2));
    if (target !== c.nodeId) {
      // A remote attempt is bounded by its request timeout (at most the remaining time): no timer of our own.
      const finish = (res: Outcome<SeqInfo>[]) => {
        this.#ownerDone(target, batch.length);
        this.#done(q, target, batch, res);
      };
      if (batch.length === 1) {
        const e = batch[0];
        void this.requests.publish(target, q.key, e.req, e.raw, timeout).then((o) => finish([o]));
        return;
      }
      const outs: Array<Promise<Outcome<SeqInfo>>> = new Array(batch.length);
      for (let i = 0; i < batch.length; i++) {
        const e = batch[i];
        outs[i] = this.requests.publish(target, q.key, e.req, e.raw, timeout);
      }
      void Promise.all(outs).then(finish);
      return;
    }
    // This node as the owner: lease waits, a takeover and confirmations run inside the deadline, not past it.
    const outs: Array<Promise<Outcome<SeqInfo>>> = new Array(batch.length);
    for (let i = 0; i < batch.length; i++) {
      const e = batch[i];
      outs[i] = c.owner.handlePublish(e.req, q.key, e.raw).catch(() => ({ retry: new EdgeplaneError("BACKPLANE_UNAVAILABLE", "owner failed") }));
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), remaining));
    void Promise.race([Promise.all(outs), expired]).then((res) => {
      clearTimeout(timer);
      this.#done(q, target, batch, res);
    });
  }

  #ownerDone(target: string, n: number): void {
    const left = (this.#ownerLoad.get(target) ?? n) - n;
    if (left > 0) this.#ownerLoad.set(target, left);
    else this.#ownerLoad.delete(target);
    const w = this.#ownerWaiters.get(target);
    if (!w) return;
    this.#ownerWaiters.delete(target);
    for (const q of w) this.#pump(q);
  }

  /** The outcomes of one attempt (undefined: its deadline passed first). */
  #done(q: RoomQueue, target: string, batch: Entry[], outs: Outcome<SeqInfo>[] | undefined): void {
    const c = this.core, m = c.membership;
    q.inflight--;
    let stall = false, backoff = 0;
    for (let i = 0; i < batch.length; i++) {
      const e = batch[i];
      if (e.state === 2) continue;
      const out = outs?.[i];
      if (!out) {
        e.maybe = true;
        e.lastErr = new EdgeplaneError("TIMEOUT", `publish: owner ${target} did not answer within the deadline`, { target });
        stall = true;
        continue;
      }
      if ("ok" in out) {
        this.#settle(q, e, out.ok);
        continue;
      }
      if ("fail" in out) {
        this.#settle(q, e, undefined, out.fail);
        continue;
      }
      stall = true;
      if ("redirect" in out) {
        if (i === 0 || !("redirect" in (outs![i - 1] ?? {}))) c.counters.redirects++;
        const to = out.redirect;
        if (to && to !== target && m.isLive(to)) {
          // Back to a node that had no responders: it is gone but not yet out of the member views; wait for them.
          if (q.suspects?.has(to)) backoff = Math.max(backoff, 50);
          this.#hints.set(q.key.token, { node: to, version: m.version });
          if (this.#hints.size > 50_000) this.#hints.delete(this.#hints.keys().next().value as string);
        } else {
          this.#hints.delete(q.key.token);
          e.lastErr = new EdgeplaneError("BACKPLANE_UNAVAILABLE", "publish: owners disagree (membership settling)", { maybeSequenced: false });
          backoff = Math.max(backoff, 20);
        }
        continue;
      }
      e.lastErr = out.retry;
      const code = out.retry.code;
      if (code === "TIMEOUT" || /confirm/.test(out.retry.message)) e.maybe = true;
      if (out.suspect) {
        (q.suspects ??= new Set()).add(target);
        if (this.#hints.get(q.key.token)?.node === target) this.#hints.delete(q.key.token);
      } else if (code !== "TIMEOUT") backoff = Math.max(backoff, 50);
    }
    if (stall) {
      q.stalled = true;
      q.backoffMs = Math.max(q.backoffMs, backoff);
    }
    if (q.inflight > 0) {
      if (!q.stalled) this.#pump(q);
      return;
    }
    if (q.stalled) {
      // Resend every unsettled entry from the head, in call order.
      c.counters.retries++;
      for (let i = q.head; i < q.items.length; i++) if (q.items[i].state === 1) q.items[i].state = 0;
      q.next = q.head;
      q.stalled = false;
      const wait = q.backoffMs;
      q.backoffMs = 0;
      if (wait > 0) {
        this.#waitThen(q, "change", wait);
        return;
      }
    }
    this.#pump(q);
  }

  /** Wait for `kind` (bounded by `ms` and the head's deadline), then pump again. */
  #waitThen(q: RoomQueue, kind: "change" | "conn", ms: number): void {
    const c = this.core;
    const head = q.items[q.next];
    const remaining = head ? head.deadline - c.now() : 0;
    q.waiting = true;
    void c.wait(kind, Math.max(0, Math.min(ms, remaining))).then(() => {
      q.waiting = false;
      this.#pump(q);
    });
  }

  /** Reject the unsent entries whose deadline passed (the entries in flight are bounded by their attempt). */
  #expire(q: RoomQueue): void {
    const now = this.core.now();
    for (let i = q.next; i < q.items.length; i++) {
      const e = q.items[i];
      if (e.state !== 0 || e.deadline > now) continue;
      const ms = this.core.sendTimeout;
      const last = e.lastErr ?? q.lastErr;
      const err = e.maybe
        ? new EdgeplaneError(
          "TIMEOUT",
          `publish not acknowledged within sendTimeout (${ms} ms)${last ? ` (last: ${last.message})` : ""}; it may still be sequenced under its id: retry with the same id`,
          { ...last?.details, maybeSequenced: true },
        )
        : last
        ? new EdgeplaneError(last.code, `${last.message} (not placed within sendTimeout, ${ms} ms)`, { ...last.details, maybeSequenced: false })
        : new EdgeplaneError("BACKPLANE_UNAVAILABLE", `publish: no owner reachable within ${ms} ms`, { maybeSequenced: false });
      this.#settle(q, e, undefined, err);
    }
  }

  #settle(q: RoomQueue, e: Entry, info: SeqInfo | undefined, err?: EdgeplaneError): void {
    if (e.state === 2) return;
    e.state = 2;
    if (info) e.resolve(info);
    else e.reject(err!);
    while (q.head < q.items.length && q.items[q.head].state === 2) q.head++;
    if (q.head === q.items.length) {
      if (q.inflight === 0 && !q.waiting && this.#rooms.get(q.key.token) === q) this.#rooms.delete(q.key.token);
      q.items = [];
      q.head = q.next = 0;
    } else if (q.head > 1024 && q.head * 2 > q.items.length) {
      q.items.splice(0, q.head);
      q.next -= q.head;
      q.head = 0;
    }
  }
}
