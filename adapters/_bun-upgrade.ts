// Private: WebSocket upgrades on Bun that keep per connection only the route's events and one WSContext.
//
// `hono/bun` stores a parsed URL in every socket's data and builds a new WSContext (and its URL) for every event of
// the socket. Here the socket's data is `{ events, ctx }`, the context made once at open, with `url` left null.
import { defineWebSocketHelper, WSContext, type WSEvents } from "hono/ws";
import type { UpgradeWebSocket } from "./_serve.ts";

/** The part of Bun's ServerWebSocket used here. */
interface BunSocket {
  data: { events: WSEvents; ctx?: WSContext };
  readonly readyState: 0 | 1 | 2 | 3;
  send(data: string | ArrayBufferLike | Uint8Array, compress?: boolean): number;
  close(code?: number, reason?: string): void;
}
interface BunServer {
  upgrade(req: Request, opts: { data: BunSocket["data"] }): boolean;
}

/** Hono's `upgradeWebSocket` for Bun (routes get the same events API). */
export const upgradeWebSocket: UpgradeWebSocket = defineWebSocketHelper((c, events) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") return;
  const env = c.env as { server?: BunServer } & Partial<BunServer> | undefined;
  const server = env && "server" in env && env.server ? env.server : env as BunServer | undefined;
  if (!server || typeof server.upgrade !== "function") throw new TypeError("edgeplane/adapters/bun: the app must be served by Bun.serve (fetch(request, server))");
  if (server.upgrade(c.req.raw, { data: { events: events as WSEvents } })) return new Response(null);
}) as UpgradeWebSocket;

function ctxOf(ws: BunSocket): WSContext {
  return (ws.data.ctx ??= new WSContext({
    send: (data, opts) => void ws.send(data as string, opts?.compress),
    close: (code, reason) => ws.close(code, reason),
    raw: ws,
    get readyState() {
      return ws.readyState;
    },
    protocol: null,
    url: null,
  }));
}

function run(ws: BunSocket, fn: () => unknown): void {
  try {
    const r = fn();
    if (r instanceof Promise) r.catch((error) => ws.data.events.onError?.(Object.assign(new Event("error"), { error }), ctxOf(ws)));
  } catch (error) {
    ws.data.events.onError?.(Object.assign(new Event("error"), { error }), ctxOf(ws));
  }
}

/** Bun.serve's `websocket` handlers for sockets upgraded by {@link upgradeWebSocket}. */
export const websocket = {
  open(ws: BunSocket): void {
    run(ws, () => ws.data.events.onOpen?.(new Event("open"), ctxOf(ws)));
  },
  message(ws: BunSocket, message: string | Uint8Array): void {
    const data = typeof message === "string" ? message : message.buffer.slice(message.byteOffset, message.byteOffset + message.byteLength);
    run(ws, () => ws.data.events.onMessage?.(new MessageEvent("message", { data }), ctxOf(ws)));
  },
  close(ws: BunSocket, code: number, reason: string): void {
    run(ws, () => ws.data.events.onClose?.(closeEvent(code, reason), ctxOf(ws)));
  },
};

function closeEvent(code: number, reason: string): CloseEvent {
  const C = (globalThis as { CloseEvent?: typeof CloseEvent }).CloseEvent;
  if (C) return new C("close", { code, reason });
  return Object.assign(new Event("close"), { code, reason, wasClean: true }) as CloseEvent;
}
