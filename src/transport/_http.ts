// Private: HTTP helpers shared by the SSE and long-poll transports (web-standard Request/Response only).
import { EdgeplaneError } from "../errors.ts";
import { errorFrame, MAX_CLIENT_FRAME_BYTES } from "../protocol.ts";
import type { Connection } from "./connection.ts";

/** Largest POST body (several frames, one per line). */
export const MAX_POST_BYTES = 4 * MAX_CLIENT_FRAME_BYTES;

/** A JSON response. */
export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers },
  });
}

/** JSON error response `{ error: { code, message } }`. */
export function jsonError(status: number, code: string, message: string): Response {
  return json({ error: { code, message } }, status);
}

/**
 * Rooms to join when a stream opens, from the URL: `room=<name>` (repeatable) joins at the room's current position;
 * `resume=<seq>:<name>` (repeatable) joins after `seq`. `lastEventId` (the SSE `Last-Event-ID`) resumes the single
 * `room` when exactly one is given.
 */
export function initialJoins(url: URL, lastEventId?: string | null): Array<{ room: string; lastSeq?: number }> {
  const out = new Map<string, number | undefined>();
  const rooms = url.searchParams.getAll("room").slice(0, 64);
  const leid = lastEventId != null && /^\d{1,15}$/.test(lastEventId) ? Number(lastEventId) : undefined;
  for (const r of rooms) out.set(r, rooms.length === 1 ? leid : undefined);
  for (const v of url.searchParams.getAll("resume").slice(0, 64)) {
    const m = /^(\d{1,15}):([\s\S]+)$/.exec(v);
    if (m) out.set(m[2], Number(m[1]));
    else out.set(v, undefined); // not `<seq>:<room>`: let the hub judge the name as a room
  }
  return [...out].map(([room, lastSeq]) => (lastSeq === undefined ? { room } : { room, lastSeq }));
}

/** Join frames (text) for {@link initialJoins}. */
export function joinFrames(url: URL, lastEventId?: string | null): string[] {
  return initialJoins(url, lastEventId).map((j) => JSON.stringify({ t: "join", ...j }));
}

/**
 * Read a POST body of client frames (one JSON frame per line) and hand each to `receive`. Oversized bodies get a
 * `PAYLOAD_TOO_LARGE` error frame on the connection's stream and a 413.
 */
export async function receivePost(request: Request, conn: Connection, receive: (text: string) => Promise<void>): Promise<Response> {
  const declared = Number(request.headers.get("content-length") ?? "NaN");
  if (declared > MAX_POST_BYTES) return tooLarge(conn, request);
  let text: string;
  try {
    const t = await readBounded(request, MAX_POST_BYTES);
    if (t === undefined) return tooLarge(conn, request);
    text = t;
  } catch {
    conn.send(errorFrame(new EdgeplaneError("BAD_FRAME", "request body is not valid UTF-8")));
    return jsonError(400, "BAD_FRAME", "request body is not valid UTF-8");
  }
  const lines = text.includes("\n") ? text.split("\n").filter((l) => l.trim() !== "") : [text];
  let last: Promise<void> = Promise.resolve();
  for (const line of lines) last = receive(line);
  await last;
  return json({ ok: true, frames: lines.length }, 202);
}

function tooLarge(conn: Connection, request: Request): Response {
  conn.send(errorFrame(new EdgeplaneError("PAYLOAD_TOO_LARGE", `request body is larger than ${MAX_POST_BYTES} bytes`)));
  request.body?.cancel().catch(() => {});
  return jsonError(413, "PAYLOAD_TOO_LARGE", `request body is larger than ${MAX_POST_BYTES} bytes`);
}

/** The body as UTF-8 text, or `undefined` when it exceeds `max` bytes. Throws on invalid UTF-8. */
async function readBounded(request: Request, max: number): Promise<string | undefined> {
  if (!request.body) return "";
  const reader = request.body.getReader();
  const parts: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > max) {
      reader.cancel().catch(() => {});
      return undefined;
    }
    parts.push(value);
  }
  const all = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.byteLength;
  }
  return new TextDecoder("utf-8", { fatal: true }).decode(all);
}
