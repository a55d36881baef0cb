// Private: the owner side of the chain extension (relay, seed; docs/design.md §6). The logic of holding and releasing relays
// is in _relay.ts; this file wires it to the owned rooms, the id cache and the room emitter, and answers relay/seed
// requests from other nodes.
import type { PayloadKind } from "../../envelope.ts";
import type { RelayResult, RoomPosition, SequencedMessage } from "../exchange.ts";
import { decodeChainRequest } from "./_codec.ts";
import type { Core } from "./_core.ts";
import type { OwnerRole } from "./_owner.ts";
import { type PendingRelay, relayInto, seedInto } from "./_relay.ts";
import { errorBody, failureBody, type Outcome } from "./_replies.ts";
import { EdgeplaneError } from "../../errors.ts";
import type { OwnedRoom } from "./_sequencer.ts";
import { roomKey, type RoomKey } from "./_subjects.ts";
import type { NatsMsgLike } from "./_types.ts";

/** Relays and seeds on the room's owner. */
export class ChainOwner {
  constructor(readonly core: Core, readonly owner: OwnerRole) {}

  /** Owner side of a relay (local or from a request). */
  async handleRelay(m: SequencedMessage, kind: PayloadKind, raw: Uint8Array, key: RoomKey): Promise<Outcome<RelayResult>> {
    const c = this.core;
    const out = await this.owner.ownerRoom(m.room, key);
    if (!("ok" in out)) return out;
    if (!c.connected) return { retry: new EdgeplaneError("BACKPLANE_UNAVAILABLE", "owner is disconnected from NATS") };
    const known = c.ids.get(key.token, m.id);
    const res = known && known.seq === m.seq ? "dup" : relayInto(this.owner.relayHost, out.ok, { msg: m, raw, kind, at: c.now() });
    if (res === "ok") c.sawEpoch(m.epoch);
    c.counters[res === "ok" ? "relayed" : res === "dup" ? "relayDuplicates" : "relayConflicts"]++;
    return { ok: res };
  }

  /** Owner side of a seed. */
  async handleSeed(room: string, pos: RoomPosition, key: RoomKey): Promise<Outcome<RelayResult>> {
    const c = this.core;
    const out = await this.owner.ownerRoom(room, key);
    if (!("ok" in out)) return out;
    if (seedInto(this.owner.relayHost, out.ok, pos)) {
      c.counters.seeded++;
      c.sawEpoch(pos.epoch);
    }
    return { ok: "ok" };
  }

  /** Publish a relayed message on the room subject unchanged (kind T/B: subscribers order it by seq only). */
  emitRelayed(r: OwnedRoom, p: PendingRelay): void {
    const c = this.core;
    const m = p.msg;
    r.ring.push(m, p.raw.byteLength);
    r.out = m.seq;
    c.ids.set(r.key.token, m.id, { seq: m.seq, timestamp: m.timestamp, epoch: m.epoch });
    this.owner.emitter.emit(r, { msg: m, kind: p.kind, relayed: true, raw: p.raw });
  }

  onChainRequest(msg: NatsMsgLike): void {
    const c = this.core;
    const reply = msg.reply;
    let req;
    try {
      req = decodeChainRequest(msg);
      if (!reply) throw new EdgeplaneError("BAD_ENVELOPE", "no reply subject");
      if (msg.data.byteLength > c.maxPayloadBytes) throw new EdgeplaneError("PAYLOAD_TOO_LARGE", "payload too large");
    } catch (err) {
      c.counters.malformedDropped++;
      if (reply) c.reply(reply, errorBody(err));
      return;
    }
    const key = roomKey(req.type === "relay" ? req.msg.room : req.room);
    const work = req.type === "relay"
      ? this.handleRelay(req.msg, req.kind, msg.data, key)
      : this.handleSeed(req.room, { seq: req.seq, epoch: req.epoch, timestamp: req.timestamp }, key);
    void work.then(
      (out) => c.reply(reply, "ok" in out ? { r: out.ok } : failureBody(out)),
      () => c.reply(reply, { err: "BACKPLANE_UNAVAILABLE", msg: "owner failed" }),
    );
  }
}
