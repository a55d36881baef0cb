/**
 * The security example: who may connect (origin, authentication) and how much they may do (limits), on one Hono
 * app that runs on Node, Deno and Bun (`server.ts` picks the runtime's adapter).
 *
 * - Origins: same-origin, plus the comma-separated list in `EDGEPLANE_ALLOWED_ORIGINS`.
 * - Authentication: a token in `Authorization: Bearer <token>` or `?token=<token>` (browsers cannot set headers on
 *   a WebSocket or an EventSource; a session cookie works the same way). This demo accepts `tok-<name>` as the
 *   token of user `<name>`; a real app looks the token up.
 * - Authorization by identity: `user:<id>` rooms are only for that user.
 * - Presence: the `name` members see is the authenticated one, whatever the client claims in its join `meta`.
 * - Limits from the environment: `EDGEPLANE_MAX_CONNECTIONS`, `EDGEPLANE_MAX_PER_USER`, `EDGEPLANE_MAX_ROOMS`,
 *   `EDGEPLANE_PUBLISH_RATE` (`<perSecond>/<burst>/<closeAfter>`), `EDGEPLANE_MAX_META_BYTES`; and
 *   `EDGEPLANE_SSE_HEARTBEAT_MS` (a vanished SSE client is noticed at the next write), `EDGEPLANE_HISTORY_MESSAGES`
 *   (replay history per room, default 1000).
 *
 * @module
 */
import { Hono } from "hono";
import type { UpgradeWebSocket } from "hono/ws";
import { Hub } from "../../src/hub.ts";
import { MemoryExchange } from "../../src/exchange/memory.ts";
import type { ConnectionLimits } from "../../src/limits.ts";
import { edgeplaneRoutes, type EdgeplaneRoutes } from "../../adapters/hono.ts";

/**
 * Who a connection belongs to (what `authenticate` returns).
 *
 * @example
 * ```ts
 * const u: User = { id: "ada", name: "Ada" };
 * ```
 */
export interface User {
  /** Counted under this for `maxConnectionsPerIdentity`. */
  id: string;
  /** Shown in presence. */
  name: string;
}

/**
 * The example app and its hub.
 *
 * @example
 * ```ts
 * const { app, hub }: SecureApp = createSecureApp({ upgradeWebSocket, env: (k) => process.env[k] });
 * ```
 */
export interface SecureApp {
  app: Hono;
  hub: Hub;
  routes: EdgeplaneRoutes;
  close(): Promise<void>;
}

/** The demo's token check: `tok-<name>` is user `<name>`. */
function userOf(request: Request): User | null {
  const header = request.headers.get("authorization");
  const token = header?.startsWith("Bearer ") ? header.slice(7) : new URL(request.url).searchParams.get("token");
  const m = token ? /^tok-([a-z0-9]{1,32})$/.exec(token) : null;
  return m ? { id: m[1], name: m[1][0].toUpperCase() + m[1].slice(1) } : null;
}

/**
 * Build the app.
 *
 * @example
 * ```ts
 * const secure = createSecureApp({ upgradeWebSocket, env: (k) => process.env[k] });
 * await serve(secure.app);
 * ```
 */
export function createSecureApp(opts: { upgradeWebSocket: UpgradeWebSocket; env: (name: string) => string | undefined }): SecureApp {
  const num = (name: string): number | undefined => {
    const v = opts.env(name);
    return v !== undefined && v !== "" && Number.isFinite(Number(v)) ? Number(v) : undefined;
  };
  const rate = opts.env("EDGEPLANE_PUBLISH_RATE")?.split("/").map(Number);
  const limits: ConnectionLimits = {
    maxConnections: num("EDGEPLANE_MAX_CONNECTIONS") ?? 10_000,
    maxConnectionsPerIdentity: num("EDGEPLANE_MAX_PER_USER") ?? 5,
    maxRoomsPerConnection: num("EDGEPLANE_MAX_ROOMS") ?? 20,
    publishRate: rate ? { perSecond: rate[0], burst: rate[1], closeAfter: rate[2] } : { perSecond: 10, burst: 20 },
    maxPresenceMetaBytes: num("EDGEPLANE_MAX_META_BYTES") ?? 256,
  };
  const history = num("EDGEPLANE_HISTORY_MESSAGES");
  const hub = new Hub({
    exchange: history ? new MemoryExchange({ history: { maxMessages: history } }) : undefined,
    limits,
    // Members see the authenticated name; the client's own meta may add other fields but never replace it.
    presenceMeta: (conn, _room, meta) => ({ ...meta, name: (conn.identity as User).name }),
  });
  const routes = edgeplaneRoutes(hub, {
    upgradeWebSocket: opts.upgradeWebSocket,
    allowedOrigins: opts.env("EDGEPLANE_ALLOWED_ORIGINS")?.split(",").filter(Boolean) ?? "same-origin",
    authenticate: userOf,
    authorize: (_request, room, _action, identity) => !room.startsWith("user:") || room === `user:${(identity as User).id}`,
    sse: { heartbeatMs: num("EDGEPLANE_SSE_HEARTBEAT_MS") },
    metricsRoute: true,
  });
  const app = new Hono().route("/", routes.app);
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
