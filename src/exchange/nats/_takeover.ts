// Private: taking a room over (docs/design.md §4 "Failover and epochs"), both sides. The node about to own a room gathers
// every live node's view of it (the previous owner steps down and reports its final seq; an owner that still outranks
// us in its own view refuses), continues above the highest seq and timestamp anyone has seen under term + 1, seeds
// history and idempotency ids from the previous owner when it is alive, else from the delivered tail of a live node's
// subscription (its own first) that ends at that seq, so an owner crash loses no message a live node delivered, and
// announces
// the new epoch on the room subject. The other side answers gathers (`answerGather`).
import { EdgeplaneError } from "../../errors.ts";
import { validateId } from "../../envelope.ts";
import { encodeNotice, jsonBytes, parseJson } from "./_codec.ts";
import type { Core } from "./_core.ts";
import { type GatherEntry, Gatherer } from "./_gather.ts";
import type { OwnerRole } from "./_owner.ts";
import type { OwnedRoom } from "./_sequencer.ts";
import type { Gap, SequencedMessage } from "../exchange.ts";
import { isToken } from "./_subjects.ts";
import type { NatsMsgLike } from "./_types.ts";

/** Activation of owned rooms and answers to other nodes' gathers. */
export class Takeover {
  readonly #gatherer: Gatherer;

