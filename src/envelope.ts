/**
 * Envelopes: what travels between nodes. An envelope names its room, carries a random 128-bit id (for idempotency and
 * dedupe), the node it came from and a text or binary payload. Validation never throws anything but
 * {@link EdgeplaneError}.
 *
 * @module
 */
import { EdgeplaneError } from "./errors.ts";
import { byteSize, fromBase64, randomId, toBase64, utf8Length } from "./_utf8.ts";

/**
 * Wire version of the envelope (the `v` field); a decoder refuses any other version with `BAD_ENVELOPE`.
 *
 * @example
 * ```ts
 * const env = createEnvelope("lobby", "hi", { origin: "node-a" });
 * console.log(env.v === ENVELOPE_VERSION); // true
 * ```
 */
export const ENVELOPE_VERSION = 1 as const;

/**
 * A message body: text (delivered byte-identical) or bytes.
 *
 * @example
 * ```ts
 * const text: Payload = JSON.stringify({ hello: "world" });
 * const bytes: Payload = new Uint8Array([1, 2, 3]);
 * ```
 */
export type Payload = string | Uint8Array;

/**
 * Which kind of payload an envelope carries.
 *
 * @example
 * ```ts
 * const kind: PayloadKind = validatePayload(new Uint8Array(1)); // "binary"
 * ```
 */
export type PayloadKind = "text" | "binary";

/**
 * Limits applied to every envelope.
 *
 * @example
 * ```ts
 * const limits: EnvelopeLimits = { ...DEFAULT_LIMITS, maxPayloadBytes: 64 * 1024 };
 * validatePayload("x".repeat(100_000), limits); // throws PAYLOAD_TOO_LARGE
 * ```
 */
export interface EnvelopeLimits {
  /** Maximum UTF-8 bytes of a room name (default 256). */
  maxRoomBytes: number;
  /** Maximum payload bytes (default 1 MiB). Exchanges may lower it (NATS `max_payload`). */
  maxPayloadBytes: number;
}

/**
 * Default limits.
 *
 * @example
 * ```ts
 * console.log(DEFAULT_LIMITS.maxPayloadBytes); // 1048576
 * ```
 */
export const DEFAULT_LIMITS: Readonly<EnvelopeLimits> = Object.freeze({
  maxRoomBytes: 256,
  maxPayloadBytes: 1024 * 1024,
});

/**
 * An unsequenced message on its way to the exchange.
 *
 * @example
 * ```ts
 * const env: Envelope = createEnvelope("lobby", "hello", { origin: "node-a" });
 * console.log(env.room, env.kind); // "lobby" "text"
 * ```
 */
export interface Envelope {
  /** Wire version ({@link ENVELOPE_VERSION}). */
  v: typeof ENVELOPE_VERSION;
  /** Random 128-bit id (32 hex characters) unless the publisher chose one: the idempotency and dedupe key. */
  id: string;
  /** Node id of the publisher. */
  origin: string;
  /** The room, an opaque key validated by {@link validateRoom}. */
  room: string;
  /** `"text"` for a string payload, `"binary"` for bytes. */
  kind: PayloadKind;
  /** The message body. */
  payload: Payload;
}

const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
// C0 controls, DEL, C1 controls, line/paragraph separators, BOM: never legitimate in a room name.
// deno-lint-ignore no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufeff]/;
const LONE_SURROGATE_RE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Validate a room name and return it unchanged. Rooms are opaque keys: `*`, `>`, `.`, spaces, unicode and
 * `__proto__` are all fine (they are never put raw into broker subjects or plain objects). Rejected with `BAD_ROOM`:
 * non-strings, empty names, names over `maxRoomBytes` UTF-8 bytes, control characters and lone surrogates.
 *
 * @example
 * ```ts
 * validateRoom("chat:lobby"); // "chat:lobby"
 * validateRoom("");           // throws EdgeplaneError BAD_ROOM
 * ```
 */
export function validateRoom(room: unknown, limits: Pick<EnvelopeLimits, "maxRoomBytes"> = DEFAULT_LIMITS): string {
  if (typeof room !== "string") throw new EdgeplaneError("BAD_ROOM", `room must be a string, got ${typeof room}`);
  if (room.length === 0) throw new EdgeplaneError("BAD_ROOM", "room must not be empty");
  // Cheap length guard before counting bytes: a UTF-16 unit is at least one UTF-8 byte.
  if (room.length > limits.maxRoomBytes || utf8Length(room) > limits.maxRoomBytes) {
    throw new EdgeplaneError("BAD_ROOM", `room name is longer than ${limits.maxRoomBytes} bytes`, {
      limit: limits.maxRoomBytes,
    });
  }
  if (CONTROL_RE.test(room)) throw new EdgeplaneError("BAD_ROOM", "room name contains control characters");
  if (LONE_SURROGATE_RE.test(room)) throw new EdgeplaneError("BAD_ROOM", "room name is not well-formed unicode");
  return room;
}

/**
 * Validate a payload (string or Uint8Array within `maxPayloadBytes`) and return its kind.
 *
 * @example
 * ```ts
 * validatePayload("hi"); // "text"
 * validatePayload(new Uint8Array(2)); // "binary"
 * ```
 */
