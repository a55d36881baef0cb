// Private: one physical connection of the client (a "link") over ws, sse or long-poll.
import type { ServerFrame } from "../protocol.ts";
import type { TransportKind } from "../transport/connection.ts";

/** How a link ended. */
export interface LinkClose {
  code?: number;
  reason?: string;
}

/** Callbacks of a link; `close` is called exactly once. */
export interface LinkEvents {
  frame(f: ServerFrame): void;
  close(info: LinkClose): void;
}

/** A connection over one transport. */
export interface Link {
  readonly kind: TransportKind;
  /** Send one client frame (JSON text). Frames sent before the link is ready are held and sent in order. */
  send(text: string): void;
  /** Close; the `close` callback still fires. */
  close(): void;
}

/** What links need from the environment. */
export interface LinkEnv {
  WebSocket?: new (url: string) => WebSocket;
  fetch: typeof fetch;
  pollWaitMs: number;
}

/** Parse a server frame; undefined when it is not a JSON object with a string `t`. */
export function parseServerFrame(text: string): ServerFrame | undefined {
  try {
    const f = JSON.parse(text);
    return f && typeof f === "object" && typeof f.t === "string" ? (f as ServerFrame) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Joins `base` (where the routes are mounted) and a route path. The base's query (e.g. `?token=…` for the server's
 * `authenticate`) is kept on every request.
 */
export function routeUrl(base: URL, path: string): URL {
  const u = new URL(base.href);
  u.pathname = u.pathname.replace(/\/+$/, "") + path;
  u.hash = "";
  return u;
}

/**
 * Serializes POSTs of client frames (one in flight; frames queued meanwhile go together in the next, one per line)
 * so the server sees them in send order.
 */
export class PostPump {
  #outbox: string[] = [];
  #inflight = false;
  #target: URL | undefined;
  constructor(readonly env: LinkEnv, readonly signal: AbortSignal, readonly onFail: () => void) {}

  setTarget(url: URL): void {
    this.#target = url;
    this.#pump();
  }

  send(text: string): void {
    this.#outbox.push(text);
    this.#pump();
  }

  #pump(): void {
    if (this.#inflight || !this.#target || this.#outbox.length === 0 || this.signal.aborted) return;
    this.#inflight = true;
    const body = this.#outbox.splice(0).join("\n");
    this.env.fetch(this.#target.href, { method: "POST", body, headers: { "content-type": "text/plain;charset=utf-8" }, signal: this.signal })
      .then(async (res) => {
        await res.body?.cancel().catch(() => {});
        if (!res.ok) throw new Error(`POST ${res.status}`);
        this.#inflight = false;
        this.#pump();
      })
      .catch(() => {
        this.#inflight = false;
        this.onFail();
      });
  }
}
