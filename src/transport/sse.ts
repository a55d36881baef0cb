/**
 * Server-Sent Events transport on web standards: a `ReadableStream` served as `text/event-stream`, client → server
 * frames by `POST`.
 *
 * Wire format (one stream per connection):
 * - first `retry: <ms>` and an `event: session` whose data is `{"token","conn"}`: POST client frames (one JSON frame
 *   per line) to the session URL (`/sse/<token>` with the Hono routes). The token is a secret separate from the
 *   connection id, so knowing someone's connection id does not let you speak for it.
 * - every hub frame as `data: <json>`; `msg` frames also carry `id: <seq>`.
 * - a comment line (`: hb`) every `heartbeatMs` while idle, so proxies keep the stream open.
 * - on close an `event: error` with `{"t":"error","code","message","closeCode"}` (`SLOW_CONSUMER` and 4008 for a slow
 *   consumer); a client that does not drain the stream within `closeGraceMs` is cut off.
 *
 * Rooms joined when the stream opens come from the URL: `room=<name>` (repeatable) and `resume=<seq>:<name>`
 * (repeatable, resume after `seq`). The standard `Last-Event-ID` header (sent by `EventSource` on reconnect) resumes
 * the room when exactly one `room=` is given. Backpressure: bytes enqueued but not yet pulled by the HTTP server
 * count as the connection's buffered bytes, so a client that stops reading goes over budget and is closed.
 *
 * @module
 */
import type { Hub } from "../hub.ts";
import type { FrameSink } from "../local/queue.ts";
import type { Frame } from "../protocol.ts";
import { randomId } from "../_utf8.ts";
import type { Connection, TransportOptions } from "./connection.ts";
import { frameReceiver } from "./_receiver.ts";
import { joinFrames, jsonError, receivePost } from "./_http.ts";
import { refusalResponse } from "./admission.ts";

/**
 * Options of {@link SseTransport}.
 *
 * @example
 * ```ts
 * const opts: SseOptions = { heartbeatMs: 15_000, retryMs: 2000, closeGraceMs: 1000 };
 * ```
 */
export interface SseOptions extends TransportOptions {
  /** Comment heartbeat interval while idle (default 15000 ms). */
  heartbeatMs?: number;
  /** `retry:` hint for `EventSource` reconnects (default 2000 ms). */
  retryMs?: number;
  /** After a close, how long a client may take to drain the stream before it is cut off (default 1000 ms). */
  closeGraceMs?: number;
  /**
   * Prepended to every session token (default none), so a router in front of several hubs can send a session's
   * POSTs to the hub that holds it (the Cloudflare adapter puts the shard there).
   */
  tokenPrefix?: string;
}

interface Session {
  conn: Connection;
  receive: (text: string) => Promise<void>;
}

const enc = new TextEncoder();

/**
 * SSE sessions of one hub.
 *
 * @example
 * ```ts
 * const sse = new SseTransport(hub, { heartbeatMs: 15_000 });
 * // GET /sse            → sse.open(request)
 * // POST /sse/:token    → sse.post(token, request)
 * ```
 */
export class SseTransport {
  readonly #hub: Hub;
  readonly #opts: SseOptions;
  readonly #sessions = new Map<string, Session>();

  /** SSE sessions on `hub`; mount `open` and `post` on your routes (or use `edgeplaneRoutes`). */
  constructor(hub: Hub, opts: SseOptions = {}) {
    this.#hub = hub;
    this.#opts = opts;
  }

  /** Open sessions. */
  get size(): number {
    return this.#sessions.size;
  }