export function validatePayload(
  payload: unknown,
  limits: Pick<EnvelopeLimits, "maxPayloadBytes"> = DEFAULT_LIMITS,
): PayloadKind {
  let kind: PayloadKind;
  if (typeof payload === "string") kind = "text";
  else if (payload instanceof Uint8Array) kind = "binary";
  else throw new EdgeplaneError("BAD_ENVELOPE", `payload must be a string or Uint8Array, got ${describe(payload)}`);
  const size = typeof payload === "string"
    ? (payload.length > limits.maxPayloadBytes ? Infinity : utf8Length(payload))
    : payload.byteLength;
  if (size > limits.maxPayloadBytes) {
    throw new EdgeplaneError("PAYLOAD_TOO_LARGE", `payload is larger than ${limits.maxPayloadBytes} bytes`, {
      limit: limits.maxPayloadBytes,
      size: size === Infinity ? byteSize(payload as Payload) : size,
    });
  }
  return kind;
}

/**
 * Validate an envelope id: 1–64 characters of `[A-Za-z0-9_-]`.
 *
 * @example
 * ```ts
 * validateId("3f1c…"); // returns the id or throws BAD_ENVELOPE
 * ```
 */
export function validateId(id: unknown, field = "id"): string {
  if (typeof id !== "string" || !ID_RE.test(id)) {
    throw new EdgeplaneError("BAD_ENVELOPE", `${field} must be 1-64 characters of [A-Za-z0-9_-]`);
  }
  return id;
}

/**
 * Build a validated envelope for `room` with a fresh random id unless one is given.
 *
 * @example
 * ```ts
 * const env = createEnvelope("lobby", "hello", { origin: "node-a" });
 * console.log(env.kind, env.id.length); // "text" 32
 * ```
 */
export function createEnvelope(
  room: string,
  payload: Payload,
  opts: { origin: string; id?: string; limits?: EnvelopeLimits },
): Envelope {
  const limits = opts.limits ?? DEFAULT_LIMITS;
  validateRoom(room, limits);
  const kind = validatePayload(payload, limits);
  return {
    v: ENVELOPE_VERSION,
    id: opts.id === undefined ? randomId() : validateId(opts.id),
    origin: validateId(opts.origin, "origin"),
    room,
    kind,
    payload,
  };
}

/**
 * Validate an untrusted value as an {@link Envelope} (e.g. decoded from a broker). Throws `BAD_ENVELOPE`,
 * `BAD_ROOM` or `PAYLOAD_TOO_LARGE`; never anything else.
 *
 * @example
 * ```ts
 * const env = validateEnvelope(JSON.parse(text));
 * ```
 */
export function validateEnvelope(value: unknown, limits: EnvelopeLimits = DEFAULT_LIMITS): Envelope {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new EdgeplaneError("BAD_ENVELOPE", `envelope must be an object, got ${describe(value)}`);
  }
  const e = value as Record<string, unknown>;
  if (e.v !== ENVELOPE_VERSION) throw new EdgeplaneError("BAD_ENVELOPE", `unsupported envelope version ${String(e.v)}`);
  validateId(e.id);
  validateId(e.origin, "origin");
  validateRoom(e.room, limits);
  const kind = validatePayload(e.payload, limits);
  if (e.kind !== kind) throw new EdgeplaneError("BAD_ENVELOPE", `kind ${String(e.kind)} does not match the payload`);
  return { v: ENVELOPE_VERSION, id: e.id as string, origin: e.origin as string, room: e.room as string, kind, payload: e.payload as Payload };
}

/**
 * Encode an envelope (plus optional sequencing fields) as one JSON string; binary payloads travel as base64 in `b64`.
 * Used by exchanges that carry strings (Redis) and by tests.
 *
 * @example
 * ```ts
 * const text = encodeEnvelope(createEnvelope("r", "x", { origin: "n1" }));
 * const back = decodeEnvelope(text);
 * ```
 */
export function encodeEnvelope(env: Envelope, extra?: Record<string, number | string>): string {
  const { payload, ...rest } = env;
  const body: Record<string, unknown> = { ...rest, ...extra };
  if (typeof payload === "string") body.payload = payload;
  else body.b64 = toBase64(payload);
  return JSON.stringify(body);
}

/**
 * Decode and validate what {@link encodeEnvelope} produced. Extra numeric fields come back in `extra`.
 * Throws `BAD_ENVELOPE` on anything malformed.
 *
 * @example
 * ```ts
 * const { envelope, extra } = decodeEnvelope(text);
 * ```
 */
export function decodeEnvelope(
  text: string,
  limits: EnvelopeLimits = DEFAULT_LIMITS,
): { envelope: Envelope; extra: Record<string, unknown> } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new EdgeplaneError("BAD_ENVELOPE", "envelope is not valid JSON");
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new EdgeplaneError("BAD_ENVELOPE", "envelope must be a JSON object");
  }
  const obj = raw as Record<string, unknown>;
  if (typeof obj.b64 === "string") {
    if (obj.b64.length > Math.ceil(limits.maxPayloadBytes / 3) * 4 + 4) {
      throw new EdgeplaneError("PAYLOAD_TOO_LARGE", `payload is larger than ${limits.maxPayloadBytes} bytes`);
    }
    try {
      obj.payload = fromBase64(obj.b64);
    } catch {
      throw new EdgeplaneError("BAD_ENVELOPE", "b64 payload is not valid base64");
    }
  }
  const envelope = validateEnvelope(obj, limits);
  const extra: Record<string, unknown> = Object.create(null);
  for (const k of Object.keys(obj)) {
    if (!(k in ENVELOPE_KEYS)) extra[k] = obj[k];
  }
  return { envelope, extra };
}

const ENVELOPE_KEYS: Record<string, true> = Object.assign(Object.create(null), {
  v: true,
  id: true,
  origin: true,
  room: true,
  kind: true,
  payload: true,
  b64: true,
});

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v === "object" ? (v.constructor?.name ?? "object") : typeof v;
}
