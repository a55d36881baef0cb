/**
 * WebSocket transport on web standards. Works with anything WebSocket-like that the runtime hands over: the standard
 * `WebSocket` (what Deno's `upgradeWebSocket` returns, browsers' shape), the `ws` package's socket (Node) or Bun's
 * `ServerWebSocket` (through Hono's `WSContext`). One client frame per WebSocket text message; one server frame per
 * message sent. Backpressure: the queue sees the socket's `bufferedAmount` (or Bun's `getBufferedAmount()`), so a
 * client that stops reading is closed with code 4008 once it stays over budget.
 *
 * @module
 */
import { EdgeplaneError } from "../errors.ts";
import type { Hub } from "../hub.ts";
import type { FrameSink } from "../local/queue.ts";
import { errorFrame, type Frame } from "../protocol.ts";
import type { Connection, TransportOptions } from "./connection.ts";
import { frameReceiver, messageText } from "./_receiver.ts";

/**
 * The part of a server-side WebSocket the transport needs.
 *
 * @example
 * ```ts
 * const like: WebSocketLike = { send: (t) => socket.send(t), close: (c, r) => socket.close(c, r), bufferedAmount: 0 };
 * ```
 */
export interface WebSocketLike {
  /** Send one text message. */
  send(data: string): unknown;
  /** Close the socket with a code and a reason. */
  close(code?: number, reason?: string): void;
  /** Standard / `ws`: bytes queued but not yet sent. */
  readonly bufferedAmount?: number;
  /** Bun's `ServerWebSocket`. */
  getBufferedAmount?(): number;
  /** Run several `send`s as one write (cork), when the runtime can: Node's `ws` socket, Bun's `cork`. */
  batch?(sends: () => void): void;
  /**
   * The runtime's fast path for a whole batch of frames (one per connection per turn), used instead of `send`
   * when present. The same `Frame` objects reach every member of a room, so an adapter can build their bytes once
   * and write them to every socket (see `adapters/`).
   */
  writeFrames?(frames: readonly Frame[]): void;
}

/**
 * Options of {@link webSocketConnection}.
 *
 * @example
 * ```ts
 * const opts: WebSocketTransportOptions = { data: request, bufferedAmount: () => socket.bufferedAmount };
 * ```
 */
export interface WebSocketTransportOptions extends TransportOptions {
  /** Adapter data for the connection (e.g. the upgrade `Request`), visible to `authorize` as `conn.data`. */
  data?: unknown;
  /** Where to read the socket's buffered bytes; default: `bufferedAmount` or `getBufferedAmount()` of the socket. */
  bufferedAmount?: () => number;
  /** Who the client is (what `authenticate` returned), as the connection's `identity`. */
  identity?: unknown;
}

/**
 * What the runtime glue calls: `message(data)` for every received message, `closed()` once the socket is gone.
 *
 * @example
 * ```ts
 * const h = webSocketConnection(hub, socket);
 * socket.onmessage = (e) => h.message(e.data);
 * socket.onclose = () => h.closed();
 * ```
 */
export interface WebSocketHandlers {
  /** The hub connection of this socket. */
  readonly connection: Connection;
  /** Call for every received message (text or bytes); bad frames are answered with error frames. */
  message(data: unknown): void;
  /** Call once when the socket closed or failed: removes the connection from the hub. */
  closed(): void;
}

/**
 * Register a WebSocket with the hub (sends `welcome`) and return the handlers to wire to its events. Throws what
 * `hub.connect` throws (`LIMIT_CONNECTIONS`, `LIMIT_SESSIONS`, `CLOSED`); check `hub.admits()` before upgrading.
 *
 * @example
 * ```ts
 * // Hono: app.get("/ws", upgradeWebSocket(() => { let h; return {
 * //   onOpen: (_e, ws) => { h = webSocketConnection(hub, ws.raw ? { send: (t) => ws.send(t), close: (c, r) => ws.close(c, r) } : ws); },
 * //   onMessage: (e) => h.message(e.data), onClose: () => h.closed() }; }));
 * const h = webSocketConnection(hub, socket, { queue: { budgetBytes: 256 * 1024 } });
 * ```
 */
