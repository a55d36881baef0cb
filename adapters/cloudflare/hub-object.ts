/**
 * The hub Durable Object: one {@link Hub} per shard, holding that shard's client connections — WebSockets from a
 * `WebSocketPair`, SSE streams and long-poll sessions, the same protocol and client as on Node, Deno and Bun — on the
 * exchange you choose: the {@link DurableObjectExchange} (Cloudflare only) or a `NatsExchange` over
 * `connectNatsWebSocket()` (the hub joins the fleet of your other servers).
 *
 * The hub starts on the object's first request. On the Durable Object exchange WebSockets are accepted with the
 * Hibernation API: an object whose only work is open, idle WebSockets may be evicted while they stay open (SSE
 * streams and long-poll sessions keep it in memory). The next event (a client frame, a room object's delivery) wakes
 * it: the hub starts again, every surviving socket gets a new `welcome`, and its client rejoins every room from the
 * last seq it has. On any other exchange (NATS) sockets use the standard API, and an open one keeps the object in
 * memory: nothing would wake an evicted NATS hub when a message arrives for its clients. When Cloudflare evicts an object with
 * its sockets (deploys, limits), the clients reconnect through the Worker and resume by seq from the exchange's
 * history.
 *
 * @module
 */
import { admit } from "../../src/transport/admission.ts";
import { edgeplaneRoutes, type EdgeplaneRoutes, type EdgeplaneRoutesOptions } from "../hono.ts";
import { EdgeplaneError } from "../../src/errors.ts";
import type { Exchange } from "../../src/exchange/exchange.ts";
import { Hub, type HubOptions } from "../../src/hub.ts";
import type { ConnectionAuthorizer } from "../../src/transport/connection.ts";
import { webSocketConnection, type WebSocketHandlers } from "../../src/transport/websocket.ts";
import { type DurableObjectNamespaceLike, type DurableObjectStateLike, upgradeResponse, webSocketPair, type WorkerWebSocket } from "./_types.ts";
import { DurableObjectExchange } from "./do-exchange.ts";
import { HUB_HEADER, PATHS, reply } from "./_wire.ts";
import { SHARD_HEADER } from "./worker.ts";

/**
 * Where a hub object's exchange factory is called from.
 *
 * @example
 * ```ts
 * const factory = (env: Env, ctx: HubObjectContext) => new DurableObjectExchange({ rooms: env.EDGEPLANE_ROOM, hub: ctx.name });
 * ```
 */
export interface HubObjectContext {
  /** The hub object's name (its shard, e.g. `"hub-3"`). */
  readonly name: string;
  /** The Durable Object state (`ctx` of the object). */
  readonly state: DurableObjectStateLike;
}

/**
 * Options of {@link hubObject}.
 *
 * @example
 * ```ts
 * const opts: HubObjectOptions = { exchange: durableObjectExchange(), routes: { authorize: (req, room) => !room.startsWith("admin:") } };
 * ```
 */
export interface HubObjectOptions<Env = Record<string, unknown>> {
  /** The backplane of this hub; called once per object start. Default {@link durableObjectExchange}(). */
  exchange?: (env: Env, ctx: HubObjectContext) => Exchange | Promise<Exchange>;
  /** Hub settings (queues, fanout, cluster, presence, log). */
  hub?: Omit<HubOptions, "exchange">;
  /** Transport settings: `authorize`, `queue`, `sse`, `poll`, `publishRoute`, `metricsRoute`. */
  routes?: Omit<EdgeplaneRoutesOptions, "upgradeWebSocket">;
}

/**
 * A hub Durable Object class (export it under the class name your wrangler config binds).
 *
 * @example
 * ```ts
 * const EdgeplaneHub: HubObjectClass = hubObject();
 * ```
 */
export type HubObjectClass = new (state: DurableObjectStateLike, env: Record<string, unknown>) => {
  fetch(request: Request): Promise<Response>;
  /** The running hub, once the object has started one (for tests and custom routes). */
  readonly hub: Hub | undefined;
};

/**
 * The exchange factory for Cloudflare-only deployments: a {@link DurableObjectExchange} on the room objects bound
 * as `roomBinding` (default `"EDGEPLANE_ROOM"`).
 *
 * @example
 * ```ts
 * export const EdgeplaneHub = hubObject({ exchange: durableObjectExchange({ roomBinding: "ROOMS" }) });
 * ```
 */