  /**
   * Open a stream for `request` (a `GET`); joins the rooms named in its URL. `identity` becomes the connection's
   * (see `authenticate` of the routes). A connection the hub refuses (node full, identity over its limit, draining)
   * is answered 503 / 429 with the error code, and no session is opened.
   *
   * @example
   * ```ts
   * app.get("/sse", (c) => sse.open(c.req.raw, { data: c.req.raw }));
   * ```
   */
  open(request: Request, opts: { data?: unknown; identity?: unknown } = {}): Response {
    const hub = this.#hub;
    const token = (this.#opts.tokenPrefix ?? "") + randomId();
    const heartbeatMs = this.#opts.heartbeatMs ?? 15_000;
    const graceMs = this.#opts.closeGraceMs ?? 1000;
    let ctrl!: ReadableStreamDefaultController<Uint8Array>;
    let ended = false;
    let hb: ReturnType<typeof setInterval> | undefined;
    const queued = (): number => {
      const d = ctrl.desiredSize;
      return d === null ? 0 : Math.max(0, -d);
    };
    const finish = () => {
      ended = true;
      if (hb !== undefined) clearInterval(hb);
      hb = undefined;
      this.#sessions.delete(token);
    };
    const stream = new ReadableStream<Uint8Array>(
      {
        start(c) {
          ctrl = c;
        },
        cancel() {
          finish();
          hub.disconnect(conn.id, 1000, "client went away");
        },
      },
      { highWaterMark: 0, size: (chunk) => chunk.byteLength },
    );
    const sink: FrameSink = {
      write(frames: readonly Frame[]): void {
        if (ended) return;
        let out = "";
        for (const f of frames) out += f.seq !== undefined && f.room !== undefined ? `id: ${f.seq}\ndata: ${f.text}\n\n` : `data: ${f.text}\n\n`;
        ctrl.enqueue(enc.encode(out));
      },
      close(code: number, reason: string): void {
        if (ended) return;
        finish();
        const err = { t: "error", code: code === 4008 ? "SLOW_CONSUMER" : "CLOSED", message: reason, closeCode: code };
        try {
          ctrl.enqueue(enc.encode(`event: error\ndata: ${JSON.stringify(err)}\n\n`));
          ctrl.close();
        } catch {
          return; // stream already gone
        }
        // A client that has not drained the stream (a slow consumer, typically) is cut off after the grace period.
        setTimeout(() => {
          if ((ctrl.desiredSize ?? 0) < 0) {
            try {
              ctrl.error(new Error(reason));
            } catch { /* already closed */ }
          }
        }, graceMs);
      },
      bufferedAmount: queued,
    };
    let conn: Connection;
    try {
      conn = hub.connect(sink, { queue: this.#opts.queue, data: opts.data, identity: opts.identity });
    } catch (err) {
      return refusalResponse(err);
    }
    ctrl.enqueue(enc.encode(`retry: ${this.#opts.retryMs ?? 2000}\n\n`));
    const receive = frameReceiver(hub, conn, this.#opts.authorize);
    this.#sessions.set(token, { conn, receive });
    ctrl.enqueue(enc.encode(`event: session\ndata: ${JSON.stringify({ token, conn: conn.id })}\n\n`));
    if (heartbeatMs > 0) {
      hb = setInterval(() => {
        if (!ended && queued() === 0) {
          try {
            ctrl.enqueue(enc.encode(": hb\n\n"));
          } catch { /* closing */ }
        }
      }, heartbeatMs);
    }
    request.signal?.addEventListener("abort", () => {
      if (!ended) {
        finish();
        hub.disconnect(conn.id, 1000, "client went away");
      }
    });
    const url = new URL(request.url);
    for (const j of joinFrames(url, request.headers.get("last-event-id") ?? url.searchParams.get("lastEventId"))) void receive(j);
    return new Response(stream, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache, no-store, no-transform",
        "x-accel-buffering": "no",
      },
    });
  }

  /**
   * Client → server frames of a session (`POST`, one JSON frame per line). Replies (acks, errors) arrive on the
   * stream; the response is `202 {"ok":true,"frames":n}`, `404` for an unknown session, `413` for an oversized body.
   *
   * @example
   * ```ts
   * app.post("/sse/:token", (c) => sse.post(c.req.param("token"), c.req.raw));
   * ```
   */
  post(token: string, request: Request): Promise<Response> {
    const s = this.#sessions.get(token);
    if (!s) return Promise.resolve(jsonError(404, "UNKNOWN_CONNECTION", "no such SSE session (closed or never opened)"));
    return receivePost(request, s.conn, s.receive);
  }

  /**
   * Close every session (each client gets an `event: error` with `CLOSED`).
   *
   * @example
   * ```ts
   * sse.close();
   * ```
   */
  close(): void {
    for (const s of [...this.#sessions.values()]) s.conn.close(1001, "server closing");
  }
}
