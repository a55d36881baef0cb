/**
 * Node adapter: serves a Hono app (e.g. {@link edgeplaneRoutes}) with `@hono/node-server` and its built-in WebSocket
 * upgrade on the `ws` package.
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
import { serve as honoServe, upgradeWebSocket as nodeUpgradeWebSocket } from "@hono/node-server";
import { WebSocketServer } from "ws";
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

/**
 * Hono's WebSocket helper for Node (pass it to `edgeplaneRoutes`).
 *
 * @example
 * ```ts
 * const rt = edgeplaneRoutes(hub, { upgradeWebSocket });
 * ```
 */
export const upgradeWebSocket: UpgradeWebSocket = nodeUpgradeWebSocket;

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
      { fetch: app.fetch, port: resolvePort(opts.port, process.env.PORT), hostname, websocket: { server: wss } },
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
    server.once("error", reject);
  });
}
