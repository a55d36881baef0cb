// Private: WebSocket upgrades on Node without keeping the upgrade request alive.
//
// `@hono/node-server`'s upgrade helper keeps, for the whole life of every WebSocket, the Hono context, the
// `IncomingMessage` (with its headers) and a parsed URL in the closure that dispatches the socket's events: several
// KiB per idle connection. Here the app sees the same upgrade request (as a web `Request`, through `app.fetch`, so
// routing, middleware, origin checks and authentication run as usual), and once it has answered with the route's
// events, the request, context and env are dropped: a connection keeps its `ws` socket, one `WSContext` and the
// events object the route made.
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { STATUS_CODES } from "node:http";
import { defineWebSocketHelper, WSContext, type WSEvents } from "hono/ws";
import type { UpgradeWebSocket } from "./_serve.ts";

/** Where the route's `upgradeWebSocket` leaves its events for the server's upgrade handler (in `c.env`). */
const SLOT = Symbol.for("edgeplane.node.upgrade");
interface Slot {
  events?: WSEvents;
}

/** Hono's `upgradeWebSocket` for {@link handleUpgrade}: records the route's events instead of upgrading itself. */
export const upgradeWebSocket: UpgradeWebSocket = defineWebSocketHelper((c, events) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") return;
  const slot = (c.env as Record<symbol, Slot | undefined> | undefined)?.[SLOT];
  if (!slot) return new Response("WebSocket upgrades need edgeplane's Node serve()", { status: 500 });
  slot.events = events as WSEvents;
  return new Response(null, { status: 200 });
}) as UpgradeWebSocket;

/** The part of `ws`'s WebSocketServer and WebSocket used here. */
interface WsServer {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, done: (ws: WsSocket) => void): void;
}
interface WsSocket {
  readonly readyState: 0 | 1 | 2 | 3;
  readonly protocol: string;
  send(data: unknown, opts?: { compress?: boolean }): void;
  close(code?: number, reason?: string): void;
  on(event: "message", fn: (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => void): void;
  on(event: "close", fn: (code: number, reason: Buffer) => void): void;
  on(event: "error", fn: (err: Error) => void): void;
}

function ignore(): void {}

type Fetch = (request: Request, env: Record<string | symbol, unknown>) => Response | Promise<Response>;

/** The server's `upgrade` listener: ask the app, then upgrade with the route's events or answer its response. */
export function handleUpgrade(fetch: Fetch, wss: WsServer): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    if (req.headers.upgrade?.toLowerCase() !== "websocket") return;
    socket.on("error", ignore); // a module-level function: a closure here would keep req, head and the slot alive
    const slot: Slot = {};
    void (async () => {
      let res: Response;
      try {
        res = await fetch(upgradeRequest(req), { incoming: req, outgoing: undefined, [SLOT]: slot });
      } catch {
        return refuse(socket, 500);
      }
      const events = slot.events;
      if (!events || socket.destroyed) return refuse(socket, res.status, res);
      wss.handleUpgrade(req, socket, head, (ws) => wire(ws, events));
    })();
  };
}

function wire(ws: WsSocket, events: WSEvents): void {
  const ctx = new WSContext({
    send: (data, opts) => ws.send(data, { compress: opts?.compress }),
    close: (code, reason) => ws.close(code, reason),
    raw: ws,
    get readyState() {
      return ws.readyState;
    },
    protocol: ws.protocol,
    url: null,
  });
  events.onOpen?.(new Event("open"), ctx);
  ws.on("message", (data, isBinary) => {
    const bytes = Array.isArray(data) ? Buffer.concat(data) : data;
    const payload = isBinary
      ? (bytes instanceof ArrayBuffer ? bytes : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))
      : (bytes instanceof ArrayBuffer ? Buffer.from(bytes) : bytes).toString("utf8");
    events.onMessage?.(new MessageEvent("message", { data: payload }), ctx);
  });
  ws.on("close", (code, reason) => events.onClose?.(closeEvent(code, reason.toString()), ctx));
  ws.on("error", (error) => events.onError?.(Object.assign(new Event("error"), { error }), ctx));
}

const CloseEventImpl: new (type: string, init: { code: number; reason: string }) => CloseEvent =
  (globalThis as { CloseEvent?: typeof CloseEvent }).CloseEvent ??
    class extends Event {
      readonly code: number;
      readonly reason: string;
      readonly wasClean = true;
      constructor(type: string, init: { code: number; reason: string }) {
        super(type);
        this.code = init.code;
        this.reason = init.reason;
      }
    } as unknown as new (type: string, init: { code: number; reason: string }) => CloseEvent;

function closeEvent(code: number, reason: string): CloseEvent {
  return new CloseEventImpl("close", { code, reason });
}

function upgradeRequest(req: IncomingMessage): Request {
  const proto = (req.socket as { encrypted?: boolean }).encrypted ? "https" : "http";
  const headers = new Headers();
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.append(key, Array.isArray(value) ? value.join(", ") : value);
  }
  return new Request(`${proto}://${req.headers.host ?? "localhost"}${req.url ?? "/"}`, { headers });
}

/** Answer an upgrade the app did not accept with its status (and body), then close. */
function refuse(socket: Duplex, status: number, res?: Response): void {
  if (socket.destroyed) return;
  const head = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}`, "Connection: close"];
  const send = (body: string) => {
    head.push(`Content-Length: ${Buffer.byteLength(body)}`);
    res?.headers.forEach((v, k) => {
      if (k !== "content-length" && k !== "connection" && k !== "transfer-encoding") head.push(`${k}: ${v}`);
    });
    socket.end(`${head.join("\r\n")}\r\n\r\n${body}`);
  };
  if (!res) return send("");
  res.text().then(send, () => send(""));
}
