// Private: owner-side chain extension of the NATS exchange (docs/design.md §6, Exchange.relay/seed). A relayed message was
// sequenced by another exchange (the chain's authority): the room's owner stores it unchanged and publishes it on the
// room subject, so NATS subscribers deliver it with the same seq, epoch, timestamp, id and origin.
//
// Relays arrive out of order (several nodes relay concurrently). The owner publishes only contiguous runs: a relay
// above `out + 1` waits in `pending` until the hole below it fills, for at most `holeMs` (a hole that never fills is a
// message the other exchange never relayed, e.g. from a node not chained yet; NATS subscribers then see a gap they
// cannot repair and report a discontinuity, which a chain ignores because the authority holds the message).
// A relay or seed raises the counter and the term and marks the room foreign: the next message the owner sequences
// itself continues at counter + 1 under term + 1, above every epoch the other exchange used.
import { EdgeplaneError } from "../../errors.ts";
import { type PayloadKind, validateId, validatePayload, validateRoom } from "../../envelope.ts";
import { utf8Encode } from "../../_utf8.ts";
import type { RelayResult, RoomPosition, SequencedMessage } from "../exchange.ts";
import type { OwnedRoom } from "./_sequencer.ts";

/** A relayed message with its wire body. */
export interface PendingRelay {
  msg: SequencedMessage;
  raw: Uint8Array;
  kind: PayloadKind;
  /** When it started waiting (ms). */
  at: number;
}

/** What the relay logic needs from the exchange. */
export interface RelayHost {
  /** Publish `p` on the room subject as a relayed message, push it to history and the id cache, set `r.out`. */
  emit(r: OwnedRoom, p: PendingRelay): void;
  now(): number;
  /** How long a relay waits for a hole below it. */
  readonly holeMs: number;
  /** Relays waiting per room before the oldest holes are skipped. */
  readonly maxPending: number;
  /** A hole was given up on. */
  skipped(count: number): void;
}

function nonNegative(v: unknown, what: string): number {
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw new EdgeplaneError("BAD_OPTION", `${what} must be a non-negative integer`);
  return v as number;
}

/** Validate a message handed to `relay` (throws BAD_OPTION / BAD_ROOM / PAYLOAD_TOO_LARGE …); returns a clean copy. */
export function checkRelayed(msg: SequencedMessage, maxPayloadBytes: number): { msg: SequencedMessage; kind: PayloadKind; raw: Uint8Array } {
  if (msg === null || typeof msg !== "object") throw new EdgeplaneError("BAD_OPTION", "relay takes a sequenced message");
  validateRoom(msg.room);
  if (nonNegative(msg.seq, "seq") < 1) throw new EdgeplaneError("BAD_OPTION", "seq must be a positive integer");
  const kind = validatePayload(msg.payload, { maxPayloadBytes });
  const m: SequencedMessage = {
    room: msg.room,
    seq: msg.seq,
    timestamp: nonNegative(msg.timestamp, "timestamp"),
    epoch: nonNegative(msg.epoch, "epoch"),
    id: validateId(msg.id),
    origin: validateId(msg.origin, "origin"),
    payload: msg.payload,
  };
  return { msg: m, kind, raw: typeof m.payload === "string" ? utf8Encode(m.payload) : m.payload };
}

/** Validate a position handed to `seed`; returns a clean copy. */
export function checkPosition(p: RoomPosition): RoomPosition {
  if (p === null || typeof p !== "object") throw new EdgeplaneError("BAD_OPTION", "seed takes a position");
  return { seq: nonNegative(p.seq, "seq"), epoch: nonNegative(p.epoch, "epoch"), timestamp: nonNegative(p.timestamp, "timestamp") };
}

/** The message held (published or waiting) at `seq`, if any. */
function heldAt(r: OwnedRoom, seq: number): SequencedMessage | undefined {
  return r.pending.get(seq)?.msg ?? r.ring.at(seq);
}

