/**
 * The one connection interface every transport (WebSocket, SSE, long-poll) hands to the hub, plus the options the
 * three transports share. A transport is a `FrameSink`: the hub's per-connection queue writes batches of frames
 * to it and asks it how many bytes it still holds (`bufferedAmount`), which is how backpressure reaches the queue's
 * outcomes and the slow-consumer close (see `FrameSink` and `SendOutcome` in `src/local/queue.ts`).
 *
 * @module
 */
import type { HubAction, HubConnection } from "../hub.ts";
import type { QueueOptions } from "../local/queue.ts";

/**
 * A client connection on any transport: `id`, `send(frame)` → `SendOutcome`, `close(code, reason)`,
 * `bufferedBytes`, `lastSeq(room)`. It is the hub's {@link HubConnection}; transports add nothing to it.
 *
 * @example
 * ```ts
 * import type { Connection } from "edgeplane";
 * function describe(c: Connection): string {
 *   return `${c.id} rooms=${c.rooms.size} buffered=${c.bufferedBytes} lobby@${c.lastSeq("lobby") ?? "-"}`;
 * }
 * ```
 */
export type Connection = HubConnection;

/**
 * Name of a transport.
 *
 * @example
 * ```ts
 * const order: TransportKind[] = ["ws", "sse", "poll"];
 * ```
 */
export type TransportKind = "ws" | "sse" | "poll";

/**
 * Allow or deny a connection's join or publish before the hub sees the frame. A denial is answered with a
 * `FORBIDDEN` error frame carrying the frame's `ref` and `room`; a throwing or rejecting check counts as a denial.
 *
 * @example
 * ```ts
 * const authorize: ConnectionAuthorizer = (conn, room) => !room.startsWith("admin:");
 * ```
 */
export type ConnectionAuthorizer = (conn: Connection, room: string, action: HubAction) => boolean | Promise<boolean>;

/**
 * Options shared by the three transports.
 *
 * @example
 * ```ts
 * const opts: TransportOptions = { queue: { budgetBytes: 256 * 1024 }, authorize: (_c, room) => room !== "secret" };
 * ```
 */
export interface TransportOptions {
  /** Queue budget / slow-consumer settings for connections of this transport (merged over the hub's). */
  queue?: QueueOptions;
  /** Per-frame authorization (see {@link ConnectionAuthorizer}). */
  authorize?: ConnectionAuthorizer;
}

