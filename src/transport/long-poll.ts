/**
 * Long-poll transport on web standards, for clients where neither WebSocket nor a streaming response gets through.
 *
 * - `GET /poll` (no `session`) opens a session, joins the URL's rooms (`room=`, `resume=<seq>:<room>`, as for SSE)
 *   and answers at once with the first frames.
 * - `GET /poll?session=<token>&cursor=<n>[&wait=<ms>]` answers with the frames after `cursor`, waiting up to `wait`
 *   ms (capped at `maxWaitMs`) when there are none yet. Every server frame of a session gets a number; `cursor` is
 *   the highest number the client has processed, so a lost response is simply fetched again (frames are dropped only
 *   once acknowledged by a later cursor). A newer poll of the same session ends an older waiting one (empty answer).
 * - Answer: `{"session","cursor","frames":[...],"closed"?:{"code","reason"}}` — `closed` is sent once when the session
 *   was closed (e.g. `4008` slow consumer); unknown sessions get `404` (start a new session and resume by seq).
 * - `POST /poll/<token>`: client frames, one JSON frame per line (as for SSE); `DELETE /poll/<token>` ends the session.
 *
 * Backpressure: unacknowledged frames count as the connection's buffered bytes, so a poller that falls behind goes
 * over budget and is closed as a slow consumer; a poller that stops polling for `idleMs` is closed (code 4009).
 *
 * @module
 */
import type { Hub } from "../hub.ts";
import type { FrameSink } from "../local/queue.ts";
import type { Frame } from "../protocol.ts";
import { randomId } from "../_utf8.ts";
import type { Connection, TransportOptions } from "./connection.ts";
import { nextTurn } from "../local/_turn.ts";
import { frameReceiver } from "./_receiver.ts";
import { json, joinFrames, jsonError, receivePost } from "./_http.ts";
import { refusalResponse } from "./admission.ts";

/**
 * Options of {@link LongPollTransport}.
 *
 * @example
 * ```ts
 * const opts: LongPollOptions = { maxWaitMs: 25_000, idleMs: 30_000, maxResponseBytes: 256 * 1024 };
 * ```
 */
export interface LongPollOptions extends TransportOptions {
  /** Longest wait of one poll (default 25000 ms); the client's `wait` is capped by it. */
  maxWaitMs?: number;
  /** A session without a poll for this long is closed (default 30000 ms). */
  idleMs?: number;
  /** Most bytes of frames in one answer (default 256 KiB; at least one frame is always sent). */
  maxResponseBytes?: number;
  /** Close code for vanished pollers (default 4009). */
  idleCloseCode?: number;
  /** Prepended to every session token (default none), so a router in front of several hubs can route by it. */
  tokenPrefix?: string;
}

interface Held {
  n: number;
  text: string;
  bytes: number;
}

interface Waiter {
  resolve: (r: Response) => void;
  timer: ReturnType<typeof setTimeout>;
}

class Session {
  frames: Held[] = [];
  bytes = 0;
  next = 1;
  waiter: Waiter | undefined;
  idleTimer: ReturnType<typeof setTimeout> | undefined;
  closed: { code: number; reason: string } | undefined;
  conn!: Connection;
  receive!: (text: string) => Promise<void>;
  constructor(readonly token: string) {}

  ack(cursor: number): void {
    let i = 0;
    while (i < this.frames.length && this.frames[i].n <= cursor) this.bytes -= this.frames[i++].bytes;
    if (i > 0) this.frames.splice(0, i);
  }

