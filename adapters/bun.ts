/**
 * Bun adapter: serves a Hono app with `Bun.serve` and its `websocket` handler, so `bun run server.ts` works.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { Hub } from "edgeplane";
 * import { edgeplaneRoutes } from "edgeplane/adapters/hono";
 * import { serve, upgradeWebSocket } from "edgeplane/adapters/bun";
 *
 * const hub = new Hub();
 * const app = new Hono().route("/", edgeplaneRoutes(hub, { upgradeWebSocket }).app);
 * serve(app); // PORT from the environment; prints "edgeplane listening on http://127.0.0.1:PORT"
 * ```
 *
 * @module
 */
import { upgradeWebSocket as leanUpgradeWebSocket, websocket } from "./_bun-upgrade.ts";
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

// Minimal shape of the Bun global used here (this file only runs on Bun).
declare const Bun: {
  serve(options: Record<string, unknown>): { port: number; stop(closeActive?: boolean): Promise<void> | void };
  env: Record<string, string | undefined>;
};

/**
 * Hono's WebSocket helper for Bun (pass it to `edgeplaneRoutes`).
 *
 * @example
 * ```ts
 * const rt = edgeplaneRoutes(hub, { upgradeWebSocket });
 * ```
 */
export const upgradeWebSocket: UpgradeWebSocket = leanUpgradeWebSocket;

/**
 * Listen on Bun.
 *
 * @example
 * ```ts
 * const { url } = await serve(app, { port: 0 });
 * ```
 */
export function serve(app: FetchApp, opts: ServeOptions = {}): Promise<Served> {
  const hostname = opts.hostname ?? Bun.env.HOST ?? "127.0.0.1";
  const server = Bun.serve({
    port: resolvePort(opts.port, Bun.env.PORT),
    hostname,
    fetch: app.fetch,
    idleTimeout: 0, // SSE and long-poll requests stay open longer than Bun's default 10 s
    websocket: { ...websocket, maxPayloadLength: opts.maxPayloadBytes ?? DEFAULT_MAX_WS_PAYLOAD },
  });
  const url = urlOf(hostname, server.port);
  announce(opts, url);
  const close = async () => {
    await server.stop(true);
  };
  drainOnSignals(opts.drain, close, (sig, h) => process.once(sig, h), (code) => process.exit(code));
  return Promise.resolve({ url, port: server.port, close });
}
