// Test doubles for transports: a sink that records frames, and can stop "reading" (bytes pile up below the queue).
import type { FrameSink } from "../../src/local/queue.ts";
import type { Frame, ServerFrame } from "../../src/protocol.ts";

/** Resolves at the start of the next event-loop turn: after the queues' end-of-turn flush scheduled before it. */
export const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

export class RecordingSink implements FrameSink {
  frames: ServerFrame[] = [];
  texts: string[] = [];
  batches = 0;
  closed: { code: number; reason: string } | undefined;
  /** When true, written bytes stay "in the socket" (bufferedAmount grows) like a client that stopped reading. */
  stalled = false;
  #buffered = 0;

  write(frames: readonly Frame[]): void {
    this.batches++;
    for (const f of frames) {
      if (this.stalled) this.#buffered += f.bytes;
      this.texts.push(f.text);
      this.frames.push(JSON.parse(f.text));
    }
  }
  close(code: number, reason: string): void {
    this.closed = { code, reason };
  }
  bufferedAmount(): number {
    return this.#buffered;
  }
  /** `msg` frames of a room. */
  messages(room?: string): Extract<ServerFrame, { t: "msg" }>[] {
    return this.frames.filter((f): f is Extract<ServerFrame, { t: "msg" }> => f.t === "msg" && (room === undefined || f.room === room));
  }
  ofType<T extends ServerFrame["t"]>(t: T): Extract<ServerFrame, { t: T }>[] {
    return this.frames.filter((f): f is Extract<ServerFrame, { t: T }> => f.t === t);
  }
}
