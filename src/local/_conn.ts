// Private: a hub's connection (what `hub.connect` returns): its outbound queue, adapter data and rooms.
import type { HubConnection } from "../hub.ts";
import type { Frame } from "../protocol.ts";
import { type FlushGroup, type FrameSink, OutboundQueue, type QueueOptions, type SendOutcome } from "./queue.ts";
import type { Registry } from "./registry.ts";
import type { Bucket } from "../limits.ts";

export class Conn implements HubConnection, Bucket {
  readonly queue: OutboundQueue;
  data: unknown = undefined;
  identity: unknown = undefined;
  /** The identity's key for `limits.maxConnectionsPerIdentity`. */
  key: string | undefined = undefined;
  /** Joins sent by the client and not yet answered (counted against the rooms limit). */
  pendingJoins = 0;
  // The publish token bucket (limits.publishRate): numbers on the connection, no object per publish.
  tokens = 0;
  refilledAt = 0;
  strikes = 0;
  constructor(readonly id: string, readonly registry: Registry<Conn>, sink: FrameSink, opts: QueueOptions | undefined, flushes: FlushGroup) {
    this.queue = new OutboundQueue(sink, opts, flushes);
  }
  send(f: Frame, binary?: boolean): SendOutcome {
    return this.queue.send(f, binary);
  }
  close(code = 1000, reason = "closed"): void {
    this.queue.close(code, reason);
  }
  get bufferedBytes(): number {
    return this.queue.bufferedBytes;
  }
  lastSeq(room: string): number | undefined {
    return this.queue.lastSeq(room);
  }
  get rooms(): ReadonlySet<string> {
    return this.registry.roomsOf(this.id);
  }
}
