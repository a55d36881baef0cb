/**
 * Node adapter: serves a Hono app (e.g. {@link edgeplaneRoutes}) with `@hono/node-server` and its built-in WebSocket
 * upgrade on the `ws` package. Both are optional peer dependencies of edgeplane, needed only here:
 * `npm install edgeplane @hono/node-server ws`.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { Hub } from "edgeplane";
 * import { edgeplaneRoutes } from "edgeplane/adapters/hono";
 * import { serve, upgradeWebSocket } from "edgeplane/adapters/node";
 *
 * const hub = new Hub();
 * const app = new Hono().route("/", edgeplaneRoutes(hub, { upgradeWebSocket }).app);
 * const server = await serve(app); // PORT from the environment; prints "edgeplane listening on http://127.0.0.1:PORT"
 * ```
 *
 * @module
 */
import { importPeer } from "../src/_peer.ts";
import { handleUpgrade, upgradeWebSocket as leanUpgradeWebSocket } from "./_node-upgrade.ts";
import {
  announce, DEFAULT_MAX_WS_PAYLOAD, drainOnSignals,
  type Drainable,
  type FetchApp,
  resolvePort,
  type Served,
  type ServeOptions,
  type UpgradeWebSocket,
  urlOf,
} from "./_serve.ts";

export type { Drainable, FetchApp, Served, ServeOptions, UpgradeWebSocket };

// Optional peer dependencies of this entry point: loaded here so a missing one fails with MISSING_DEPENDENCY naming
// it (`npm install @hono/node-server ws`), instead of a link error; the rest of edgeplane never needs them.
const PEERS = ["@hono/node-server", "ws"];
const { serve: honoServe } = await importPeer(
  "@hono/node-server",
  "edgeplane/adapters/node",
  () => import("@hono/node-server"),
  PEERS,
);
const { WebSocketServer } = await importPeer("ws", "edgeplane/adapters/node", () => import("ws"), PEERS);

/**
 * Hono's WebSocket helper for Node (pass it to `edgeplaneRoutes`).
 *
 * @example
 * ```ts
 * const rt = edgeplaneRoutes(hub, { upgradeWebSocket });
 * ```
 */
export const upgradeWebSocket: UpgradeWebSocket = leanUpgradeWebSocket;

/**
 * Listen on Node. Resolves once listening.
 *
 * @example
 * ```ts
 * const { url, close } = await serve(app, { port: 0 });
 * ```
 */
export function serve(app: FetchApp, opts: ServeOptions = {}): Promise<Served> {
  const hostname = opts.hostname ?? process.env.HOST ?? "127.0.0.1";
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayloadBytes ?? DEFAULT_MAX_WS_PAYLOAD });
  return new Promise((resolve, reject) => {
    const server = honoServe(
      { fetch: app.fetch, port: resolvePort(opts.port, process.env.PORT), hostname },
      (info) => {
        const url = urlOf(hostname, info.port);
        announce(opts, url);
        const close = () =>
          new Promise<void>((done) => {
            for (const ws of wss.clients) ws.terminate();
            wss.close();
            server.close(() => done());
            (server as { closeAllConnections?: () => void }).closeAllConnections?.();
          });
        drainOnSignals(opts.drain, close, (sig, h) => process.once(sig, h), (code) => process.exit(code));
        resolve({ url, port: info.port, close });
      },
    );
    // Upgrades go through the app (routing, middleware, checks), then to `ws` without keeping the request alive.
    server.on("upgrade", handleUpgrade(app.fetch, wss));
    server.once("error", reject);
  });
}
