/**
 * Deno adapter: `Deno.serve` (or `deno serve` through a default export with `fetch`) with Hono's
 * `Deno.upgradeWebSocket` helper.
 *
 * @example
 * ```ts
 * // server.ts — run with `deno serve -A --port 8000 server.ts`
 * import { Hono } from "hono";
 * import { Hub } from "edgeplane";
 * import { edgeplaneRoutes } from "edgeplane/adapters/hono";
 * import { fetchExport, upgradeWebSocket } from "edgeplane/adapters/deno";
 *
 * const hub = new Hub();
 * const app = new Hono().route("/", edgeplaneRoutes(hub, { upgradeWebSocket }).app);
 * export default fetchExport(app);
 * ```
 *
 * @module
 */
import { upgradeWebSocket as denoUpgradeWebSocket } from "hono/deno";
import {
  announce, drainOnSignals,
  type Drainable,
  type FetchApp,
  resolvePort,
  type Served,
  type ServeOptions,
  type UpgradeWebSocket,
  urlOf,
} from "./_serve.ts";

export type { Drainable, FetchApp, Served, ServeOptions, UpgradeWebSocket };

// Minimal shape of the Deno global used here (this file only runs on Deno).
declare const Deno: {
  serve(
    options: { port: number; hostname: string; onListen?: (addr: { port: number }) => void },
    handler: (request: Request) => Response | Promise<Response>,
  ): { finished: Promise<void>; shutdown(): Promise<void>; addr: { port: number } };
  env: { get(name: string): string | undefined };
  addSignalListener(signal: "SIGTERM" | "SIGINT", handler: () => void): void;
  exit(code: number): never;
};

/**
 * Hono's WebSocket helper for Deno (pass it to `edgeplaneRoutes`).
 *
 * @example
 * ```ts
 * const rt = edgeplaneRoutes(hub, { upgradeWebSocket });
 * ```
 */
export const upgradeWebSocket: UpgradeWebSocket = denoUpgradeWebSocket as UpgradeWebSocket;

/**
 * The default export `deno serve` expects: `{ fetch }` (plus `onListen`, which prints the URL line).
 *
 * @example
 * ```ts
 * export default fetchExport(app);
 * ```
 */
export function fetchExport(app: FetchApp, opts: Pick<ServeOptions, "onListen" | "drain"> = {}): {
  fetch: (request: Request) => Response | Promise<Response>;
  onListen: (addr: { hostname: string; port: number }) => void;
} {
  // Under `deno serve` the listener belongs to Deno; after draining we exit and it goes with the process.
  drainOnSignals(opts.drain, () => Promise.resolve(), (sig, h) => Deno.addSignalListener(sig, h), (code) => Deno.exit(code));
  return {
    fetch: (request: Request) => app.fetch(request),
    onListen: (addr) => announce(opts, urlOf(addr.hostname, addr.port)),
  };
}

/**
 * Listen with `Deno.serve` (for `deno run`).
 *
 * @example
 * ```ts
 * const { url } = await serve(app, { port: 0 });
 * ```
 */
export function serve(app: FetchApp, opts: ServeOptions = {}): Promise<Served> {
  const hostname = opts.hostname ?? Deno.env.get("HOST") ?? "127.0.0.1";
  return new Promise((resolve) => {
    const server = Deno.serve({
      port: resolvePort(opts.port, Deno.env.get("PORT")),
      hostname,
      onListen: (addr) => {
        const url = urlOf(hostname, addr.port);
        announce(opts, url);
        const close = () => server.shutdown();
        drainOnSignals(opts.drain, close, (sig, h) => Deno.addSignalListener(sig, h), (code) => Deno.exit(code));
        resolve({ url, port: addr.port, close });
      },
    }, (request) => app.fetch(request));
  });
}