/** Store and publish a relayed message on the room's owner. */
export function relayInto(host: RelayHost, r: OwnedRoom, p: PendingRelay): RelayResult {
  const m = p.msg;
  const held = heldAt(r, m.seq);
  if (held) return held.id === m.id ? "dup" : "conflict";
  // Older than what subscribers already passed (evicted, seeded over or skipped as a hole): nothing to fill.
  if (m.seq <= r.out) return "dup";
  if (m.seq > r.seq) r.seq = m.seq;
  if (m.epoch > r.term) r.term = m.epoch;
  if (m.timestamp > r.lastTs) r.lastTs = m.timestamp;
  r.foreign = true;
  r.dirty = true;
  if (m.seq === r.out + 1) {
    host.emit(r, p);
    drain(host, r);
  } else {
    r.pending.set(m.seq, p);
    if (r.pending.size > host.maxPending) flushRelays(host, r, minKey(r.pending));
    else arm(host, r);
  }
  return "ok";
}

/** Raise the room's counter (max-merge) without a message. Returns false when the position was not above ours. */
export function seedInto(host: RelayHost, r: OwnedRoom, pos: RoomPosition): boolean {
  if (!(pos.seq > r.seq || (pos.seq === r.seq && pos.epoch > r.term))) return false;
  flushRelays(host, r, pos.seq);
  if (pos.seq > r.seq) r.seq = pos.seq;
  if (pos.epoch > r.term) r.term = pos.epoch;
  if (pos.timestamp > r.lastTs) r.lastTs = pos.timestamp;
  if (pos.seq > r.out) {
    // Nothing at or below the seeded seq is held here: history below it is a gap, not something to wait for.
    r.out = pos.seq;
    r.ring.clear();
  }
  r.foreign = true;
  r.dirty = true;
  drain(host, r);
  return true;
}

/** Publish every waiting relay with seq <= upTo in seq order, skipping the holes between them. */
export function flushRelays(host: RelayHost, r: OwnedRoom, upTo = Infinity): void {
  if (r.pending.size === 0) return;
  const seqs = [...r.pending.keys()].filter((s) => s <= upTo).sort((a, b) => a - b);
  for (const s of seqs) {
    const p = r.pending.get(s)!;
    r.pending.delete(s);
    if (s <= r.out) continue;
    if (s > r.out + 1) host.skipped(s - r.out - 1);
    host.emit(r, p);
  }
  drain(host, r);
}

/** Stop waiting for holes (the room steps down or the exchange closes): publish what is held, cancel the timer. */
export function releaseRelays(host: RelayHost, r: OwnedRoom): void {
  flushRelays(host, r);
  if (r.holeTimer !== undefined) clearTimeout(r.holeTimer);
  r.holeTimer = undefined;
}

function drain(host: RelayHost, r: OwnedRoom): void {
  for (let n = r.pending.get(r.out + 1); n; n = r.pending.get(r.out + 1)) {
    r.pending.delete(n.msg.seq);
    host.emit(r, n);
  }
  if (r.pending.size === 0 && r.holeTimer !== undefined) {
    clearTimeout(r.holeTimer);
    r.holeTimer = undefined;
  }
}

function minKey(m: Map<number, unknown>): number {
  let min = Infinity;
  for (const k of m.keys()) if (k < min) min = k;
  return min;
}

/** Wake up when the oldest waiting relay has waited `holeMs`, and give up on the holes below it. */
function arm(host: RelayHost, r: OwnedRoom): void {
  if (r.holeTimer !== undefined || r.pending.size === 0) return;
  let oldest = Infinity;
  for (const p of r.pending.values()) if (p.at < oldest) oldest = p.at;
  const t = setTimeout(() => {
    r.holeTimer = undefined;
    const due = host.now() - host.holeMs;
    let upTo = 0;
    for (const [s, p] of r.pending) if (p.at <= due && s > upTo) upTo = s;
    if (upTo > 0) flushRelays(host, r, upTo);
    arm(host, r);
  }, Math.max(1, oldest + host.holeMs - host.now()));
  (t as unknown as { unref?: () => void }).unref?.();
  r.holeTimer = t;
}
