// Private: the wire format. Sequenced messages and publish requests carry the envelope in a NATS header and the raw
// payload as the body (no base64, no JSON wrapping). Control traffic (heartbeats, gather, replies) is small JSON.
// Every decoder throws EdgeplaneError("BAD_ENVELOPE") on anything malformed and never anything else.
import { EdgeplaneError } from "../../errors.ts";
import { type Payload, type PayloadKind, validateId, validateRoom } from "../../envelope.ts";
import { utf8Decode, utf8Encode } from "../../_utf8.ts";
import type { SequencedMessage } from "../exchange.ts";
import type { NatsHeadersLike, NatsMsgLike } from "./_types.ts";

/**
 * Headers in the NATS/1.0 wire form. nats.js (v2 and v3) only calls `encode()` on the headers object it is given,
 * so this small class works with both without importing either.
 */
export class WireHeaders {
  #s = "NATS/1.0";
  set(key: string, value: string): this {
    this.#s += `\r\n${key}: ${value}`;
    return this;
  }
  toString(): string {
    return `${this.#s}\r\n\r\n`;
  }
  encode(): Uint8Array {
    return utf8Encode(this.toString());
  }
}

/**
 * A factory for outgoing headers (default: a built-in NATS/1.0 encoder; users may pass `nats.headers`).
 *
 * @example
 * ```ts
 * import { headers } from "nats";
 * const factory: HeadersFactory = headers;
 * const exchange = new NatsExchange(nc, { headers: factory });
 * ```
 */
export type HeadersFactory = () => { set(key: string, value: string): unknown };

const INT_RE = /^(0|[1-9][0-9]{0,15})$/;