export function durableObjectExchange(
  opts: { roomBinding?: string; maxPayloadBytes?: number; sendTimeout?: number } = {},
): (env: Record<string, unknown>, ctx: HubObjectContext) => Exchange {
  const binding = opts.roomBinding ?? "EDGEPLANE_ROOM";
  return (env, ctx) => {
    const rooms = env[binding] as DurableObjectNamespaceLike | undefined;
    if (!rooms) throw new EdgeplaneError("BAD_OPTION", `no Durable Object binding ${binding} for the room objects (see the wrangler config)`);
    return new DurableObjectExchange({ rooms, hub: ctx.name, maxPayloadBytes: opts.maxPayloadBytes, sendTimeout: opts.sendTimeout });
  };
}

/** What a hibernatable socket keeps across the object's eviction: its upgrade request (for `authorize` and the hub). */
interface SocketAttachment {
  url: string;
  headers: [string, string][];
}

/** Larger upgrade requests (long cookies) keep the socket with the standard API (Cloudflare's attachment limit). */
const MAX_ATTACHMENT = 2048;

interface Running {
  hub: Hub;
  routes: EdgeplaneRoutes;
  authorize?: ConnectionAuthorizer;
}

/**
 * Build the hub Durable Object class.
 *
 * @example
 * ```ts
 * import { connectNatsWebSocket, hubObject } from "edgeplane/adapters/cloudflare";
 * import { NatsExchange } from "edgeplane";
 *
 * // Cloudflare only (room objects as the backplane):
 * export const EdgeplaneHub = hubObject();
 * // Or in the NATS fleet of your Node/Deno/Bun servers:
 * export const EdgeplaneNatsHub = hubObject<{ NATS_WS_URL: string }>({
 *   exchange: async (env, { name }) => new NatsExchange(await connectNatsWebSocket({ servers: env.NATS_WS_URL }), { nodeId: name }),
 * });
 * ```
 */
