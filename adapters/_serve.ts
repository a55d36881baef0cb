// Private: what the three runtime adapters share (listening info, PORT/HOST defaults).
import type * as honoWs from "hono/ws";

/**
 * A runtime's Hono WebSocket upgrade helper, as `edgeplaneRoutes` takes it (`UpgradeWebSocket` of `hono/ws`).
 * `adapters/node`, `adapters/deno` and `adapters/bun` each export one as `upgradeWebSocket`.
 *
 * @example
 * ```ts
 * import { upgradeWebSocket } from "edgeplane/adapters/node";
 * const upgrade: UpgradeWebSocket = upgradeWebSocket;
 * const routes = edgeplaneRoutes(hub, { upgradeWebSocket: upgrade });
 * ```
 */
export type UpgradeWebSocket = honoWs.UpgradeWebSocket;

/**
 * A running server.
 *
 * @example
 * ```ts
 * const served: Served = await serve(app);
 * await served.close();
 * ```
 */
export interface Served {
  /** `http://host:port` the server listens on. */
  readonly url: string;
  /** The port it listens on (the chosen one when you asked for port 0). */
  readonly port: number;
  /** Stop accepting connections and close the listener. */
  close(): Promise<void>;
}

/**
 * Serve options common to every runtime.
 *
 * @example
 * ```ts
 * const opts: ServeOptions = { port: 0, hostname: "127.0.0.1", onListen: (url) => console.log(url) };
 * ```
 */
export interface ServeOptions {
  /** Port; default `PORT` from the environment, else 8787. 0 picks a free port. */
  port?: number;
  /** Interface; default `HOST` from the environment, else 127.0.0.1. */
  hostname?: string;
  /** Called once listening (default: prints `edgeplane listening on <url>`). */
  onListen?: (url: string) => void;
  /** Largest WebSocket message accepted (default 4 MiB); larger ones close the socket (1009). */
  maxPayloadBytes?: number;
  /**
   * Drain this hub on SIGTERM / SIGINT, then close the listener and exit 0: clients get a `reconnect` frame and move
   * to another node, queues are flushed, room ownership is handed off. Without it, signals keep their default.
   */
  drain?: Drainable;
}

/**
 * What `ServeOptions.drain` needs: a Hub.
 *
 * @example
 * ```ts
 * const hub: Drainable = new Hub();
 * await serve(app, { drain: hub }); // SIGTERM drains the hub, closes the listener, exits 0
 * ```
 */
export interface Drainable {
  /** Tell clients to reconnect elsewhere, flush, hand off and close. */
  drain(): Promise<unknown>;
}

/** Register the drain-on-signal handler (once per process); `on` subscribes to a signal, `exit` ends the process. */
export function drainOnSignals(
  hub: Drainable | undefined,
  close: () => Promise<void>,
  on: (signal: "SIGTERM" | "SIGINT", handler: () => void) => void,
  exit: (code: number) => void,
): void {
  if (!hub) return;
  let started = false;
  const handler = () => {
    if (started) return;
    started = true;
    console.log("edgeplane: draining (signal)");
    hub.drain()
      .catch((err) => console.error("edgeplane: drain failed:", err))
      .then(() => close())
      .finally(() => exit(0));
  };
  on("SIGTERM", handler);
  on("SIGINT", handler);
}

/**
 * Something with a fetch handler (a Hono app).
 *
 * @example
 * ```ts
 * const app: FetchApp = new Hono();
 * ```
 */
export interface FetchApp {
  /** Answer one request (Hono's `app.fetch`). */
  // deno-lint-ignore no-explicit-any
  fetch: (request: Request, ...rest: any[]) => Response | Promise<Response>;
}

export const DEFAULT_MAX_WS_PAYLOAD = 4 * 1024 * 1024;

export function resolvePort(port: number | undefined, env: string | undefined): number {
  if (port !== undefined) return port;
  const n = Number(env);
  return env !== undefined && env !== "" && Number.isInteger(n) && n >= 0 && n < 65536 ? n : 8787;
}

export function urlOf(hostname: string, port: number): string {
  const host = hostname === "0.0.0.0" || hostname === "::" ? "127.0.0.1" : hostname.includes(":") ? `[${hostname}]` : hostname;
  return `http://${host}:${port}`;
}

export function announce(opts: ServeOptions, url: string): void {
  if (opts.onListen) opts.onListen(url);
  else console.log(`edgeplane listening on ${url}`);
}