function int(s: string | undefined, key: string): number {
  if (s === undefined || !INT_RE.test(s)) throw new EdgeplaneError("BAD_ENVELOPE", `envelope field ${key} is not a non-negative integer`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new EdgeplaneError("BAD_ENVELOPE", `envelope field ${key} is out of range`);
  return n;
}

function room(raw: string | undefined, expected?: string, expectedEncoded?: string): string {
  if (expectedEncoded !== undefined && raw === expectedEncoded) return expected!;
  let r: string;
  try {
    r = decodeURIComponent(raw ?? "");
  } catch {
    throw new EdgeplaneError("BAD_ENVELOPE", "room is not valid percent-encoding");
  }
  validateRoom(r);
  if (expected !== undefined && r !== expected) throw new EdgeplaneError("BAD_ENVELOPE", "room does not match the subject");
  return r;
}

function payloadOf(kind: string, data: Uint8Array): Payload {
  if (kind === "t") return utf8Decode(data);
  // A plain Uint8Array view (no copy): Node's nats.js hands out Buffers, and a payload must arrive as it was sent.
  if (kind === "b") return data.constructor === Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new EdgeplaneError("BAD_ENVELOPE", `unknown kind ${kind.slice(0, 16)}`);
}

/**
 * The envelope travels in one NATS header, `ep`, as space-separated fields (one header lookup per message instead of
 * nine): `v kind id origin room epoch owner seq ts`. `room` is percent-encoded (never contains a space); fields a
 * message kind does not use are `-`. kind: `t` text, `b` binary, `e` epoch notice; `T`/`B` relayed text/binary (chain
 * extension: sequenced elsewhere), `s` seed request.
 */
export const ENVELOPE_HEADER = "ep";

function fields(h: NatsHeadersLike | undefined): string[] {
  const raw = h?.get(ENVELOPE_HEADER);
  if (!raw) throw new EdgeplaneError("BAD_ENVELOPE", "missing envelope header");
  return splitField(raw);
}

function splitField(raw: string): string[] {
  const f = raw.split(" ");
  if (f.length !== 9 || f[0] !== "1") throw new EdgeplaneError("BAD_ENVELOPE", "unsupported envelope header");
  return f;
}

function envHeader(make: HeadersFactory, value: string): unknown {
  const h = make();
  h.set(ENVELOPE_HEADER, value);
  return h;
}

/** Outgoing envelope fields. */
export interface WireEnvelope {
  id: string;
  origin: string;
  room: string;
  kind: PayloadKind;
}

/** The envelope field of a publish request (owner-bound; sent as the `ep` header, see {@link fieldHeaders}). */
export function requestField(env: WireEnvelope, encodedRoom?: string): string {
  return `1 ${env.kind === "text" ? "t" : "b"} ${env.id} ${env.origin} ${encodedRoom ?? encodeURIComponent(env.room)} - - - -`;
}

/** Decoded publish request. */
export interface DecodedRequest extends WireEnvelope {
  payload: Payload;
}

function requestOf(f: string[], data: Uint8Array): DecodedRequest {
  const kind = f[1];
  if (kind !== "t" && kind !== "b") throw new EdgeplaneError("BAD_ENVELOPE", "a publish request carries text or binary");
  return {
    id: validateId(f[2]),
    origin: validateId(f[3], "origin"),
    room: room(f[4]),
    kind: kind === "t" ? "text" : "binary",
    payload: payloadOf(kind, data),
  };
}

/** Decode a publish request; throws BAD_ENVELOPE. */
export function decodeRequest(msg: NatsMsgLike): DecodedRequest {
  return requestOf(fields(msg.headers), msg.data);
}

// Records: several envelopes in one NATS message, each as [u32 fieldLen][envelope field][u32 payloadLen][payload],
// the field written exactly as the `ep` header of a single message. Used for batched publish requests (header
// `1 m - <origin> - - - - <count>`; the reply is JSON `{r: [...]}`, one entry per record in order: `[seq, ts, epoch]`,
// `{redirect}` or `{err, msg}`) and for room-subject frames (see encodeMessageFrame).

/** Most envelopes in one batched request or frame. */
export const MAX_BATCH = 1024;

/** Bytes a record adds (envelope field and payload with their length prefixes; ids and rooms are ASCII). */
export function recordBytes(field: string, raw: Uint8Array): number {
  return 8 + field.length + raw.byteLength;
}

function encodeRecords(fieldStrs: string[], raws: Uint8Array[]): Uint8Array {
  const envs = fieldStrs.map((f) => utf8Encode(f));
  let size = 0;
  for (let i = 0; i < envs.length; i++) size += 8 + envs[i].byteLength + raws[i].byteLength;
  const body = new Uint8Array(size);
  const dv = new DataView(body.buffer);
  let off = 0;
  for (let i = 0; i < envs.length; i++) {
    dv.setUint32(off, envs[i].byteLength);
    body.set(envs[i], off + 4);
    off += 4 + envs[i].byteLength;
    dv.setUint32(off, raws[i].byteLength);
    body.set(raws[i], off + 4);
    off += 4 + raws[i].byteLength;
  }
  return body;
}

/** Split a body into `count` records; throws BAD_ENVELOPE when the framing is broken. Payloads are copies. */
function decodeRecords(bytes: Uint8Array, count: number): Array<{ field: string; raw: Uint8Array }> {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = () => new EdgeplaneError("BAD_ENVELOPE", "malformed records");
  const out: Array<{ field: string; raw: Uint8Array }> = [];
  let off = 0;
  for (let i = 0; i < count; i++) {
    if (off + 4 > bytes.byteLength) throw bad();
    const el = dv.getUint32(off);
    off += 4;
    if (el > 4096 || off + el + 4 > bytes.byteLength) throw bad();
    const field = utf8Decode(bytes.subarray(off, off + el));
    off += el;
    const pl = dv.getUint32(off);
    off += 4;
    if (off + pl > bytes.byteLength) throw bad();
    out.push({ field, raw: bytes.slice(off, off + pl) }); // a copy: a held payload must not pin the whole body
    off += pl;
  }
  if (off !== bytes.byteLength) throw bad();
  return out;
}

/** Headers and body of a batched publish request. */
export function encodeRequestBatch(
  make: HeadersFactory,
  origin: string,
  items: ReadonlyArray<{ field: string; raw: Uint8Array }>,
): { headers: unknown; body: Uint8Array } {
  const body = encodeRecords(items.map((it) => it.field), items.map((it) => it.raw));
  return { headers: envHeader(make, `1 m - ${origin} - - - - ${items.length}`), body };
}

/** Whether a request on the owner subject is a batch. */
export function isRequestBatch(msg: NatsMsgLike): boolean {
  return msg.headers?.get(ENVELOPE_HEADER)?.startsWith("1 m ") === true;
}

/**
 * Decode a batched publish request: one entry per record, a bad record as its own BAD_ENVELOPE error (the others
 * still count). Throws BAD_ENVELOPE when the framing itself is broken.
 */
export function decodeRequestBatch(msg: NatsMsgLike): Array<{ req: DecodedRequest; raw: Uint8Array } | EdgeplaneError> {
  const f = fields(msg.headers);
  validateId(f[3], "origin");
  const count = int(f[8], "count");
  if (count < 1 || count > MAX_BATCH) throw new EdgeplaneError("BAD_ENVELOPE", "bad batch size");
  return decodeRecords(msg.data, count).map(({ field, raw }) => {
    try {
      return { req: requestOf(splitField(field), raw), raw };
    } catch (err) {
      return err instanceof EdgeplaneError ? err : new EdgeplaneError("BAD_ENVELOPE", "malformed publish batch");
    }
  });
}

/** Epoch (ownership generation): compared as the pair (term, owner). */
export interface Epoch {
  term: number;
  owner: string;
}

/** -1, 0, 1 comparing epochs as (term, owner). */
export function cmpEpoch(a: Epoch, b: Epoch): number {
  if (a.term !== b.term) return a.term < b.term ? -1 : 1;
  return a.owner === b.owner ? 0 : a.owner < b.owner ? -1 : 1;
}

/**
 * Headers of a sequenced message. A `relayed` message (chain extension) was sequenced by another exchange: kind `T`/`B`,
 * and its epoch is that sequencer's, carried unchanged; subscribers order it by seq only, never by (term, owner).
 */
export function messageField(m: SequencedMessage, owner: string, kind: PayloadKind, encodedRoom?: string, relayed = false): string {
  const k = kind === "text" ? (relayed ? "T" : "t") : (relayed ? "B" : "b");
  return `1 ${k} ${m.id} ${m.origin} ${encodedRoom ?? encodeURIComponent(m.room)} ${m.epoch} ${owner} ${m.seq} ${m.timestamp}`;
}

/** Headers carrying one envelope field (a single sequenced message). */
export function fieldHeaders(make: HeadersFactory, field: string): unknown {
  return envHeader(make, field);
}

/**
 * A room-subject frame with several sequenced messages (the owner coalesces what it sequenced for a room in one turn):
 * header `ep` = `1 M - - <room> - - - <count>`, body = records of [message envelope field][payload], in seq order.
 */
export function encodeMessageFrame(
  make: HeadersFactory,
  encodedRoom: string,
  items: ReadonlyArray<{ field: string; raw: Uint8Array }>,
): { headers: unknown; body: Uint8Array } {
  return { headers: envHeader(make, `1 M - - ${encodedRoom} - - - ${items.length}`), body: encodeRecords(items.map((i) => i.field), items.map((i) => i.raw)) };
}

/** Headers of a relay request (owner-bound): the whole sequenced envelope, kind `T`/`B`. */
export function relayRequestHeaders(make: HeadersFactory, m: SequencedMessage, kind: PayloadKind): unknown {
  return envHeader(make, `1 ${kind === "text" ? "T" : "B"} ${m.id} ${m.origin} ${encodeURIComponent(m.room)} ${m.epoch} - ${m.seq} ${m.timestamp}`);
}

/** Headers of a seed request (owner-bound), kind `s`, empty body. */
export function seedRequestHeaders(make: HeadersFactory, roomName: string, seq: number, epoch: number, ts: number): unknown {
  return envHeader(make, `1 s - - ${encodeURIComponent(roomName)} ${epoch} - ${seq} ${ts}`);
}

/** A decoded chain-extension request. */
export type ChainRequest =
  | { type: "relay"; msg: SequencedMessage; kind: PayloadKind }
  | { type: "seed"; room: string; seq: number; epoch: number; timestamp: number };

/** Decode a relay or seed request; throws BAD_ENVELOPE. */
export function decodeChainRequest(msg: NatsMsgLike): ChainRequest {
  const f = fields(msg.headers);
  const kind = f[1];
  const r = room(f[4]);
  const epoch = int(f[5], "epoch"), seq = int(f[7], "seq"), ts = int(f[8], "ts");
  if (kind === "s") return { type: "seed", room: r, seq, epoch, timestamp: ts };
  if (kind !== "T" && kind !== "B") throw new EdgeplaneError("BAD_ENVELOPE", "a relay request carries text or binary");
  if (seq < 1) throw new EdgeplaneError("BAD_ENVELOPE", "seq must be >= 1");
  return {
    type: "relay",
    kind: kind === "T" ? "text" : "binary",
    msg: {
      room: r,
      seq,
      timestamp: ts,
      epoch,
      id: validateId(f[2]),
      origin: validateId(f[3], "origin"),
      payload: payloadOf(kind === "T" ? "t" : "b", msg.data),
    },
  };
}

/** Headers of an epoch notice: `seq` is the last seq of the previous epoch. */
export function noticeHeaders(make: HeadersFactory, roomName: string, e: Epoch, seq: number, ts: number): unknown {
  return envHeader(make, `1 e - - ${encodeURIComponent(roomName)} ${e.term} ${e.owner} ${seq} ${ts}`);
}

/** What arrives on a room subject. */
export type RoomWire =
  | { type: "msg"; msg: SequencedMessage; owner: string; relayed: boolean }
  | { type: "epoch"; room: string; epoch: Epoch; seq: number; ts: number };

/**
 * Decode what arrived on the room subject of `expectedRoom` (percent-encoded form given for a fast match): one
 * message or notice, or a frame of several messages, each passed to `each` in order. A bad record of a frame is
 * skipped and counted in the result (the subscriber repairs the hole from history); anything else malformed throws
 * BAD_ENVELOPE.
 */
export function decodeRoomWires(msg: NatsMsgLike, expectedRoom: string, expectedEncoded: string, each: (w: RoomWire) => void): number {
  const f = fields(msg.headers);
  if (f[1] !== "M") {
    each(roomWireOf(f, msg.data, expectedRoom, expectedEncoded));
    return 0;
  }
  room(f[4], expectedRoom, expectedEncoded);
  const count = int(f[8], "count");
  if (count < 1 || count > MAX_BATCH) throw new EdgeplaneError("BAD_ENVELOPE", "bad frame size");
  const wires: RoomWire[] = [];
  let bad = 0;
  for (const rec of decodeRecords(msg.data, count)) {
    try {
      const rf = splitField(rec.field);
      if (rf[1] === "e" || rf[1] === "M") throw new EdgeplaneError("BAD_ENVELOPE", "a frame carries messages only");
      wires.push(roomWireOf(rf, rec.raw, expectedRoom, expectedEncoded));
    } catch {
      bad++;
    }
  }
  for (const w of wires) each(w);
  return bad;
}

function roomWireOf(f: string[], data: Uint8Array, expectedRoom: string, expectedEncoded?: string): RoomWire {
  const r = room(f[4], expectedRoom, expectedEncoded);
  const kind = f[1];
  const term = int(f[5], "epoch");
  const owner = validateId(f[6], "owner");
  const seq = int(f[7], "seq");
  const ts = int(f[8], "ts");
  if (kind === "e") return { type: "epoch", room: r, epoch: { term, owner }, seq, ts };
  if (seq < 1) throw new EdgeplaneError("BAD_ENVELOPE", "seq must be >= 1");
  const relayed = kind === "T" || kind === "B";
  return {
    type: "msg",
    owner,
    relayed,
    msg: {
      room: r,
      seq,
      timestamp: ts,
      epoch: term,
      id: validateId(f[2]),
      origin: validateId(f[3], "origin"),
      payload: payloadOf(relayed ? kind.toLowerCase() : kind, data),
    },
  };
}

/** JSON body helpers for control traffic. */
export function jsonBytes(v: unknown): Uint8Array {
  return utf8Encode(JSON.stringify(v));
}

/** Parse a JSON object body; throws BAD_ENVELOPE. */
export function parseJson(data: Uint8Array, maxBytes = 4 * 1024 * 1024): Record<string, unknown> {
  if (data.byteLength > maxBytes) throw new EdgeplaneError("BAD_ENVELOPE", "control message too large");
  let v: unknown;
  try {
    v = JSON.parse(utf8Decode(data));
  } catch {
    throw new EdgeplaneError("BAD_ENVELOPE", "control message is not JSON");
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new EdgeplaneError("BAD_ENVELOPE", "control message must be an object");
  return v as Record<string, unknown>;
}

/** A non-negative safe integer from untrusted JSON, or throw BAD_ENVELOPE. */
export function num(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw new EdgeplaneError("BAD_ENVELOPE", `${what} must be a non-negative integer`);
  return v;
}

// History pages: records of [u32 metaLen][meta JSON][u32 payloadLen][payload], meta = [seq, ts, epoch, id, origin, kind].

/** Encode history messages into pages of at most `maxBytes` each (at least one message per page). */
export function encodeHistoryPage(msgs: SequencedMessage[], start: number, maxBytes: number): { bytes: Uint8Array; next: number } {
  const parts: Uint8Array[] = [];
  let size = 0;
  let i = start;
  for (; i < msgs.length; i++) {
    const m = msgs[i];
    const meta = utf8Encode(JSON.stringify([m.seq, m.timestamp, m.epoch, m.id, m.origin, typeof m.payload === "string" ? "t" : "b"]));
    const body = typeof m.payload === "string" ? utf8Encode(m.payload) : m.payload;
    const rec = 8 + meta.byteLength + body.byteLength;
    if (size + rec > maxBytes && i > start) break;
    const head = new Uint8Array(4 + meta.byteLength + 4);
    const dv = new DataView(head.buffer);
    dv.setUint32(0, meta.byteLength);
    head.set(meta, 4);
    dv.setUint32(4 + meta.byteLength, body.byteLength);
    parts.push(head, body);
    size += rec;
  }
  const bytes = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    bytes.set(p, off);
    off += p.byteLength;
  }
  return { bytes, next: i };
}

/** Decode a history page for `roomName`; throws BAD_ENVELOPE. */
export function decodeHistoryPage(bytes: Uint8Array, roomName: string): SequencedMessage[] {
  const out: SequencedMessage[] = [];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 0;
  const bad = () => new EdgeplaneError("BAD_ENVELOPE", "malformed history page");
  while (off < bytes.byteLength) {
    if (off + 4 > bytes.byteLength) throw bad();
    const ml = dv.getUint32(off);
    off += 4;
    if (off + ml + 4 > bytes.byteLength) throw bad();
    let meta: unknown;
    try {
      meta = JSON.parse(utf8Decode(bytes.subarray(off, off + ml)));
    } catch {
      throw bad();
    }
    off += ml;
    const pl = dv.getUint32(off);
    off += 4;
    if (off + pl > bytes.byteLength || !Array.isArray(meta) || meta.length !== 6) throw bad();
    const body = bytes.slice(off, off + pl);
    off += pl;
    const [seq, ts, epoch, id, origin, kind] = meta;
    out.push({
      room: roomName,
      seq: num(seq, "seq"),
      timestamp: num(ts, "ts"),
      epoch: num(epoch, "epoch"),
      id: validateId(id),
      origin: validateId(origin, "origin"),
      payload: payloadOf(String(kind), body),
    });
  }
  return out;
}
