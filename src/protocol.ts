/**
 * The client ⇄ server frame protocol shared by every transport (ws, sse, long-poll) and the client.
 * Frames are JSON text. Binary payloads travel base64-encoded in `b64` (one serialization per message, shared by
 * every connection of the room).
 *
 * Client → server: `join`, `leave`, `pub`, `ping`.
 * Server → client: `welcome`, `joined`, `left`, `msg`, `ack`, `error`, `discontinuity`, `reconnect`, `pong`.
 *
 * @module
 */
import { EdgeplaneError } from "./errors.ts";
import type { SequencedMessage } from "./exchange/exchange.ts";
import { toBase64, utf8Length } from "./_utf8.ts";

/**
 * Largest client frame the server parses (bytes); larger frames get a `BAD_FRAME`/`PAYLOAD_TOO_LARGE` error frame.
 *
 * @example
 * ```ts
 * if (new TextEncoder().encode(text).length > MAX_CLIENT_FRAME_BYTES) console.warn("frame will be refused");
 * ```
 */
export const MAX_CLIENT_FRAME_BYTES: number = 1024 * 1024 + 4096;

/**
 * Default largest presence `meta` a client may attach to a join (UTF-8 bytes of its JSON); a hub's
 * `limits.maxPresenceMetaBytes` overrides it.
 *
 * @example
 * ```ts
 * const meta = { name: "ada" };
 * console.log(JSON.stringify(meta).length <= MAX_PRESENCE_META_BYTES); // true
 * ```
 */
export const MAX_PRESENCE_META_BYTES = 1024;

/**
 * Frames a client sends. `ref` is echoed in the matching `ack`/`error`.
 *
 * @example
 * ```ts
 * const join: ClientFrame = { t: "join", room: "lobby", lastSeq: 41, ref: "1" };
 * socket.send(JSON.stringify(join));
 * ```
 */
export type ClientFrame =
  | { t: "join"; room: string; lastSeq?: number; meta?: Record<string, unknown>; ref?: string }
  | { t: "leave"; room: string; ref?: string }
  | { t: "pub"; room: string; data?: string; b64?: string; id?: string; ref?: string }
  | { t: "ping"; ref?: string };

/**
 * Frames the server sends.
 *
 * @example
 * ```ts
 * const f: ServerFrame = JSON.parse(event.data);
 * if (f.t === "msg") console.log(f.room, f.seq, f.data);
 * ```
 */
export type ServerFrame =
  | { t: "welcome"; conn: string; node: string }
  | { t: "joined"; room: string; seq: number; epoch: number; ref?: string }
  | { t: "left"; room: string; ref?: string }
  | { t: "msg"; room: string; seq: number; ts: number; epoch: number; id: string; data?: string; b64?: string }
  | { t: "ack"; ref?: string; room: string; seq: number; ts: number }
  | { t: "error"; code: string; message: string; ref?: string; room?: string }
  | { t: "discontinuity"; room: string; afterSeq: number; nextSeq: number; reason: string }
  | { t: "reconnect"; reason: string }
  | { t: "pong"; ref?: string }
  | { t: "presence"; room: string; count: number; members?: Array<{ conn: string; meta?: unknown }> }
  | { t: "direct"; from: string; data: string };

/**
 * A serialized frame ready for the wire, with its size computed once.
 *
 * @example
 * ```ts
 * const f: Frame = frame({ t: "pong" });
 * console.log(f.text, f.bytes); // {"t":"pong"} 12
 * ```
 */
export interface Frame {
  /** The JSON text of the frame. */
  readonly text: string;
  /** UTF-8 bytes of `text`. */
  readonly bytes: number;
  /** Room of a `msg` frame (for per-room lastSeq / stale checks). */
  readonly room?: string;
  /** Seq of a `msg` frame. */
  readonly seq?: number;
  /** Frames with the same key replace each other while queued (e.g. presence counts). */
  readonly coalesceKey?: string;
}

/**
 * Serialize a server frame once.
 *
 * @example
 * ```ts
 * const f = frame({ t: "pong" });
 * console.log(f.text, f.bytes); // {"t":"pong"} 12
 * ```
 */
export function frame(f: ServerFrame, coalesceKey?: string): Frame {
  const text = JSON.stringify(f);
  return { text, bytes: utf8Length(text), coalesceKey };
}

/**
 * Serialize a sequenced message as a `msg` frame (done once per message, shared by every connection).
 *
 * @example
 * ```ts
 * const f = messageFrame({ room: "r", seq: 1, timestamp: 0, epoch: 1, id: "a", origin: "n", payload: "hi" });
 * ```
 */
export function messageFrame(m: SequencedMessage): Frame {
  // Written out rather than JSON.stringify of an object: the same text (key order, number formatting), no object
  // built per message. Numbers here are finite integers, which JSON writes as String(n) does.
  const body = typeof m.payload === "string" ? `,"data":${JSON.stringify(m.payload)}}` : `,"b64":"${toBase64(m.payload)}"}`;
  const text = `{"t":"msg","room":${JSON.stringify(m.room)},"seq":${m.seq},"ts":${m.timestamp},"epoch":${m.epoch},"id":${JSON.stringify(m.id)}${body}`;
  return { text, bytes: utf8Length(text), room: m.room, seq: m.seq };
}

