/**
 * The Worker in front of the hub objects: routes `/ws`, `/sse` and `/poll` (the routes of `adapters/hono.ts`, same
 * protocol, same client) to a hub Durable Object chosen by shard, and a session's follow-up requests (`POST /sse/…`,
 * `/poll?session=…`, `POST|DELETE /poll/…`) to the object that holds the session: its token starts with the shard.
 *
 * Sharding, like Telefunc's `scale`: `shards` hub objects (`<name>-0` … `<name>-(n-1)`); a connection goes to the
 * shard of its `shardKey(request)` (hashed), or to a random one when there is no key. Rooms span shards: the exchange
 * delivers every room to every shard with members in it, in one order.
 *
 * @module
 */
import type { DurableObjectNamespaceLike, ExecutionContextLike } from "./_types.ts";
import { HUB_HEADER, PATHS } from "./_wire.ts";

/** Header with the shard number, set by the Worker for the hub object (it prefixes session tokens with it). */
export const SHARD_HEADER = "x-edgeplane-shard";

/**
 * Options of {@link edgeplaneWorker}.
 *
 * @example
 * ```ts
 * const opts: WorkerOptions = { shards: 8, shardKey: (req) => req.headers.get("x-user-id") ?? undefined };
 * ```
 */
// deno-lint-ignore no-explicit-any
export interface WorkerOptions<Env = any> {
  /** Binding of the hub objects' namespace (default `"EDGEPLANE_HUB"`). */
  hubBinding?: string;
  /** Number of hub objects connections are spread over (default 1). Raising it later moves keys between shards. */
  shards?: number;
  /** Stable key of a connection (user, tenant): same key, same shard. Default none: a random shard. */
  shardKey?: (request: Request, env: Env) => string | null | undefined;
  /** Base name of the hub objects (default `"hub"`: `hub-0`, `hub-1`, …). */
  name?: string;
  /** Path prefix the routes are mounted under (default none); clients use `<origin><prefix>` as their URL. */
  prefix?: string;
  /** Requests for any other path (default: 404). */
  fallback?: (request: Request, env: Env, ctx?: ExecutionContextLike) => Response | Promise<Response>;
}

/**
 * A Worker's module export (`export default`).
 *
 * @example
 * ```ts
 * const worker: EdgeplaneWorker = edgeplaneWorker();
 * export default worker;
 * ```
 */
// deno-lint-ignore no-explicit-any
export interface EdgeplaneWorker<Env = any> {
  /** The Worker's fetch handler. */
  fetch(request: Request, env: Env, ctx?: ExecutionContextLike): Promise<Response>;
}

/**
 * Build the Worker's fetch handler.
 *
 * @example
 * ```ts
 * import { edgeplaneWorker, hubObject, roomObject } from "edgeplane/adapters/cloudflare";
 *
 * export const EdgeplaneHub = hubObject();
 * export const EdgeplaneRoom = roomObject();
 * export default edgeplaneWorker({ shards: 4 });
 * ```
 */
// deno-lint-ignore no-explicit-any
export function edgeplaneWorker<Env = any>(opts: WorkerOptions<Env> = {}): EdgeplaneWorker<Env> {
  const shards = opts.shards ?? 1;
  if (!Number.isSafeInteger(shards) || shards < 1) throw new RangeError("shards must be a positive integer");
  const binding = opts.hubBinding ?? "EDGEPLANE_HUB";
  const base = opts.name ?? "hub";
  const prefix = (opts.prefix ?? "").replace(/\/+$/, "");

  const forward = (request: Request, env: Env, shard: number, path: string): Promise<Response> => {
    const ns = (env as Record<string, unknown>)[binding] as DurableObjectNamespaceLike | undefined;
    if (!ns) return Promise.resolve(json(500, "BAD_OPTION", `no Durable Object binding ${binding} for the hub objects (see the wrangler config)`));
    const name = `${base}-${shard}`;
    const url = new URL(request.url);
    url.pathname = path;
    const headers = new Headers(request.headers);
    headers.set(HUB_HEADER, name);
    headers.set(SHARD_HEADER, String(shard));
    const body = request.method === "GET" || request.method === "HEAD" ? undefined : request.body;
    return ns.get(ns.idFromName(name)).fetch(new Request(url.href, { method: request.method, headers, body, signal: request.signal }));
  };

  const pick = (request: Request, env: Env): number => {
    const key = opts.shardKey?.(request, env);
    return key == null || key === "" ? Math.floor(Math.random() * shards) : fnv1a(key) % shards;
  };

  /** The shard a session token belongs to, or undefined for a token no shard of this Worker issued. */
  const ofToken = (token: string | null): number | undefined => {
    const m = token ? /^(\d{1,6})\.[0-9a-f]{32}$/.exec(token) : null;
    const n = m ? Number(m[1]) : NaN;
    return n < shards ? n : undefined;
  };

  return {
    fetch(request: Request, env: Env, ctx?: ExecutionContextLike): Promise<Response> {
      const url = new URL(request.url);
      let path = url.pathname;
      if (prefix) {
        if (path !== prefix && !path.startsWith(`${prefix}/`)) return other(request, env, ctx);
        path = path.slice(prefix.length) || "/";
      }
      if (path.startsWith("/__edgeplane/") || path === PATHS.deliver) return Promise.resolve(json(404, "BAD_FRAME", "not found"));
      const method = request.method;
      if (path === "/ws" && method === "GET") return forward(request, env, pick(request, env), path);
      if (path === "/sse" && method === "GET") return forward(request, env, pick(request, env), path);
      if (path === "/poll" && method === "GET") {
        const session = url.searchParams.get("session");
        if (session === null) return forward(request, env, pick(request, env), path);
        return bySession(ofToken(session), () => forward(request, env, ofToken(session)!, path));
      }
      const session = /^\/(sse|poll)\/([^/]+)$/.exec(path);
      if (session && (method === "POST" || (method === "DELETE" && session[1] === "poll"))) {
        let token: string | null = null;
        try {
          token = decodeURIComponent(session[2]);
        } catch { /* malformed escape: unknown session */ }
        const shard = ofToken(token);
        return bySession(shard, () => forward(request, env, shard!, path));
      }
      if ((path === "/publish" && method === "POST") || (path === "/metrics" && method === "GET")) {
        const s = Number(url.searchParams.get("shard") ?? NaN);
        return forward(request, env, Number.isSafeInteger(s) && s >= 0 && s < shards ? s : pick(request, env), path);
      }
      return other(request, env, ctx);
    },
  };

  function other(request: Request, env: Env, ctx?: ExecutionContextLike): Promise<Response> {
    return opts.fallback ? Promise.resolve(opts.fallback(request, env, ctx)) : Promise.resolve(json(404, "BAD_FRAME", "not found"));
  }
}

function bySession(shard: number | undefined, go: () => Promise<Response>): Promise<Response> {
  return shard === undefined ? Promise.resolve(json(404, "UNKNOWN_CONNECTION", "no such session (closed, expired or never opened)")) : go();
}

function json(status: number, code: string, message: string): Response {
  return new Response(JSON.stringify({ error: { code, message } }), { status, headers: { "content-type": "application/json; charset=utf-8" } });
}

/** FNV-1a 32-bit: a stable, well-spread hash of a shard key. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
