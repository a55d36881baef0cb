// Private: the two batched send paths of a node. OwnerRequests sends publishes to remote owners: what one turn
// publishes for one owner leaves as one request (one reply carries every outcome, in order). RoomEmitter puts an
// owner's sequenced messages on their room subject: what one turn sequences for a room leaves as one frame, in seq
// order, encoded once for every subscribing node (binary wire, see _codec.ts). A failed room publish (connection lost right now)
// loses nothing: the message is in the owner's ring and subscribers repair it. Both queue through one TurnBatcher
// (per key and turn: an owner node for requests, an owned room for sequenced messages). Acks wait for `confirm()`: the server
// has everything this node published so far (a flush round trip) and the owner lease still held when it said so. An
// owner frozen between sequencing and its socket write wakes up with an expired lease and withholds the ack, because
// a successor may have taken the room over without seeing that message.
import { EdgeplaneError } from "../../errors.ts";
import type { SeqInfo } from "../exchange.ts";
import { TurnBatcher } from "./_batcher.ts";
import {
  encodeFrame,
  encodeRequests,
  type FrameItem,
  frameRecordBytes,
  type HeadersFactory,
  MAX_BATCH,
  num,
  type RequestItem,
  requestRecordBytes,
  type WireEnvelope,
} from "./_codec.ts";
import { classify, type Outcome, outcomeOf, parseReply, type ReplyCounters } from "./_replies.ts";
import type { KnownPositions, OwnedRoom } from "./_sequencer.ts";
import type { RoomKey, Subjects } from "./_subjects.ts";
import type { NatsConnectionLike } from "./_types.ts";

/** What both send paths need from their exchange. */
export interface SendHost {
  readonly nc: NatsConnectionLike;
  readonly subjects: Subjects;
  readonly headers: HeadersFactory;
  readonly nodeId: string;
  readonly counters: ReplyCounters & Record<"batchesSent" | "batchedPublishes", number>;
  readonly known: KnownPositions;
  /** Largest body one NATS message may carry here (the server's max_payload minus header room). */
  maxBody(): number;
  /** Whether this node still holds its owner lease. */
  leaseValid(): boolean;
  /** The lease's term (see OwnerLease.term): unchanged means it held without a gap. */
  leaseTerm(): number;
  /** Upper bound for a confirmation round trip, ms. */
  readonly confirmTimeout: number;
}

interface Outgoing extends RequestItem {
  token: string;
  timeout: number;
  resolve: (out: Outcome<SeqInfo>) => void;
}

/** Publishes on their way to remote owners. */
export class OwnerRequests {
  readonly #batcher: TurnBatcher<string, Outgoing>;

  constructor(readonly host: SendHost) {
    this.#batcher = new TurnBatcher<string, Outgoing>((target, items) => this.#send(target, items), requestRecordBytes, () => host.maxBody(), MAX_BATCH);
  }

  /** Send a publish request (envelope `req` for the room `key`, payload `raw`) to `target`, bounded by `timeout`. */
  publish(target: string, key: RoomKey, req: WireEnvelope, raw: Uint8Array, timeout: number): Promise<Outcome<SeqInfo>> {
    return new Promise((resolve) => this.#batcher.add(target, { req, roomBytes: key.bytes, raw, token: key.token, timeout, resolve }));
  }

  #send(target: string, items: Outgoing[]): void {
    const h = this.host, c = h.counters;
    const subject = h.subjects.own(target);
    const failAll = (err: unknown) => {
      const out = classify(err, c, target, "publish");
      for (const e of items) e.resolve(out);
    };
    if (items.length > 1) {
      c.batchesSent++;
      c.batchedPublishes += items.length;
    }
    let timeout = Infinity;
    for (const e of items) if (e.timeout < timeout) timeout = e.timeout;
    try {
      h.nc.request(subject, encodeRequests(h.nodeId, items), { timeout }).then((resp) => {
        const whole = parseReply(resp, c, (b) => {
          if (!Array.isArray(b.r) || b.r.length !== items.length) throw new EdgeplaneError("BAD_ENVELOPE", "bad batch reply");
          return b.r as unknown[];
        });
        if (!("ok" in whole)) {
          for (const e of items) e.resolve(whole);
          return;
        }
        for (let i = 0; i < items.length; i++) {
          const x = whole.ok[i], e = items[i];
          e.resolve(
            Array.isArray(x)
              ? outcomeOf({}, c, () => this.#acked(target, e.token, x[0], x[1], x[2]))
              : outcomeOf(x, c, () => {
                throw new EdgeplaneError("BAD_ENVELOPE", "bad batch entry");
              }),
          );
        }
      }, failAll);
    } catch (err) {
      failAll(err);
    }
  }

  /** An ack from `target`; also a position (a successor that gathers from us never reuses it or goes below its ts). */
  #acked(target: string, token: string, s: unknown, t: unknown, e: unknown): SeqInfo {
    const info = { seq: num(s, "seq"), timestamp: num(t, "ts"), epoch: num(e, "epoch") };
    this.host.known.record(token, info.seq, { term: info.epoch, owner: target }, info.timestamp);
    return info;
  }
}

/** See {@link RoomEmitter.confirm}. */
export type Confirmation = "ok" | "lapsed" | "unconfirmed";

/** Sequenced messages on their way to their room subjects. */
export class RoomEmitter {
  readonly #batcher: TurnBatcher<OwnedRoom, FrameItem>;
  #confirming: Promise<Confirmation> | undefined;

  constructor(readonly host: SendHost) {
    this.#batcher = new TurnBatcher((r, q) => this.#send(r, q), frameRecordBytes, () => host.maxBody(), MAX_BATCH);
  }

  /**
   * Whether everything emitted so far reached the server while the lease held: "ok"; "lapsed" when the lease had
   * lapsed by the time the server answered; "unconfirmed" when the server did not answer within `confirmTimeout`
   * (the lease still holding). Decided at that moment, once, for the whole turn (one flush round trip).
   */
  confirm(): Promise<Confirmation> {
    return this.#confirming ??= new Promise<Confirmation>((resolve) => {
      queueMicrotask(() => {
        this.#batcher.flushAll();
        this.#confirming = undefined; // what is sequenced from now on waits for the next round trip
        const h = this.host;
        // The answer is looked at a microtask after the PONG, when an echo read in the same chunk may already have
        // renewed a lease that had lapsed: only a lease that held without a gap since now counts.
        const term = h.leaseTerm();
        const held = () => h.leaseValid() && h.leaseTerm() === term;
        const settle = (answered: boolean) => resolve(!held() ? "lapsed" : answered ? "ok" : "unconfirmed");
        const timer = setTimeout(() => settle(false), h.confirmTimeout);
        let flushed: Promise<void>;
        try {
          flushed = h.nc.flush();
        } catch {
          flushed = Promise.reject();
        }
        flushed.then(() => settle(true), () => settle(false)).finally(() => clearTimeout(timer));
      });
    });
  }

  /** Queue a sequenced message of `r` for the end of the turn. */
  emit(r: OwnedRoom, item: FrameItem): void {
    this.#batcher.add(r, item);
  }

  /** Publish what `r` has queued now (before anything else this node sends on its subject, e.g. an epoch notice). */
  flush(r: OwnedRoom): void {
    this.#batcher.flush(r);
  }

  #send(r: OwnedRoom, q: FrameItem[]): void {
    const h = this.host;
    try {
      h.nc.publish(h.subjects.room(r.key.token), encodeFrame(h.nodeId, r.key.bytes, q));
    } catch { /* in the ring: subscribers repair it */ }
  }
}