/**
 * The `ack` frame of a publish (what `frame({ t: "ack", ref, room, seq, ts })` serializes to, without the object).
 *
 * @example
 * ```ts
 * const f = ackFrame("r1", "lobby", 42, Date.now());
 * console.log(f.text); // {"t":"ack","ref":"r1","room":"lobby","seq":42,"ts":…}
 * ```
 */
export function ackFrame(ref: string | undefined, room: string, seq: number, ts: number): Frame {
  const text = `{"t":"ack",${ref === undefined ? "" : `"ref":${JSON.stringify(ref)},`}"room":${JSON.stringify(room)},"seq":${seq},"ts":${ts}}`;
  return { text, bytes: utf8Length(text) };
}

/**
 * Error frame for an error (typed errors keep their code; anything else is `INTERNAL`).
 *
 * @example
 * ```ts
 * sink.write([errorFrame(new EdgeplaneError("BAD_ROOM", "empty"), "r1")]);
 * ```
 */
export function errorFrame(err: unknown, ref?: string, room?: string): Frame {
  const code = err instanceof EdgeplaneError ? err.code : "INTERNAL";
  const message = err instanceof Error ? err.message : String(err);
  const f: ServerFrame = { t: "error", code, message };
  if (ref !== undefined) f.ref = ref;
  if (room !== undefined) f.room = room;
  return frame(f);
}

/**
 * Parse and shape-check one client frame. Throws `BAD_FRAME` (not JSON, not an object, unknown type, wrong field
 * types) or `PAYLOAD_TOO_LARGE` (the frame, or a join's `meta` over `opts.maxMetaBytes`, default
 * {@link MAX_PRESENCE_META_BYTES}). Room names are validated later by the hub (`BAD_ROOM`).
 *
 * @example
 * ```ts
 * const f = parseClientFrame('{"t":"join","room":"lobby"}');
 * ```
 */
export function parseClientFrame(text: string, opts?: { maxMetaBytes?: number }): ClientFrame {
  if (typeof text !== "string") throw new EdgeplaneError("BAD_FRAME", "frame must be text");
  if (text.length > MAX_CLIENT_FRAME_BYTES) {
    throw new EdgeplaneError("PAYLOAD_TOO_LARGE", `frame is larger than ${MAX_CLIENT_FRAME_BYTES} bytes`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new EdgeplaneError("BAD_FRAME", "frame is not valid JSON");
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new EdgeplaneError("BAD_FRAME", "frame must be a JSON object");
  }
  const f = raw as Record<string, unknown>;
  if (f.ref !== undefined && (typeof f.ref !== "string" || f.ref.length > 64)) {
    throw new EdgeplaneError("BAD_FRAME", "ref must be a string of at most 64 characters");
  }
  const ref = f.ref as string | undefined;
  try {
    return shapeClientFrame(f, opts?.maxMetaBytes ?? MAX_PRESENCE_META_BYTES);
  } catch (err) {
    // Echo the frame's ref so the client can match the error to its request.
    if (ref !== undefined && err instanceof EdgeplaneError) throw new EdgeplaneError(err.code, err.message, { ...err.details, ref });
    throw err;
  }
}

function shapeClientFrame(f: Record<string, unknown>, maxMetaBytes: number): ClientFrame {
  const ref = f.ref as string | undefined;
  switch (f.t) {
    case "join":
      if (typeof f.room !== "string") throw new EdgeplaneError("BAD_FRAME", "join needs a string room");
      if (f.lastSeq !== undefined && !(Number.isSafeInteger(f.lastSeq) && (f.lastSeq as number) >= 0)) {
        throw new EdgeplaneError("BAD_FRAME", "lastSeq must be a non-negative integer");
      }
      if (f.meta !== undefined) {
        if (f.meta === null || typeof f.meta !== "object" || Array.isArray(f.meta)) throw new EdgeplaneError("BAD_FRAME", "meta must be an object");
        if (maxMetaBytes !== Infinity && utf8Length(JSON.stringify(f.meta)) > maxMetaBytes) {
          throw new EdgeplaneError("PAYLOAD_TOO_LARGE", `meta must serialize to at most ${maxMetaBytes} bytes`);
        }
      }
      return { t: "join", room: f.room, lastSeq: f.lastSeq as number | undefined, meta: f.meta as Record<string, unknown> | undefined, ref };
    case "leave":
      if (typeof f.room !== "string") throw new EdgeplaneError("BAD_FRAME", "leave needs a string room");
      return { t: "leave", room: f.room, ref };
    case "pub":
      if (typeof f.room !== "string") throw new EdgeplaneError("BAD_FRAME", "pub needs a string room");
      if ((typeof f.data === "string") === (typeof f.b64 === "string")) {
        throw new EdgeplaneError("BAD_FRAME", "pub needs exactly one of data (string) or b64 (string)");
      }
      if (f.id !== undefined && typeof f.id !== "string") throw new EdgeplaneError("BAD_FRAME", "id must be a string");
      return { t: "pub", room: f.room, data: f.data as string | undefined, b64: f.b64 as string | undefined, id: f.id as string | undefined, ref };
    case "ping":
      return { t: "ping", ref };
    default:
      throw new EdgeplaneError("BAD_FRAME", `unknown frame type ${JSON.stringify(String(f.t)).slice(0, 40)}`);
  }
}
