// Private: history and position, both sides. A node asks a room's owner (routed like a publish) for the messages
// after a seq, in pages, or for the room's current position; the owner answers from its history ring. A node that just
// stepped down still serves its ring (the successor seeds its history from it).
import { EdgeplaneError } from "../../errors.ts";
import { validateId, validateRoom } from "../../envelope.ts";
import type { Gap, SequencedMessage } from "../exchange.ts";
import { decodeHistoryPage, encodeHistoryPage, jsonBytes, num, parseJson } from "./_codec.ts";
import type { Core, Position } from "./_core.ts";
import { classify, errorBody, failureBody, type Outcome, parseReply } from "./_replies.ts";
import type { OwnedRoom } from "./_sequencer.ts";
import type { HistoryRing } from "../_history.ts";
import { roomKey } from "./_subjects.ts";
import type { NatsMsgLike } from "./_types.ts";

/** History and position requests. */
export class HistoryService {
  constructor(readonly core: Core) {}

  /** Messages of `room` after `afterSeq` from its owner, or a Gap. */
  history(room: string, afterSeq: number): Promise<SequencedMessage[] | Gap> {
    const c = this.core;
    const key = roomKey(room);
    return c.router.routed<SequencedMessage[] | Gap>(key, "history", async (target, timeout) => {
      if (target === c.nodeId) {
        const out = await c.owner.ownerRoom(room, key);
        if (!("ok" in out)) return out;
        const r = out.ok;
        c.counters.historyServed++;
        return { ok: r.ring.after(room, afterSeq, r.out, r.term) };
      }
      return this.fetchFrom(target, room, afterSeq, timeout);
    });
  }

  /** Every page of `room` after `afterSeq` from node `target`. */
  async fetchFrom(target: string, room: string, afterSeq: number, timeout: number, seed = false): Promise<Outcome<SequencedMessage[] | Gap>> {
    const c = this.core;
    const all: SequencedMessage[] = [];
    let after = afterSeq;
    for (let page = 0; page < 10_000; page++) {
      let resp: NatsMsgLike;
      try {
        resp = await c.nc.request(c.subjects.hist(target), jsonBytes(seed ? { op: "hist", room, after, seed: 1 } : { op: "hist", room, after }), { timeout });
      } catch (err) {
        return classify(err, c.counters, target, "history");
      }
      if (resp.headers?.get("r") === "page") {
        let msgs: SequencedMessage[];
        try {
          msgs = decodeHistoryPage(resp.data, room);
        } catch {
          c.counters.malformedDropped++;
          return { retry: new EdgeplaneError("BAD_ENVELOPE", "malformed history page"), suspect: true };
        }
        all.push(...msgs);
        if (resp.headers.get("more") !== "1" || msgs.length === 0) return { ok: all };
        after = msgs[msgs.length - 1].seq;
        continue;
      }
      const out = parseReply<Gap>(resp, c.counters, (b) => {
        const g = b.gap as Record<string, unknown>;
        if (!g || typeof g !== "object") throw new EdgeplaneError("BAD_ENVELOPE", "bad history reply");
        return { gap: true, room, afterSeq, oldestSeq: num(g.oldestSeq, "oldestSeq"), lastSeq: num(g.lastSeq, "lastSeq"), epoch: num(g.epoch, "epoch") };
      });
      if ("ok" in out && all.length) return { ok: all }; // a later page turned into a gap: return what we have
      return out;
    }
    return { ok: all };
  }

  /** The room's position as its owner sees it. */
  position(room: string): Promise<Position> {
    const c = this.core;
    const key = roomKey(room);
    return c.router.routed<Position>(key, "position", async (target, timeout) => {
      if (target === c.nodeId) {
        const out = await c.owner.ownerRoom(room, key);
        if (!("ok" in out)) return out;
        return { ok: { seq: out.ok.out, term: out.ok.term, owner: c.nodeId, ts: out.ok.lastTs } };
      }
      let resp: NatsMsgLike;
      try {
        resp = await c.nc.request(c.subjects.hist(target), jsonBytes({ op: "pos", room }), { timeout });
      } catch (err) {
        return classify(err, c.counters, target, "position");
      }
      return parseReply(resp, c.counters, (b) => ({ seq: num(b.s, "seq"), term: num(b.e, "term"), owner: validateId(b.o, "owner"), ts: num(b.t, "ts") }));
    });
  }

  /** Owner side: a history or position request. */
  onRequest(msg: NatsMsgLike): void {
    const c = this.core, o = c.owner;
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
      c.counters.malformedDropped++;
      if (reply) c.reply(reply, errorBody(err));
      return;
    }
    const key = roomKey(room);
    // A node that just stepped down still serves history for its ring (the successor seeds from it).
    const held = o.owned.get(key.token);
    const serveHeld = op === "hist" && held && held.state === "inactive" && held.ringCurrent && o.ownerFor(key) !== c.nodeId;
    if (op === "hist" && b.seed === 1 && !serveHeld && o.ownerFor(key) !== c.nodeId) {
      // A new owner seeds its history from our delivered tail (the previous owner is gone).
      let best: HistoryRing | undefined;
      for (const rs of c.subsByToken.get(key.token) ?? []) if (rs.tail.size > 0 && (!best || rs.tail.lastSeq! > best.lastSeq!)) best = rs.tail;
      // From what the tail holds (it may start later than asked: the new owner's history then starts there).
      this.#replyHistory(reply, best ? best.after(room, Math.max(after, best.oldestSeq! - 1), best.lastSeq!, 0) : []);
      return;
    }
    const work = serveHeld ? Promise.resolve({ ok: held! } as Outcome<OwnedRoom>) : o.ownerRoom(room, key);
    void work.then((out) => {
      if (!("ok" in out)) {
        c.reply(reply, failureBody(out));
        return;
      }
      const r = out.ok;
      if (op === "pos") {
        c.reply(reply, { s: r.out, e: r.term, o: c.nodeId, t: r.lastTs });
        return;
      }
      this.#replyHistory(reply, r.ring.after(room, after, r.out, r.term));
    }, () => c.reply(reply, { err: "BACKPLANE_UNAVAILABLE", msg: "owner failed" }));
  }

  /** Answer a history request with a page (and `more` when it did not fit) or a gap. */
  #replyHistory(reply: string, res: SequencedMessage[] | Gap): void {
    const c = this.core;
    c.counters.historyServed++;
    if (!Array.isArray(res)) {
      c.reply(reply, { gap: { oldestSeq: res.oldestSeq, lastSeq: res.lastSeq, epoch: res.epoch } });
      return;
    }
    const { bytes, next } = encodeHistoryPage(res, 0, c.serverMax() - 1024);
    const h = c.headers();
    h.set("r", "page");
    h.set("more", next < res.length ? "1" : "0");
    c.reply(reply, bytes, h);
  }
}
