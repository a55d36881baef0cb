// Private: feeds client frames from a transport into the hub, with an optional per-connection authorization gate
// that keeps the connection's frame order.
import { validateRoom } from "../envelope.ts";
import { EdgeplaneError } from "../errors.ts";
import { askAuthorize } from "../_authorize.ts";
import type { Hub } from "../hub.ts";
import { type ClientFrame, errorFrame, parseClientFrame } from "../protocol.ts";
import type { Connection, ConnectionAuthorizer } from "./connection.ts";

/** Returns `receive(text)`: hand one client frame (JSON text) of `conn` to the hub. Never throws. */
export function frameReceiver(hub: Hub, conn: Connection, authorize?: ConnectionAuthorizer): (text: string) => Promise<void> {
  if (!authorize) return (text) => hub.receive(conn.id, text).catch(() => {});
  let chain: Promise<void> = Promise.resolve();
  const gate = async (text: string): Promise<void> => {
    let f: ClientFrame | undefined;
    try {
      f = parseClientFrame(text);
      if (f.t === "join" || f.t === "pub") validateRoom(f.room);
    } catch {
      f = undefined; // the hub answers bad frames and bad rooms with the right error frame
    }
    if (f && (f.t === "join" || f.t === "pub")) {
      const action = f.t === "join" ? "join" : "publish";
      const room = f.room;
      if (!(await askAuthorize(() => authorize(conn, room, action), { action, room }))) {
        conn.send(errorFrame(new EdgeplaneError("FORBIDDEN", `not allowed to ${action} room ${JSON.stringify(f.room).slice(0, 80)}`), f.ref, f.room));
        return;
      }
    }
    // Not awaited: the hub dispatches the frame synchronously up to its first await, so order is kept while
    // publishes of one connection still pipeline.
    void hub.receive(conn.id, text).catch(() => {});
  };
  return (text) => {
    chain = chain.then(() => gate(text));
    return chain;
  };
}

/** Decode a received WebSocket/HTTP message to text; `undefined` when it is not valid UTF-8. */
export function messageText(data: unknown): string | undefined | Promise<string | undefined> {
  if (typeof data === "string") return data;
  try {
    if (data instanceof ArrayBuffer) return FATAL.decode(new Uint8Array(data));
    if (ArrayBuffer.isView(data)) return FATAL.decode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    if (Array.isArray(data)) return FATAL.decode(concat(data as Uint8Array[]));
    if (typeof Blob !== "undefined" && data instanceof Blob) return data.arrayBuffer().then((b) => messageText(b) as string | undefined);
  } catch {
    return undefined;
  }
  return undefined;
}

const FATAL = new TextDecoder("utf-8", { fatal: true });

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
