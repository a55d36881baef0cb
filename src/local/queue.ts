/**
 * Per-connection outbound queue: a byte budget (UTF-8 bytes of queued frames plus what the transport still buffers),
 * explicit outcomes for every frame, slow-consumer close, and one batched write per event-loop turn: every queue
 * that took frames in a turn is written once at the start of the next turn (after due I/O), so a burst of messages
 * to a connection costs one transport write, not one per frame.
 *
 * @module
 */
import type { Frame } from "../protocol.ts";
import { nextTurn } from "./_turn.ts";

/**
 * What happened to a frame offered to a connection.
 *
 * @example
 * ```ts
 * const outcome: SendOutcome = queue.send(frame({ t: "pong" }));
 * if (outcome === "dropped") console.warn("over budget: the client will see a seq gap and resume");
 * ```
 */
export type SendOutcome =
  /** Queued; it will be written in this turn's batch. */
  | "accepted"
  /** Over the byte budget: not queued. The client sees the seq gap and can resume. */
  | "dropped"
  /** Replaced a queued frame with the same `coalesceKey`. */
  | "coalesced"
  /** The connection is closed. */
  | "closed"
  /** A `msg` frame at or below the seq this connection already has for the room. */
  | "stale";

/**
 * Where a queue writes: the transport (ws, sse, long-poll, a test double).
 *
 * @example
 * ```ts
 * const sink: FrameSink = {
 *   write: (frames) => frames.forEach((f) => console.log(f.text)),
 *   close: (code, reason) => console.log("closed", code, reason),
 * };
 * const conn = hub.connect(sink);
 * ```
 */
export interface FrameSink {
  /** Write a batch of frames (everything queued this turn, in order). */
  write(frames: readonly Frame[]): void;
  /** Close the underlying transport with a code and a reason. */
  close(code: number, reason: string): void;
  /** Bytes the transport still holds below us (e.g. `WebSocket.bufferedAmount`). */
  bufferedAmount?(): number;
}

/**
 * Queue settings.
 *
 * @example
 * ```ts
 * const opts: QueueOptions = { budgetBytes: 256 * 1024, slowConsumerMs: 5000 };
 * const queue = new OutboundQueue(sink, opts);
 * ```
 */
export interface QueueOptions {
  /** Byte budget for text frames (default 1 MiB). */
  budgetBytes?: number;
  /** Byte budget when the frame carries a binary payload (default 4 MiB). */
  binaryBudgetBytes?: number;
  /** Over budget for longer than this → closed as slow consumer (default 2000 ms). */
  slowConsumerMs?: number;
  /** Close code used for slow consumers (default 4008). */
  slowConsumerCode?: number;
  /** Clock (ms), injectable for tests. */
  now?: () => number;
}

/**
 * Defaults of {@link QueueOptions}.
 *
 * @example
 * ```ts
 * console.log(DEFAULT_QUEUE.budgetBytes, DEFAULT_QUEUE.slowConsumerCode); // 1048576 4008
 * ```
 */
export const DEFAULT_QUEUE: Required<Omit<QueueOptions, "now">> = {
  budgetBytes: 1024 * 1024,
  binaryBudgetBytes: 4 * 1024 * 1024,
  slowConsumerMs: 2000,
  slowConsumerCode: 4008,
};

/**
 * A connection's outbound queue.
 *
 * @example
 * ```ts
 * const q = new OutboundQueue({ write: (fs) => fs.forEach((f) => socket.send(f.text)), close: (c, r) => socket.close(c, r) });
 * q.send(frame({ t: "pong" })); // "accepted"; written in one batch at the end of the tick
 * ```
 */