  answer(maxBytes: number): Response {
    let n = 0, size = 0, cursor = this.next - 1;
    const texts: string[] = [];
    for (const f of this.frames) {
      if (n > 0 && size + f.bytes > maxBytes) {
        cursor = f.n - 1;
        break;
      }
      texts.push(f.text);
      size += f.bytes;
      n++;
    }
    if (n === this.frames.length) cursor = this.next - 1;
    let body = `{"session":${JSON.stringify(this.token)},"cursor":${cursor},"frames":[${texts.join(",")}]`;
    if (this.closed && n === this.frames.length) body += `,"closed":${JSON.stringify(this.closed)}`;
    body += "}";
    return new Response(body, { headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" } });
  }
}

/**
 * Long-poll sessions of one hub.
 *
 * @example
 * ```ts
 * const poll = new LongPollTransport(hub, { maxWaitMs: 25_000 });
 * // GET /poll           → poll.poll(request)
 * // POST /poll/:token   → poll.post(token, request)
 * ```
 */
export class LongPollTransport {
  readonly #hub: Hub;
  readonly #opts: Required<Omit<LongPollOptions, "queue" | "authorize">> & LongPollOptions;
  readonly #sessions = new Map<string, Session>();

  /** Long-poll sessions on `hub`; mount `poll`, `post` and `end` on your routes (or use `edgeplaneRoutes`). */
  constructor(hub: Hub, opts: LongPollOptions = {}) {
    this.#hub = hub;
    this.#opts = { maxWaitMs: 25_000, idleMs: 30_000, maxResponseBytes: 256 * 1024, idleCloseCode: 4009, tokenPrefix: "", ...definedOnly(opts) };
  }

  /** Open sessions. */
  get size(): number {
    return this.#sessions.size;
  }

  /**
   * Handle a `GET` poll (opens a session when the URL has no `session`; `identity` becomes the new connection's,
   * and a connection the hub refuses is answered 503 / 429 with the error code).
   *
   * @example
   * ```ts
   * app.get("/poll", (c) => poll.poll(c.req.raw, { data: c.req.raw }));
   * ```
   */
  poll(request: Request, opts: { data?: unknown; identity?: unknown } = {}): Promise<Response> {
    const url = new URL(request.url);
    const token = url.searchParams.get("session");
    if (token === null) return this.#open(url, opts.data, opts.identity);
    const s = this.#sessions.get(token);
    if (!s) return Promise.resolve(jsonError(404, "UNKNOWN_CONNECTION", "no such poll session (closed or expired)"));
    const cursor = Number(url.searchParams.get("cursor") ?? "0");
    if (!Number.isSafeInteger(cursor) || cursor < 0) return Promise.resolve(jsonError(400, "BAD_FRAME", "cursor must be a non-negative integer"));
    const waitParam = Number(url.searchParams.get("wait") ?? this.#opts.maxWaitMs);
    const wait = Math.max(0, Math.min(Number.isFinite(waitParam) ? waitParam : 0, this.#opts.maxWaitMs));
    this.#endWaiter(s); // a newer poll supersedes a waiting one
    this.#touch(s, false);
    s.ack(cursor);
    if (s.frames.length > 0 || s.closed || wait === 0) return Promise.resolve(this.#respond(s));
    return new Promise<Response>((resolve) => {
      const waiter: Waiter = { resolve, timer: setTimeout(() => this.#endWaiter(s), wait) };
      s.waiter = waiter;
      // The poller went away mid-wait: end this wait (only this one; a newer poll may be waiting by now).
      request.signal?.addEventListener("abort", () => {
        if (s.waiter === waiter) this.#endWaiter(s);
      });
    });
  }

  /**
   * Client → server frames of a session (`POST`, one JSON frame per line); replies arrive by poll.
   *
   * @example
   * ```ts
   * app.post("/poll/:token", (c) => poll.post(c.req.param("token"), c.req.raw));
   * ```
   */
  post(token: string, request: Request): Promise<Response> {
    const s = this.#sessions.get(token);
    if (!s || s.closed) return Promise.resolve(jsonError(404, "UNKNOWN_CONNECTION", "no such poll session (closed or expired)"));
    return receivePost(request, s.conn, s.receive);
  }

  /**
   * End a session at the client's request (`DELETE /poll/<token>`): closes the connection right away instead of
   * waiting for the idle timeout. `204`, or `404` for an unknown session.
   *
   * @example
   * ```ts
   * app.delete("/poll/:token", (c) => poll.end(c.req.param("token")));
   * ```
   */
  end(token: string): Response {
    const s = this.#sessions.get(token);
    if (!s) return jsonError(404, "UNKNOWN_CONNECTION", "no such poll session (closed or expired)");
    this.#endWaiter(s);
    s.conn.close(1000, "client closed");
    this.#forget(s);
    return new Response(null, { status: 204 });
  }

  /**
   * Close every session.
   *
   * @example
   * ```ts
   * poll.close();
   * ```
   */
  close(): void {
    for (const s of [...this.#sessions.values()]) {
      s.conn.close(1001, "server closing");
      this.#forget(s);
    }
  }

  async #open(url: URL, data: unknown, identity: unknown): Promise<Response> {
    const s = new Session(this.#opts.tokenPrefix + randomId());
    const sink: FrameSink = {
      write: (frames: readonly Frame[]): void => {
        if (s.closed) return;
        for (const f of frames) {
          s.frames.push({ n: s.next++, text: f.text, bytes: f.bytes });
          s.bytes += f.bytes;
        }
        if (s.waiter) this.#endWaiter(s);
      },
      close: (code: number, reason: string): void => {
        if (s.closed) return;
        s.closed = { code, reason };
        s.frames = [];
        s.bytes = 0;
        if (s.waiter) this.#endWaiter(s);
        else this.#touch(s, true); // keep the close notice until the next poll or the idle timeout
      },
      bufferedAmount: (): number => s.bytes,
    };
    try {
      s.conn = this.#hub.connect(sink, { queue: this.#opts.queue, data, identity });
    } catch (err) {
      return refusalResponse(err);
    }
    s.receive = frameReceiver(this.#hub, s.conn, this.#opts.authorize);
    this.#sessions.set(s.token, s);
    for (const j of joinFrames(url)) void s.receive(j);
    this.#touch(s, true);
    // Queues write at the start of the next turn: wait for that write, so the first answer carries the welcome frame
    // (and what the joins of the URL answered in this turn) with the session token.
    await new Promise<void>((r) => nextTurn(r));
    return this.#respond(s);
  }

  #respond(s: Session): Response {
    const r = s.answer(this.#opts.maxResponseBytes);
    if (s.closed && s.frames.length === 0) this.#forget(s);
    else this.#touch(s, true);
    return r;
  }

  #endWaiter(s: Session): void {
    const w = s.waiter;
    if (!w) return;
    s.waiter = undefined;
    clearTimeout(w.timer);
    w.resolve(this.#respond(s));
  }

  /** (Re)arm the idle timer when no poll is waiting; clear it while one is. */
  #touch(s: Session, idle: boolean): void {
    if (s.idleTimer !== undefined) clearTimeout(s.idleTimer);
    s.idleTimer = undefined;
    if (!idle) return;
    s.idleTimer = setTimeout(() => {
      s.idleTimer = undefined;
      if (s.waiter) return;
      if (s.closed) this.#forget(s);
      else {
        s.conn.close(this.#opts.idleCloseCode, "poller went away");
        this.#forget(s);
      }
    }, this.#opts.idleMs);
  }

  #forget(s: Session): void {
    if (s.idleTimer !== undefined) clearTimeout(s.idleTimer);
    s.idleTimer = undefined;
    this.#sessions.delete(s.token);
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
