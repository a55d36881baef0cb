/**
 * Hono routes that mount a hub on any runtime Hono runs on:
 *
 * | route                 | what                                                                   |
 * | --------------------- | ---------------------------------------------------------------------- |
 * | `GET  /ws`            | WebSocket upgrade (needs the runtime's `upgradeWebSocket`)             |
 * | `GET  /sse`           | Server-Sent Events stream (`room=`, `resume=<seq>:<room>`, `Last-Event-ID`) |
 * | `POST /sse/:token`    | client frames for an SSE session (one JSON frame per line)             |
 * | `GET  /poll`          | long-poll (`session`, `cursor`, `wait`; opens a session without one)   |
 * | `POST /poll/:token`   | client frames for a long-poll session                                  |
 * | `DELETE /poll/:token` | end a long-poll session                                                |
 * | `POST /publish?room=` | server-side publish of the request body (only with `publishRoute`)     |
 * | `GET  /metrics`       | hub counters as JSON, or Prometheus text with `?format=prometheus` (only with `metricsRoute`) |
 *
 * Before a WebSocket upgrade, an SSE stream or a long-poll session, the request's `Origin` is checked
 * (`allowedOrigins`, default same-origin: 403 `FORBIDDEN_ORIGIN`), then `authenticate(request)` (401
 * `UNAUTHENTICATED`), then the hub's connection limits (503 `LIMIT_CONNECTIONS`, 429 `LIMIT_SESSIONS`); the POSTs and
 * DELETEs of a session are origin-checked too. `authorize(request, room, action, identity)` is asked for every join
 * and publish (the upgrade / stream-opening request is the one passed, `identity` what `authenticate` returned); a
 * denial is answered with a `FORBIDDEN` error frame carrying the frame's `ref` and `room`.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { Hub } from "edgeplane";
 * import { edgeplaneRoutes } from "edgeplane/adapters/hono";
 * import { serve, upgradeWebSocket } from "edgeplane/adapters/node";
 *
 * const hub = new Hub();
 * const routes = edgeplaneRoutes(hub, { upgradeWebSocket, metricsRoute: true });
 * await serve(new Hono().route("/", routes.app), { drain: hub });
 * ```
 *
 * @module
 */
import { Hono } from "hono";
import type * as hono from "hono";
import type { WSContext } from "hono/ws";
import { EdgeplaneError } from "../src/errors.ts";
import { askAuthorize } from "../src/_authorize.ts";
import type { Hub, HubAction } from "../src/hub.ts";
import { prometheusText } from "../src/metrics.ts";
import type { QueueOptions } from "../src/local/queue.ts";
import type { ConnectionAuthorizer } from "../src/transport/connection.ts";
import { LongPollTransport, type LongPollOptions } from "../src/transport/long-poll.ts";
import { SseTransport, type SseOptions } from "../src/transport/sse.ts";
import { webSocketConnection, type WebSocketHandlers } from "../src/transport/websocket.ts";
import { admit, type AdmissionOptions, checkOrigin } from "../src/transport/admission.ts";
import { errorFrame } from "../src/protocol.ts";
import { socketOf } from "./_ws-writers.ts";
import type { UpgradeWebSocket } from "./_serve.ts";

export type { UpgradeWebSocket };

/**
 * The type of {@link EdgeplaneRoutes.app}: a `Hono` app of the `hono` package, ready for `app.route(prefix, …)`.
 *
 * @example
 * ```ts
 * const app: HonoApp = edgeplaneRoutes(hub).app;
 * new Hono().route("/rt", app);
 * ```
 */
export type HonoApp = hono.Hono;

/**
 * Options of {@link edgeplaneRoutes}.
 *
 * @example
 * ```ts
 * const opts: EdgeplaneRoutesOptions = { upgradeWebSocket, authorize: (req, room) => room !== "staff", metricsRoute: true };
 * ```
 */
export interface EdgeplaneRoutesOptions extends AdmissionOptions {
  /** The runtime's Hono WebSocket helper (`adapters/node.ts`, `deno.ts`, `bun.ts` re-export it). Without it `/ws` is not mounted. */
  upgradeWebSocket?: UpgradeWebSocket;
  /**
   * Allow or deny a join / publish for the request that opened the connection (and the `identity` `authenticate`
   * returned for it). Default: allow all.
   */
  authorize?: (request: Request, room: string, action: HubAction, identity: unknown) => boolean | Promise<boolean>;
  /** Queue budget / slow-consumer settings for every connection of these routes. */
  queue?: QueueOptions;
  /** SSE settings (heartbeat, retry, close grace). */
  sse?: Omit<SseOptions, "authorize" | "queue">;
  /** Long-poll settings (waits, idle timeout, answer size). */
  poll?: Omit<LongPollOptions, "authorize" | "queue">;
  /** Mount `POST /publish?room=<room>` (body = payload text). Default false. */
  publishRoute?: boolean;
  /** Mount `GET /metrics`. Default false. */
  metricsRoute?: boolean;
}

/**
 * The routes plus the transports behind them (for shutdown and introspection).
 *
 * @example
 * ```ts
 * const rt: EdgeplaneRoutes = edgeplaneRoutes(hub, { upgradeWebSocket });
 * app.route("/", rt.app);
 * console.log(rt.sse.size, rt.poll.size);
 * ```
 */
export interface EdgeplaneRoutes {
  /** Mount with `app.route("/", routes.app)` (or under a prefix; clients then use that prefix as their URL). */
  readonly app: HonoApp;
  /** The SSE sessions behind `GET /sse` and `POST /sse/:token`. */
  readonly sse: SseTransport;
  /** The long-poll sessions behind `/poll`. */
  readonly poll: LongPollTransport;
  /** Close every SSE and long-poll session (WebSockets close with `hub.close()`). */
  close(): void;
}