  constructor(readonly core: Core, readonly owner: OwnerRole) {
    this.#gatherer = new Gatherer({
      nc: core.nc,
      subjects: core.subjects,
      nodeId: core.nodeId,
      get membership() {
        return core.membership;
      },
      counters: core.counters,
      timeoutMs: core.gatherTimeout,
      recentlyDeadMs: 10 * core.hbMs,
      connected: () => core.connected,
      seal: () => core.seal.wire(),
      learnSeal: (v) => void core.seal.learn(v),
    });
  }

  /** Become the active owner of `r` (see the module comment). Concurrent calls share one activation. */
  activate(r: OwnedRoom): Promise<void> {
    if (r.state === "active") return Promise.resolve();
    if (r.activation) return r.activation;
    r.state = "activating";
    const gen = r.gen;
    const p = this.#run(r, gen).finally(() => {
      if (r.activation === p) r.activation = undefined;
      if (r.state === "activating" && r.gen === gen) r.state = "inactive";
    });
    r.activation = p;
    return p;
  }

  async #run(r: OwnedRoom, gen: number): Promise<void> {
    const c = this.core, m = c.membership, o = this.owner;
    const askAnyone = m.others().length > 0 || m.recentlyDead(10 * c.hbMs).length > 0;
    const replies = askAnyone ? await this.#gatherer.gather(r.key.token) : [];
    if (r.gen !== gen || c.closing || m.owner(r.key) !== c.nodeId) {
      if (r.gen === gen) r.state = "inactive";
      return;
    }
    const refusal = replies.find((x) => x.refuse);
    if (refusal) {
      r.state = "inactive";
      r.deferTo = refusal.node;
      r.deferUntil = c.now() + c.hbMs;
      return;
    }
    let base = r.seq, term = r.term, ts = r.lastTs;
    const k = c.known.get(r.key.token);
    if (k) {
      base = Math.max(base, k.seq);
      term = Math.max(term, k.term);
      ts = Math.max(ts, k.ts);
    }
    // This node's own subscriptions count too (the gather asks only the others): what we delivered was assigned.
    const own = c.subsByToken.get(r.key.token);
    for (const rs of own ?? []) {
      base = Math.max(base, rs.lastSeq);
      ts = Math.max(ts, rs.lastTs);
      term = Math.max(term, rs.term);
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
      const mine = [...(own ?? [])].find((rs) => rs.tailEndsAt(base));
      if (mine) this.#seedFrom(r, mine.tail.after(r.room, Math.max(base - c.limits.maxMessages, mine.tail.oldestSeq! - 1), base, term));
      else if (holder && base > 0) await this.#seedHistory(r, holder.node, base);
    }
    if (r.gen !== gen || c.closing || m.owner(r.key) !== c.nodeId || !o.leaseOk()) {
      if (r.gen === gen) r.state = "inactive";
      return;
    }
    // A publisher retrying an id we delivered as a subscriber gets its original seq back, not a second one.
    for (const rs of own ?? []) {
      rs.recent((id, info) => {
        if (!c.ids.get(r.key.token, id)) c.ids.set(r.key.token, id, info);
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
    c.counters.epochChanges++;
    c.sawEpoch(r.term);
    const epoch = { term: r.term, owner: c.nodeId };
    c.known.record(r.key.token, base, epoch, ts);
    o.emitter.flush(r);
    try {
      c.nc.publish(c.subjects.room(r.key.token), encodeNotice(r.key.bytes, epoch, base, ts));
    } catch { /* subscribers learn the epoch from the next message */ }
  }

  async #seedHistory(r: OwnedRoom, from: string, base: number): Promise<void> {
    const c = this.core;
    const after = Math.max(0, base - c.limits.maxMessages);
    try {
      const res = await c.history.fetchFrom(from, r.room, after, Math.min(c.sendTimeout, 1000), true);
      if (!("ok" in res)) return;
      const list = res.ok;
      if (Array.isArray(list) && list.length && list[list.length - 1].seq === base) this.#seedFrom(r, list);
    } catch { /* start with an empty ring: older history requests get a Gap */ }
  }

  /** History and idempotency ids of `r` from a previous owner's ring or a live node's delivered tail. */
  #seedFrom(r: OwnedRoom, list: SequencedMessage[] | Gap): void {
    if (!Array.isArray(list)) return;
    const c = this.core;
    for (const m of list) r.ring.push(m);
    for (const m of list) c.ids.set(r.key.token, m.id, { seq: m.seq, timestamp: m.timestamp, epoch: m.epoch });
  }

  /**
   * Another node gathers before taking rooms over: report what we know of each (seq, term, owner, ts), refuse when we
   * are its active owner in our own view, otherwise step down first.
   */
  answerGather(msg: NatsMsgLike): void {
    const c = this.core, o = this.owner;
    const b = parseJson(msg.data);
    const from = validateId(b.n, "node");
    if (from === c.nodeId || !msg.reply) return;
    if (!Array.isArray(b.t) || b.t.length > 5000) throw new EdgeplaneError("BAD_ENVELOPE", "bad gather");
    if (b.s !== undefined) c.seal.learn(b.s);
    o.leaseOk(); // an owner whose lease lapsed has stepped down: it reports, it does not refuse
    const p: Record<string, [number, number, string, number, number]> = {};
    for (const t of b.t) {
      if (!isToken(t)) continue;
      const r = o.owned.get(t);
      let flags = 0;
      if (r && r.state !== "inactive") {
        if (o.ownerFor(r.key) === c.nodeId && r.state === "active") flags |= 1;
        else o.stepDown(r);
      }
      const k = c.known.get(t);
      let seq = k?.seq ?? 0, term = k?.term ?? 0, owner = k?.owner ?? c.nodeId, ts = k?.ts ?? 0;
      if (r) {
        if (r.seq >= seq) seq = r.seq;
        if (r.term > term || (r.term === term && c.nodeId > owner)) {
          term = r.term;
          owner = c.nodeId;
        }
        ts = Math.max(ts, r.lastTs);
        if (r.ringCurrent && r.seq === seq) flags |= 2;
      }
      const subs = c.subsByToken.get(t);
      for (const rs of subs ?? []) {
        seq = Math.max(seq, rs.lastSeq);
        ts = Math.max(ts, rs.lastTs);
        term = Math.max(term, rs.term); // what we follow as a subscriber: a successor starts above it
      }
      // A subscription whose delivered tail ends at seq can seed the new owner too (the old owner may be dead).
      for (const rs of subs ?? []) if (rs.tailEndsAt(seq)) flags |= 2;
      if (seq === 0 && term === 0 && !r) continue;
      p[t] = [seq, term, owner, ts, flags];
    }
    // `s` (the seal) is left out of the JSON while there is none
    c.nc.publish(msg.reply, jsonBytes({ n: c.nodeId, e: c.membership.selfEligible ? 1 : 0, p, s: c.seal.wire() }));
  }
}