export function webSocketConnection(hub: Hub, socket: WebSocketLike, opts: WebSocketTransportOptions = {}): WebSocketHandlers {
  return new WebSocketSession(hub, socket, opts);
}

/**
 * One WebSocket's sink and handlers in one object (no closures per connection: an idle connection costs what it
 * holds, not a dozen function objects).
 */
class WebSocketSession implements FrameSink, WebSocketHandlers {
  readonly connection: Connection;
  readonly #socket: WebSocketLike;
  readonly #buffered: (() => number) | undefined;
  readonly #receive: (text: string) => Promise<void>;
  #gone = false;

  constructor(hub: Hub, socket: WebSocketLike, opts: WebSocketTransportOptions) {
    this.#socket = socket;
    this.#buffered = opts.bufferedAmount;
    this.connection = hub.connect(this, { queue: opts.queue, data: opts.data, identity: opts.identity });
    this.#receive = frameReceiver(hub, this.connection, opts.authorize);
  }

  write(frames: readonly Frame[]): void {
    if (this.#gone) return;
    const socket = this.#socket;
    if (socket.writeFrames) socket.writeFrames(frames);
    else if (frames.length > 1 && socket.batch) {
      socket.batch(() => {
        for (const f of frames) socket.send(f.text);
      });
    } else for (const f of frames) socket.send(f.text);
  }

  close(code: number, reason: string): void {
    if (this.#gone) return;
    this.#gone = true;
    try {
      this.#socket.close(code, reason.slice(0, 120));
    } catch { /* already closing */ }
  }

  bufferedAmount(): number {
    try {
      if (this.#buffered) return this.#buffered();
      const socket = this.#socket;
      return typeof socket.getBufferedAmount === "function" ? socket.getBufferedAmount() : socket.bufferedAmount ?? 0;
    } catch {
      return 0;
    }
  }

  message(data: unknown): void {
    const text = messageText(data);
    if (typeof text === "string") void this.#receive(text);
    else if (text === undefined) this.#badFrame();
    else void text.then((t) => (t === undefined ? this.#badFrame() : void this.#receive(t)), () => this.#badFrame());
  }

  closed(): void {
    this.#gone = true;
    this.connection.close(1000, "client went away"); // idempotent: a no-op once the hub closed it
  }

  #badFrame(): void {
    this.connection.send(errorFrame(new EdgeplaneError("BAD_FRAME", "frames must be UTF-8 JSON text")));
  }
}

/**
 * Serve a standard `WebSocket` (e.g. the one Deno's `upgradeWebSocket` returns): wires `message`/`close`/`error`
 * events; frames written before the socket opens are held until it does.
 *
 * @example
 * ```ts
 * // `socket` is a standard server-side WebSocket handed over by the runtime for `request`.
 * const conn = acceptWebSocket(hub, socket, { data: request });
 * console.log(conn.id);
 * ```
 */
export function acceptWebSocket(hub: Hub, socket: WebSocket, opts: WebSocketTransportOptions = {}): Connection {
  const early: string[] = []; // frames written before the socket is open
  const like: WebSocketLike = {
    send(text: string): void {
      if (socket.readyState === 1) socket.send(text);
      else if (socket.readyState === 0) early.push(text);
    },
    close: (code, reason) => socket.close(code, reason),
    get bufferedAmount(): number {
      return (socket.bufferedAmount ?? 0) + early.reduce((n, t) => n + t.length, 0);
    },
  };
  const h = webSocketConnection(hub, like, opts);
  socket.addEventListener("open", () => {
    for (const t of early.splice(0)) socket.send(t);
  });
  socket.addEventListener("message", (e) => h.message(e.data));
  socket.addEventListener("close", () => h.closed());
  socket.addEventListener("error", () => h.closed());
  return h.connection;
}
