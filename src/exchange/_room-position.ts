// Private: a consumer's position in a room's order, past the exchange. Exchanges already order and dedupe (RoomOrder);
// the hub's room pumps and broadcastTransport's listeners keep this position as a last line of defence, with one rule:
//  - a message is new when it is of a newer generation (epoch), or of the current generation and above the position;
//  - a message of an older generation is dropped: it can only be a late copy, since a successor generation starts
//    above every seq delivered so far, or it belongs to a generation that lost its history and restarted, whose seqs
//    would collide with the new generation's;
//  - a discontinuity of a newer generation may move the position down (the sequencer lost its counter and restarted
//    below it); within a generation the position only moves up.
import type { ExchangeEvent, SequencedMessage } from "./exchange.ts";

/** Where a consumer is in a room's order. */
export interface OrderPosition {
  lastSeq: number;
  epoch: number;
}

/** Whether `m` comes after position `p` (see the rule above). */
export function isAfter(p: OrderPosition, m: Pick<SequencedMessage, "seq" | "epoch">): boolean {
  return m.epoch > p.epoch || (m.epoch === p.epoch && m.seq > p.lastSeq);
}

/** Moves `p` to `m`, which {@link isAfter} accepted. */
export function advanceTo(p: OrderPosition, m: Pick<SequencedMessage, "seq" | "epoch">): void {
  p.lastSeq = m.seq;
  if (m.epoch > p.epoch) p.epoch = m.epoch;
}

/** Follows a discontinuity: the next message expected is `e.nextSeq` of generation `e.epoch` or later. */
export function followDiscontinuity(p: OrderPosition, e: Extract<ExchangeEvent, { type: "discontinuity" }>): void {
  p.lastSeq = e.epoch > p.epoch ? e.nextSeq - 1 : Math.max(p.lastSeq, e.nextSeq - 1);
  if (e.epoch > p.epoch) p.epoch = e.epoch;
}