export class OutboundQueue {
  readonly #sink: FrameSink;
  readonly #opts: Required<Omit<QueueOptions, "now">>;
  readonly #now: () => number;
  #pending: Frame[] = [];
  #pendingBytes = 0;
  /** Transport bytes as last read (after each write; re-read before any drop): one read per batch, not per frame. */
  #sinkBytes = 0;
  #coalesce: Map<string, number> | undefined;
  #scheduled = false;
  #closed = false;
  #overSince: number | undefined;
  #slowTimer: ReturnType<typeof setTimeout> | undefined;
  /** Last seq per room: the first room inline (most connections are in one), others in a map made on demand. */
  #room0: string | undefined;
  #seq0 = 0;
  #rooms: Map<string, number> | undefined;
  /** Called once when the queue closes (by `close()` or as a slow consumer). */
  onClose: ((code: number, reason: string) => void) | undefined;

  readonly #flushes: FlushGroup;

  /**
   * A queue that writes to `sink`. Queues of one `flushes` group are flushed together once per turn (default: one
   * group per process; a hub passes its own, so that in a Workers isolate one Durable Object never runs another's
   * socket writes).
   */
  constructor(sink: FrameSink, opts: QueueOptions = {}, flushes: FlushGroup = SHARED_FLUSHES) {
    this.#flushes = flushes;
    this.#sink = sink;
    this.#opts = resolved(opts);
    this.#now = opts.now ?? Date.now;
  }

  /** Queued bytes plus what the transport still buffers. */
  get bufferedBytes(): number {
    return this.#pendingBytes + this.#readSink();
  }

  /** True once the queue closed (by `close()` or as a slow consumer); later sends return `"closed"`. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Highest seq accepted for `room` on this connection. */
  lastSeq(room: string): number | undefined {
    return room === this.#room0 ? this.#seq0 : this.#rooms?.get(room);
  }

