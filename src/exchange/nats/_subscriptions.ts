// Private: this node's room subscriptions. Each one is a NATS subscription on the room subject feeding a
// RoomSubscription (ordering, dedupe, repair; _subscriber.ts), which asks the room's owner for its position and
// history through the history service. Until a subscription knows its start position, this node's publishes to the
// room wait for it (Core.gates), so a publish made right after subscribe() returned is never below that position.
import type { SequencedMessage, SubscribeOptions, Unsubscribe } from "../exchange.ts";
import { decodeRoomWires, type Epoch } from "./_codec.ts";
import type { Core } from "./_core.ts";
import { RoomSubscription, type SubscriberHost } from "./_subscriber.ts";
import { roomKey } from "./_subjects.ts";
import type { NatsMsgLike } from "./_types.ts";

/** Room subscriptions of one node. */
export class Subscriptions {
  readonly #unsubs = new Set<() => void>();
  readonly #host: SubscriberHost;

  constructor(readonly core: Core) {
    const c = core;
    this.#host = {
      counters: c.counters,
      flush: () => c.nc.flush(),
      position: (room) => c.history.position(room),
      history: (room, after) => c.history.history(room, after),
      record: (room, seq, epoch: Epoch, ts) => {
        c.known.record(roomKey(room).token, seq, epoch, ts);
        c.sawEpoch(epoch.term);
      },
      delay: (ms) => new Promise((r) => setTimeout(r, ms)),
      limits: c.limits,
    };
  }

  /** Subscribe to a validated room. */
  subscribe(room: string, onMessage: (msg: SequencedMessage) => void, opts: SubscribeOptions): Unsubscribe {
    const c = this.core;
    const key = roomKey(room);
    const rs = new RoomSubscription(this.#host, room, onMessage, opts);
    const faults = c.faults;
    const sub = c.nc.subscribe(c.subjects.room(key.token), {
      callback: (err: unknown, msg: NatsMsgLike) => {
        if (err || rs.closed) return;
        try {
          c.counters.malformedDropped += decodeRoomWires(msg, room, key.bytes, (wire) => {
            if (wire.type === "msg" && faults?.dropIncoming?.(room, wire.msg.seq)) return;
            rs.onWire(wire);
          });
        } catch {
          c.counters.malformedDropped++;
        }
      },
    });
    let set = c.subsByToken.get(key.token);
    if (!set) c.subsByToken.set(key.token, set = new Set());
    set.add(rs);
    const release = c.gates.hold(key.token);
    void rs.join().finally(release);
    let done = false;
    const unsubscribe = () => {
      if (done) return;
      done = true;
      this.#unsubs.delete(unsubscribe);
      rs.close();
      release();
      set!.delete(rs);
      if (set!.size === 0 && c.subsByToken.get(key.token) === set) c.subsByToken.delete(key.token);
      try {
        sub.unsubscribe();
      } catch { /* connection already closed */ }
    };
    this.#unsubs.add(unsubscribe);
    return unsubscribe;
  }

  /** End every subscription (the exchange closes). */
  closeAll(): void {
    for (const u of [...this.#unsubs]) u();
  }
}