/**
 * Build the transport routes for `hub`.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { Hub } from "edgeplane";
 * import { edgeplaneRoutes } from "edgeplane/adapters/hono";
 * import { upgradeWebSocket } from "edgeplane/adapters/node";
 *
 * const hub = new Hub();
 * const rt = edgeplaneRoutes(hub, { upgradeWebSocket, authorize: (req, room) => !room.startsWith("admin:") });
 * const app = new Hono().route("/", rt.app);
 * ```
 */
export function edgeplaneRoutes(hub: Hub, opts: EdgeplaneRoutesOptions = {}): EdgeplaneRoutes {
  const userAuth = opts.authorize;
  const authorize: ConnectionAuthorizer | undefined = userAuth
    ? (conn, room, action) => userAuth(conn.data as Request, room, action, conn.identity)
    : undefined;
  const admission: AdmissionOptions = { allowedOrigins: opts.allowedOrigins, authenticate: opts.authenticate };
  const origins = opts.allowedOrigins;
  /** The identity of an admitted upgrade request, from the check before the upgrade to the socket's open. */
  const identities = new WeakMap<Request, unknown>();
  const queue = opts.queue ? definedOnly(opts.queue) : undefined;
  const sse = new SseTransport(hub, { ...definedOnly(opts.sse ?? {}), queue, authorize });
  const poll = new LongPollTransport(hub, { ...definedOnly(opts.poll ?? {}), queue, authorize });
  const app = new Hono();

  if (opts.upgradeWebSocket) {
    app.get(
      "/ws",
      async (c, next) => {
        const a = await admit(hub, c.req.raw, admission);
        if (a instanceof Response) return a;
        identities.set(c.req.raw, a.identity);
        await next();
      },
      opts.upgradeWebSocket((c) => {
        const request = c.req.raw;
        const identity = identities.get(request);
        let h: WebSocketHandlers | undefined;
        let early: unknown[] | undefined; // messages that arrive before onOpen (rare)
        return {
          onOpen(_evt: Event, ws: WSContext) {
            try {
              h = webSocketConnection(hub, socketOf(ws), { data: request, queue, authorize, identity });
            } catch (err) {
              // Admitted before the upgrade, full by the time it opened: say why, then close (1013: try again later).
              ws.send(errorFrame(err).text);
              ws.close(1013, err instanceof EdgeplaneError ? err.code : "refused");
              return;
            }
            if (early) for (const d of early.splice(0)) h.message(d);
          },
          onMessage(evt: MessageEvent) {
            if (h) h.message(evt.data);
            else if ((early ??= []).length < 64) early.push(evt.data);
          },
          onClose() {
            h?.closed();
          },
          onError() {
            h?.closed();
          },
        };
      }),
    );
    app.get("/ws", (c) => c.json({ error: { code: "BAD_FRAME", message: "expected a WebSocket upgrade" } }, 426));
  }

  app.get("/sse", async (c) => {
    const a = await admit(hub, c.req.raw, admission);
    return a instanceof Response ? a : sse.open(c.req.raw, { data: c.req.raw, identity: a.identity });
  });
  app.post("/sse/:token", (c) => checkOrigin(hub, c.req.raw, origins) ?? sse.post(c.req.param("token"), c.req.raw));
  app.get("/poll", async (c) => {
    if (c.req.query("session") !== undefined) return checkOrigin(hub, c.req.raw, origins) ?? poll.poll(c.req.raw);
    const a = await admit(hub, c.req.raw, admission);
    return a instanceof Response ? a : poll.poll(c.req.raw, { data: c.req.raw, identity: a.identity });
  });
  app.post("/poll/:token", (c) => checkOrigin(hub, c.req.raw, origins) ?? poll.post(c.req.param("token"), c.req.raw));
  app.delete("/poll/:token", (c) => checkOrigin(hub, c.req.raw, origins) ?? poll.end(c.req.param("token")));

  if (opts.publishRoute) {
    app.post("/publish", async (c) => {
      const room = c.req.query("room") ?? "";
      const a = await admit(hub, c.req.raw, admission, false);
      if (a instanceof Response) return a;
      try {
        if (userAuth && !(await askAuthorize(() => userAuth(c.req.raw, room, "publish", a.identity), { action: "publish", room }))) {
          throw new EdgeplaneError("FORBIDDEN", "not allowed to publish to this room");
        }
        const info = await hub.publish(room, await c.req.text());
        return c.json({ room, seq: info.seq, ts: info.timestamp });
      } catch (err) {
        const code = err instanceof EdgeplaneError ? err.code : "INTERNAL";
        const status = code === "FORBIDDEN" ? 403 : code === "INTERNAL" || code === "BACKPLANE_UNAVAILABLE" ? 503 : 400;
        return c.json({ error: { code, message: err instanceof Error ? err.message : String(err) } }, status);
      }
    });
  }
  if (opts.metricsRoute) {
    // JSON by default; Prometheus text with `?format=prometheus` or `Accept: text/plain`.
    app.get("/metrics", (c) => {
      const m = hub.metrics();
      const wantsText = c.req.query("format") === "prometheus" || (c.req.header("accept") ?? "").startsWith("text/plain");
      if (wantsText) {
        return c.body(prometheusText(m, { sseSessions: sse.size, pollSessions: poll.size }), 200, {
          "content-type": "text/plain; version=0.0.4; charset=utf-8",
        });
      }
      return c.json({ ...m, sseSessions: sse.size, pollSessions: poll.size });
    });
  }

  return {
    app,
    sse,
    poll,
    close(): void {
      sse.close();
      poll.close();
    },
  };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
