/**
 * Chunked fanout: offer one already-serialized frame to every member of a room, a chunk per turn, yielding to the
 * event loop between chunks so one huge room cannot freeze the process. One log line per large fanout.
 *
 * @module
 */
import type { Frame } from "../protocol.ts";
import type { SendOutcome } from "./queue.ts";
import { nextTurn } from "./_turn.ts";

/**
 * Anything that takes frames (a connection's queue).
 *
 * @example
 * ```ts
 * const target: FanoutTarget = new OutboundQueue(sink);
 * await fanout("lobby", [target], frame({ t: "pong" }));
 * ```
 */
export interface FanoutTarget {
  /** Offer one frame; `binary` picks the binary byte budget. Returns what happened to it. */
  send(frame: Frame, binary?: boolean): SendOutcome;
}

/**
 * Fanout settings.
 *
 * @example
 * ```ts
 * const opts: FanoutOptions = { turnBudget: 8192, logThreshold: 5000, log: (line) => console.info(line) };
 * ```
 */
export interface FanoutOptions {
  /**
   * Hub: work units per event-loop turn before it yields (default 16,384). A delivery to one member costs 1, a
   * message, join or event 16; the budget is shared by every room and message of the turn, so a burst of any shape
   * (one huge room, thousands of small ones, many messages) keeps timers and I/O running.
   */
  turnBudget?: number;
  /** {@link fanout} (the standalone helper): members per turn before yielding (default 512). */
  chunkSize?: number;
  /** Rooms with at least this many members get one log line per fanout (default 1000). */
  logThreshold?: number;
  /** Where log lines go (default `console.info`). */
  log?: (line: string) => void;
}

/**
 * Counts of one fanout: one per {@link SendOutcome} of the members' queues.
 *
 * @example
 * ```ts
 * const r: FanoutResult = await fanout("lobby", members, f);
 * if (r.dropped > 0) console.warn(`${r.dropped} of ${r.members} members over budget`);
 * ```
 */
export interface FanoutResult {
  /** Members the frame was offered to. */
  members: number;
  /** Frames queued. */
  accepted: number;
  /** Frames refused by a queue over its byte budget. */
  dropped: number;
  /** Frames that replaced a queued frame with the same coalesce key. */
  coalesced: number;
  /** Members whose connection was already closed. */
  closed: number;
  /** Members that already had this seq of the room. */
  stale: number;
  /** Turns used (chunks). */
  chunks: number;
  /** Wall time of the whole walk, in milliseconds. */
  ms: number;
}

/**
 * Yield to the event loop (a macrotask, so due timers and I/O run first).
 *
 * @example
 * ```ts
 * for (const chunk of chunks) {
 *   work(chunk);
 *   await yieldTurn();
 * }
 * ```
 */
export const yieldTurn = (): Promise<void> => new Promise((r) => nextTurn(r));

/**
 * Offer `frame` to every member, `chunkSize` per turn. Members that leave during the walk are skipped; the frame
 * is never re-serialized.
 *
 * @example
 * ```ts
 * const result = await fanout("lobby", registry.members("lobby").values(), messageFrame(msg), { chunkSize: 512 });
 * console.log(result.accepted, result.dropped);
 * ```
 */
export async function fanout(
  room: string,
  members: Iterable<FanoutTarget>,
  frame: Frame,
  opts: FanoutOptions & { binary?: boolean } = {},
): Promise<FanoutResult> {
  const chunkSize = Math.max(1, opts.chunkSize ?? 512);
  const started = Date.now();
  const r: FanoutResult = { members: 0, accepted: 0, dropped: 0, coalesced: 0, closed: 0, stale: 0, chunks: 1, ms: 0 };
  let inChunk = 0;
  for (const m of members) {
    if (inChunk === chunkSize) {
      inChunk = 0;
      r.chunks++;
      await yieldTurn();
    }
    inChunk++;
    r.members++;
    r[m.send(frame, opts.binary)]++;
  }
  r.ms = Date.now() - started;
  if (r.members >= (opts.logThreshold ?? 1000)) {
    (opts.log ?? console.info)(
      `edgeplane fanout room=${JSON.stringify(room).slice(0, 80)} members=${r.members} ms=${r.ms} chunks=${r.chunks} dropped=${r.dropped} closed=${r.closed}`,
    );
  }
  return r;
}
