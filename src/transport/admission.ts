/**
 * Who may open a connection: the checks every transport route runs on the request before a WebSocket upgrade, an
 * SSE stream or a long-poll session exists. In order: the browser's `Origin` (default: same origin only), the
 * `authenticate` hook (its result becomes the connection's `identity`), then the hub's connection limits.
 * Refusals are JSON `{ error: { code, message } }` responses: 403 `FORBIDDEN_ORIGIN`, 401 `UNAUTHENTICATED`,
 * 503 `LIMIT_CONNECTIONS`, 429 `LIMIT_SESSIONS`, each counted in `hub.metrics().refused`.
 *
 * @module
 */
import { EdgeplaneError } from "../errors.ts";
import type { Hub } from "../hub.ts";
import { jsonError } from "./_http.ts";

/**
 * Which browser origins may connect:
 * - `"same-origin"` (default): requests whose `Origin` names the host they were sent to (`Host`), and requests
 *   without an `Origin` (non-browser clients; browsers send one on every WebSocket and cross-origin request)
 *   unless `Sec-Fetch-Site` says they are cross-site;
 * - a list of origins (`"https://app.example.com"`) allowed besides the same origin;
 * - a function deciding per request;
 * - `"*"`: any origin (opt-out: only for public data, or when cookies do not authenticate).
 *
 * @example
 * ```ts
 * const origins: AllowedOrigins = ["https://app.example.com", "https://admin.example.com"];
 * const byHost: AllowedOrigins = (origin) => new URL(origin).hostname.endsWith(".example.com");
 * ```
 */
export type AllowedOrigins = "same-origin" | "*" | readonly string[] | ((origin: string, request: Request) => boolean);

/**
 * The connection-opening checks of the routes.
 *
 * @example
 * ```ts
 * const opts: AdmissionOptions = {
 *   allowedOrigins: ["https://app.example.com"],
 *   authenticate: async (request) => (await sessions.lookup(request.headers.get("cookie"))) ?? null,
 * };
 * ```
 */
export interface AdmissionOptions {
  /** See {@link AllowedOrigins}. Default `"same-origin"`. */
  allowedOrigins?: AllowedOrigins;
  /**
   * Who the request is from: any value but `null`/`undefined` admits it and becomes the connection's `identity`
   * (seen by `authorize` and `presenceMeta`, and keying `limits.maxConnectionsPerIdentity`); `null`/`undefined`, a
   * throw or a rejection refuse it with 401 before any upgrade or session. Default: everyone, no identity.
   */
  authenticate?: (request: Request) => unknown | Promise<unknown>;
}

/**
 * True when `request` passes the `allowedOrigins` check.
 *
 * @example
 * ```ts
 * if (!originAllowed(request, "same-origin")) return new Response(null, { status: 403 });
 * ```
 */
export function originAllowed(request: Request, allowed: AllowedOrigins = "same-origin"): boolean {
  if (allowed === "*") return true;
  const origin = request.headers.get("origin");
  if (origin === null) return request.headers.get("sec-fetch-site") !== "cross-site";
  if (sameOrigin(origin, request.url)) return true;
  if (typeof allowed === "function") {
    try {
      return allowed(origin, request) === true;
    } catch {
      return false;
    }
  }
  return allowed !== "same-origin" && allowed.includes(origin);
}

function sameOrigin(origin: string, url: string): boolean {
  try {
    return new URL(origin).host === new URL(url).host;
  } catch {
    return false; // "null" (sandboxed frames, file:) and malformed origins
  }
}

/**
 * The origin check alone, for requests of an existing session (POSTs of frames): a refusal `Response`, or
 * `undefined` when allowed.
 *
 * @example
 * ```ts
 * app.post("/sse/:token", (c) => checkOrigin(hub, c.req.raw, "same-origin") ?? sse.post(c.req.param("token"), c.req.raw));
 * ```
 */
export function checkOrigin(hub: Hub, request: Request, allowed: AllowedOrigins | undefined): Response | undefined {
  if (originAllowed(request, allowed)) return undefined;
  hub.countRefusal("origin");
  return jsonError(403, "FORBIDDEN_ORIGIN", `origin ${JSON.stringify(request.headers.get("origin") ?? "(cross-site)").slice(0, 120)} is not allowed`);
}

/**
 * Run every check for a request that would open a connection: `{ identity }` when admitted, else the refusal
 * `Response` to send (nothing is upgraded or opened). With `connecting: false` (a request that opens nothing, such
 * as an HTTP publish) the hub's connection limits are not asked.
 *
 * @example
 * ```ts
 * const a = await admit(hub, request, { authenticate: (r) => r.headers.get("x-user") });
 * if (a instanceof Response) return a;
 * return sse.open(request, { data: request, identity: a.identity });
 * ```
 */
export async function admit(hub: Hub, request: Request, opts: AdmissionOptions, connecting = true): Promise<{ identity: unknown } | Response> {
  const bad = checkOrigin(hub, request, opts.allowedOrigins);
  if (bad) return bad;
  let identity: unknown = undefined;
  if (opts.authenticate) {
    try {
      identity = await opts.authenticate(request);
    } catch (err) {
      // A throwing hook refuses (never admits by accident) and is logged: a silent 401 would hide its bug.
      console.error(`edgeplane: authenticate threw; refused with 401. ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      identity = undefined;
    }
    if (identity === null || identity === undefined) {
      hub.countRefusal("unauthenticated");
      return jsonError(401, "UNAUTHENTICATED", "authentication required");
    }
  }
  const full = connecting ? hub.admits(identity) : undefined;
  return full ? refusalResponse(full) : { identity };
}

/**
 * The HTTP answer for an error refusing a connection: 503 for `LIMIT_CONNECTIONS` and `CLOSED` (draining), 429 for
 * `LIMIT_SESSIONS`, 400 otherwise.
 *
 * @example
 * ```ts
 * try { hub.connect(sink); } catch (err) { return refusalResponse(err); }
 * ```
 */
export function refusalResponse(err: unknown): Response {
  const code = err instanceof EdgeplaneError ? err.code : "INTERNAL";
  const status = code === "LIMIT_SESSIONS" ? 429 : code === "LIMIT_CONNECTIONS" || code === "CLOSED" || code === "INTERNAL" ? 503 : 400;
  const res = jsonError(status, code, err instanceof Error ? err.message : String(err));
  if (status === 503) res.headers.set("retry-after", "5");
  return res;
}
