/**
 * The chat demo app: the page, its script and the edgeplane routes on one Hono app. The same app runs on Node
 * (`node.ts`), Deno (`deno.ts`) and Bun (`bun.ts`); only the WebSocket helper and the environment differ.
 *
 * Settings come from the environment: `NATS_URL`, `NODE_ID`, `EDGEPLANE_PREFIX` (backplane, see `exchange.ts`),
 * `EDGEPLANE_HEARTBEAT_MS` (cluster heartbeat), `EDGEPLANE_PUBLISH_ROUTE=1` (mount `POST /publish`), `EDGEPLANE_ADMIN_ROUTES=1` (mount `cluster-routes.ts`), `EDGEPLANE_QUEUE_BYTES` (per-connection budget), `EDGEPLANE_SLOW_CONSUMER_MS`,
 * `EDGEPLANE_SSE_HEARTBEAT_MS`, `EDGEPLANE_POLL_IDLE_MS`, `EDGEPLANE_ALLOWED_ORIGINS`. Rooms named `private:*` are refused (the authorize hook).
 *
 * @module
 */
import { Hono } from "hono";
import type { UpgradeWebSocket } from "hono/ws";
import { Hub } from "../../src/hub.ts";
import { edgeplaneRoutes, type EdgeplaneRoutes } from "../../adapters/hono.ts";
import { CHAT_HTML } from "./page.ts";
import { bundle } from "./bundle.ts";
import { exchangeFromEnv } from "./exchange.ts";
import { clusterRoutes } from "./cluster-routes.ts";

/**
 * What the runtime entry passes in.
 *
 * @example
 * ```ts
 * const opts: ChatAppOptions = { upgradeWebSocket, env: (k) => process.env[k] };
 * ```
 */
export interface ChatAppOptions {
  // deno-lint-ignore no-explicit-any
  upgradeWebSocket: UpgradeWebSocket<any, any>;
  /** Environment lookup. */
  env: (name: string) => string | undefined;
}

/**
 * The app and what to close on shutdown.
 *
 * @example
 * ```ts
 * const chat: ChatApp = await createChatApp(opts);
 * await chat.close();
 * ```
 */
export interface ChatApp {
  app: Hono;
  hub: Hub;
  routes: EdgeplaneRoutes;
  close(): Promise<void>;
  /** Graceful drain: clients are told to reconnect elsewhere, ownership handed off, then everything closed. */
  drain(): Promise<void>;
}

/**
 * Build the chat app (bundles the page script first).
 *
 * @example
 * ```ts
 * const chat = await createChatApp({ upgradeWebSocket, env: (k) => process.env[k] });
 * await serve(chat.app);
 * ```
 */
export async function createChatApp(opts: ChatAppOptions): Promise<ChatApp> {
  const num = (name: string): number | undefined => {
    const v = opts.env(name);
    return v !== undefined && v !== "" && Number.isFinite(Number(v)) ? Number(v) : undefined;
  };
  const [appJs, clientJs] = await Promise.all([bundle("app"), bundle("client")]);
  // The backplane comes from the environment (NATS_URL → NATS, else memory). Cluster features on: presence across
  // nodes (the names in "Online here"), sendTo/ask between nodes, drain.
  const chosen = await exchangeFromEnv(opts.env);
  const hub: Hub = new Hub({
    exchange: chosen.exchange,
    cluster: { heartbeatMs: num("EDGEPLANE_HEARTBEAT_MS") },
    onAsk: (data): unknown => ({ node: hub.nodeId, connections: hub.metrics().connections, echo: data }),
  });
  await hub.ready();
  console.log(`edgeplane chat node=${hub.nodeId} exchange=${chosen.describe}`);
  const routes = edgeplaneRoutes(hub, {
    upgradeWebSocket: opts.upgradeWebSocket,
    authorize: (_request, room) => !room.startsWith("private:"),
    // The demo's nodes serve each other's pages (`?nodes=`): allow pages of the same host on any port, or the
    // origins listed in EDGEPLANE_ALLOWED_ORIGINS.
    allowedOrigins: opts.env("EDGEPLANE_ALLOWED_ORIGINS")?.split(",").filter(Boolean) ??
      ((origin, request) => new URL(origin).hostname === new URL(request.url).hostname),
    queue: { budgetBytes: num("EDGEPLANE_QUEUE_BYTES"), slowConsumerMs: num("EDGEPLANE_SLOW_CONSUMER_MS") },
    sse: { heartbeatMs: num("EDGEPLANE_SSE_HEARTBEAT_MS") },
    poll: { idleMs: num("EDGEPLANE_POLL_IDLE_MS") },
    metricsRoute: true,
    publishRoute: opts.env("EDGEPLANE_PUBLISH_ROUTE") === "1",
  });
  const js = { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache" };
  const app = new Hono();
  app.get("/", (c) => c.html(CHAT_HTML));
  app.get("/app.js", () => new Response(appJs, { headers: js }));
  app.get("/client.js", () => new Response(clientJs, { headers: js }));
  app.route("/", routes.app);
  if (opts.env("EDGEPLANE_ADMIN_ROUTES") === "1") app.route("/", clusterRoutes(hub));
  return {
    app,
    hub,
    routes,
    async close() {
      routes.close();
      await hub.close();
      await chosen.release();
    },
    async drain() {
      await hub.drain();
      routes.close();
      await chosen.release();
    },
  };
}