  /** Set the seq this connection is known to have for `room` (e.g. after a resume). */
  setLastSeq(room: string, seq: number): void {
    if (room === this.#room0) this.#seq0 = seq;
    else if (this.#room0 === undefined) {
      this.#room0 = room;
      this.#seq0 = seq;
      this.#rooms?.delete(room);
    } else (this.#rooms ??= new Map()).set(room, seq);
  }

  /** Forget a room's seq (after leave). */
  forgetRoom(room: string): void {
    if (room === this.#room0) this.#room0 = undefined;
    else this.#rooms?.delete(room);
  }

  /** Offer a frame; never throws, never blocks. */
  send(f: Frame, binary = false): SendOutcome {
    if (this.#closed) return "closed";
    const room = f.room;
    if (room !== undefined && f.seq !== undefined) {
      const last = room === this.#room0 ? this.#seq0 : this.#rooms?.get(room);
      if (last !== undefined && f.seq <= last) return "stale";
    }
    const key = f.coalesceKey;
    if (key !== undefined && this.#coalesce !== undefined) {
      const at = this.#coalesce.get(key);
      if (at !== undefined) {
        this.#pendingBytes += f.bytes - this.#pending[at].bytes;
        this.#pending[at] = f;
        return "coalesced";
      }
    }
    const budget = binary ? this.#opts.binaryBudgetBytes : this.#opts.budgetBytes;
    if (this.#pendingBytes + this.#sinkBytes + f.bytes > budget && !this.#fits(f.bytes, budget)) {
      this.#overBudget();
      return this.#closed ? "closed" : "dropped";
    }
    if (key !== undefined) (this.#coalesce ??= new Map()).set(key, this.#pending.length);
    this.#pending.push(f);
    this.#pendingBytes += f.bytes;
    if (room !== undefined && f.seq !== undefined) {
      if (room === this.#room0) this.#seq0 = f.seq;
      else this.setLastSeq(room, f.seq);
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      this.#flushes.add(this);
    }
    return "accepted";
  }

  /** Write everything queued now, in one batch. Called automatically once per event-loop turn. */
  flush(): void {
    this.#scheduled = false;
    if (this.#closed || this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#coalesce = undefined;
    try {
      this.#sink.write(batch);
    } catch {
      this.close(1011, "write failed");
      return;
    }
    const buffered = this.#readSink();
    // Recovered only below half the budget: small frames that still squeeze in under a full budget must not keep
    // resetting the slow-consumer deadline of a consumer that has stopped reading.
    if (this.#overSince !== undefined && buffered <= this.#opts.budgetBytes * 0.5) this.#clearOver();
  }

  /** Close the queue and the transport; pending frames are discarded. Idempotent. */
  close(code = 1000, reason = "closed"): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#clearOver();
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#coalesce = undefined;
    try {
      this.#sink.close(code, reason);
    } catch { /* transport already gone */ }
    this.onClose?.(code, reason);
  }

  /** Flush what is queued, then close. */
  end(code = 1000, reason = "closed"): void {
    this.flush();
    this.close(code, reason);
  }

  /**
   * Over budget by the cached count: re-read the transport (it only shrinks between our writes), and if what is
   * over is this turn's own batch, write it now: a consumer that keeps up never loses a frame to batching.
   */
  #fits(bytes: number, budget: number): boolean {
    if (this.#pendingBytes + this.#readSink() + bytes <= budget) return true;
    if (this.#pending.length === 0) return false;
    this.flush();
    return !this.#closed && this.#pendingBytes + this.#sinkBytes + bytes <= budget;
  }

  #readSink(): number {
    let n = 0;
    try {
      n = this.#sink.bufferedAmount?.() ?? 0;
    } catch { /* transport gone: nothing buffered */ }
    this.#sinkBytes = n;
    return n;
  }

  #overBudget(): void {
    const now = this.#now();
    if (this.#overSince === undefined) {
      this.#overSince = now;
      this.#slowTimer = setTimeout(() => this.#checkSlow(), this.#opts.slowConsumerMs);
    } else if (now - this.#overSince >= this.#opts.slowConsumerMs) {
      this.close(this.#opts.slowConsumerCode, "slow consumer");
    }
  }

  #checkSlow(): void {
    this.#slowTimer = undefined;
    if (this.#closed || this.#overSince === undefined) return;
    if (this.bufferedBytes <= this.#opts.budgetBytes * 0.5) {
      this.#clearOver();
      return;
    }
    this.close(this.#opts.slowConsumerCode, "slow consumer");
  }

  #clearOver(): void {
    this.#overSince = undefined;
    if (this.#slowTimer !== undefined) clearTimeout(this.#slowTimer);
    this.#slowTimer = undefined;
  }
}

/**
 * One flush pass per turn for every queue of the group that took frames (instead of one scheduled callback per
 * connection).
 *
 * @example
 * ```ts
 * const group = new FlushGroup();
 * const q = new OutboundQueue(sink, {}, group);
 * ```
 */
export class FlushGroup {
  #dirty: OutboundQueue[] = [];
  readonly #run = (): void => {
    const batch = this.#dirty;
    this.#dirty = [];
    for (let i = 0; i < batch.length; i++) batch[i].flush();
  };

  /** Flush `q` at the start of the next turn, with the others of this group. */
  add(q: OutboundQueue): void {
    if (this.#dirty.push(q) === 1) nextTurn(this.#run);
  }
}
const SHARED_FLUSHES = new FlushGroup();

// Resolved settings are shared by every queue built from the same options object (one per hub or transport).
const resolvedCache = new WeakMap<QueueOptions, Required<Omit<QueueOptions, "now">>>();
const DEFAULTS: Required<Omit<QueueOptions, "now">> = { ...DEFAULT_QUEUE };
function resolved(opts: QueueOptions): Required<Omit<QueueOptions, "now">> {
  let r = resolvedCache.get(opts);
  if (!r) {
    const own = stripUndefined(opts);
    delete (own as QueueOptions).now;
    r = Object.keys(own).length === 0 ? DEFAULTS : { ...DEFAULT_QUEUE, ...own };
    resolvedCache.set(opts, r);
  }
  return r;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
