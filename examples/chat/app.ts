/**
 * The chat demo app: the page, its script and the edgeplane routes on one Hono app. The same app runs on Node
 * (`node.ts`), Deno (`deno.ts`) and Bun (`bun.ts`); only the WebSocket helper and the environment differ.
 *
 * Settings come from the environment: `EDGEPLANE_QUEUE_BYTES` (per-connection budget), `EDGEPLANE_SLOW_CONSUMER_MS`,
 * `EDGEPLANE_SSE_HEARTBEAT_MS`, `EDGEPLANE_POLL_IDLE_MS`. Rooms named `private:*` are refused (the authorize hook).
 *
 * @module
 */
import { Hono } from "hono";
import type { UpgradeWebSocket } from "hono/ws";
import { Hub } from "../../src/hub.ts";
import { edgeplaneRoutes, type EdgeplaneRoutes } from "../../adapters/hono.ts";
import { CHAT_HTML } from "./page.ts";
import { bundle } from "./bundle.ts";

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
  // Cluster features on: presence carries each member's join `meta` (the name shown in "Online here").
  const hub = new Hub({ cluster: true });
  await hub.ready();
  const routes = edgeplaneRoutes(hub, {
    upgradeWebSocket: opts.upgradeWebSocket,
    authorize: (_request, room) => !room.startsWith("private:"),
    queue: { budgetBytes: num("EDGEPLANE_QUEUE_BYTES"), slowConsumerMs: num("EDGEPLANE_SLOW_CONSUMER_MS") },
    sse: { heartbeatMs: num("EDGEPLANE_SSE_HEARTBEAT_MS") },
    poll: { idleMs: num("EDGEPLANE_POLL_IDLE_MS") },
    metricsRoute: true,
  });
  const js = { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache" };
  const app = new Hono();
  app.get("/", (c) => c.html(CHAT_HTML));
  app.get("/app.js", () => new Response(appJs, { headers: js }));
  app.get("/client.js", () => new Response(clientJs, { headers: js }));
  app.route("/", routes.app);
  return {
    app,
    hub,
    routes,
    async close() {
      routes.close();
      await hub.close();
    },
  };
}