// deno-lint-ignore no-explicit-any
export function hubObject<Env = any>(opts: HubObjectOptions<Env> = {}): HubObjectClass {
  const makeExchange = opts.exchange ?? (durableObjectExchange() as unknown as (env: Env, ctx: HubObjectContext) => Exchange);
  return class EdgeplaneHubObject {
    readonly #state: DurableObjectStateLike;
    readonly #env: Env;
    #running: Promise<Running> | undefined;
    #hub: Hub | undefined;
    /** Every open WebSocket of this object and its hub connection. */
    readonly #sockets = new Map<WorkerWebSocket, WebSocketHandlers>();
    #waking: Promise<void> | undefined;

    constructor(state: DurableObjectStateLike, env: Record<string, unknown>) {
      this.#state = state;
      this.#env = env as Env;
    }

    get hub(): Hub | undefined {
      return this.#hub;
    }

    async fetch(request: Request): Promise<Response> {
      const url = new URL(request.url);
      if (url.pathname === PATHS.deliver) {
        // A room object's delivery. A fresh object (evicted and woken by the delivery) subscribed to nothing: it
        // answers `gone` (the room object stops delivering to it) and re-registers its hibernated sockets, whose
        // clients rejoin from their last seq.
        if (!this.#hub && this.#state.getWebSockets?.().length) await this.#wake().catch(() => {});
        const ex = this.#hub?.exchange;
        return ex instanceof DurableObjectExchange ? ex.receive(request) : reply({ gone: true });
      }
      let run: Running;
      try {
        run = await this.#start(request);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        return reply({ error: { code: "BACKPLANE_UNAVAILABLE", message: `hub could not start: ${message}` } }, 503);
      }
      if (url.pathname === "/ws") return this.#webSocket(run, request);
      return run.routes.app.fetch(request);
    }

    #start(request: Request): Promise<Running> {
      if (this.#running) return this.#running;
      const name = this.#state.id.name ?? request.headers.get(HUB_HEADER);
      if (!name) return Promise.reject(new EdgeplaneError("BAD_OPTION", `hub object has no name (reach it through idFromName and the ${HUB_HEADER} header)`));
      const shard = request.headers.get(SHARD_HEADER) ?? "0";
      const started = (async (): Promise<Running> => {
        const exchange = await makeExchange(this.#env, { name, state: this.#state });
        const hub = new Hub({ ...opts.hub, exchange });
        await hub.ready();
        const r = opts.routes ?? {};
        const prefix = `${shard}.`;
        const routes = edgeplaneRoutes(hub, { ...r, sse: { ...r.sse, tokenPrefix: prefix }, poll: { ...r.poll, tokenPrefix: prefix } });
        const userAuth = r.authorize;
        const authorize: ConnectionAuthorizer | undefined = userAuth ? (conn, room, action) => userAuth(conn.data as Request, room, action, conn.identity) : undefined;
        this.#hub = hub;
        return { hub, routes, authorize };
      })();
      this.#running = started;
      started.catch(() => {
        if (this.#running === started) this.#running = undefined; // try again on the next request
      });
      return started;
    }

    async #webSocket(run: Running, request: Request): Promise<Response> {
      if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return reply({ error: { code: "BAD_FRAME", message: "expected a WebSocket upgrade" } }, 426);
      }
      // The same checks as the routes' /ws: origin, authenticate, the hub's connection limits.
      const a = await admit(run.hub, request, { allowedOrigins: opts.routes?.allowedOrigins, authenticate: opts.routes?.authenticate });
      if (a instanceof Response) return a;
      const { client, server } = webSocketPair();
      const attachment: SocketAttachment = { url: request.url, headers: [...request.headers] };
      if (
        run.hub.exchange instanceof DurableObjectExchange && this.#state.acceptWebSocket && server.serializeAttachment &&
        JSON.stringify(attachment).length <= MAX_ATTACHMENT
      ) {
        // Hibernation API: the runtime holds the socket, the object may be evicted while it stays open. Only on the
        // Durable Object exchange, whose room objects wake the hub with their next delivery; on NATS (or any other
        // exchange) an evicted hub would leave the fleet, and its quiet clients would get nothing until they sent a
        // frame, so their open sockets keep it in memory instead.
        this.#state.acceptWebSocket(server);
        server.serializeAttachment(attachment);
        this.#register(run, server, request, a.identity);
      } else {
        server.accept();
        const h = this.#register(run, server, request, a.identity);
        server.addEventListener("message", (e) => h.message(e.data));
        server.addEventListener("close", () => this.#closed(server));
        server.addEventListener("error", () => this.#closed(server));
      }
      return upgradeResponse(client);
    }

    #register(run: Running, ws: WorkerWebSocket, request: Request, identity: unknown): WebSocketHandlers {
      const h = webSocketConnection(run.hub, {
        send: (t) => ws.send(t),
        close: (code, reason) => ws.close(code, reason),
      }, { data: request, queue: opts.routes?.queue, authorize: run.authorize, identity });
      this.#sockets.set(ws, h);
      return h;
    }

    #closed(ws: WorkerWebSocket): void {
      const h = this.#sockets.get(ws);
      this.#sockets.delete(ws);
      h?.closed();
    }

    /**
     * An evicted object woken by an event (a socket's message, a room object's delivery) with hibernated sockets
     * still open: start the hub and register every socket again. Each gets a new `welcome`, on which the client
     * rejoins its rooms with the last seq it has, so the exchange resumes them from history (no gap, no duplicate).
     */
    #wake(): Promise<void> {
      return (this.#waking ??= (async () => {
        const sockets = (this.#state.getWebSockets?.() ?? []).filter((ws) => !this.#sockets.has(ws));
        const requests = sockets.map((ws) => {
          const a = ws.deserializeAttachment?.() as SocketAttachment | undefined;
          return a ? new Request(a.url, { headers: a.headers }) : undefined;
        });
        const first = requests.find((r) => r !== undefined);
        if (!first) return;
        const run = await this.#start(first);
        // The identity is not kept across an eviction (it need not serialize): ask `authenticate` again.
        const auth = opts.routes?.authenticate;
        const identities = await Promise.all(requests.map((r) => (r && auth ? Promise.resolve().then(() => auth(r)).catch(() => undefined) : undefined)));
        sockets.forEach((ws, i) => {
          const request = requests[i];
          if (this.#sockets.has(ws) || !request) return;
          if (auth && identities[i] == null) {
            try {
              ws.close(1008, "UNAUTHENTICATED");
            } catch { /* already closed */ }
          } else this.#register(run, ws, request, identities[i] ?? undefined);
        });
      })().finally(() => (this.#waking = undefined)));
    }

    /** Hibernation API: a message on an accepted socket (the object may have been evicted since). */
    async webSocketMessage(ws: WorkerWebSocket, message: string | ArrayBuffer): Promise<void> {
      if (!this.#sockets.has(ws)) await this.#wake();
      this.#sockets.get(ws)?.message(message);
    }

    /** Hibernation API: the client closed the socket. */
    webSocketClose(ws: WorkerWebSocket, code: number, reason: string): void {
      this.#closed(ws);
      try {
        ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
      } catch { /* already closed */ }
    }

    /** Hibernation API: the socket failed. */
    webSocketError(ws: WorkerWebSocket): void {
      this.#closed(ws);
    }
  };
}
