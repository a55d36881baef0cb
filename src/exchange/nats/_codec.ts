// Private: the wire format. The data path (publish requests, sequenced messages and epoch notices on room subjects) is
// a compact binary body without NATS headers (wire version 2, below). Chain-extension requests (relay, seed) carry
// their envelope in one NATS header (`ep`, version 1) and the payload as the body. Control traffic (heartbeats,
// gather, replies) is small JSON. Every decoder throws EdgeplaneError("BAD_ENVELOPE") on anything malformed and never
// anything else.
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
  try {
    validateRoom(r);
  } catch {
    throw new EdgeplaneError("BAD_ENVELOPE", "bad room name");
  }
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
 * A chain-extension request's envelope travels in one NATS header, `ep`, as space-separated fields:
 * `1 kind id origin room epoch owner seq ts`. `room` is percent-encoded (never contains a space); fields a request
 * kind does not use are `-`. kind: `T`/`B` relayed text/binary (sequenced elsewhere), `s` seed request.
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

/** Headers of a relay request (owner-bound, on `rel.<node>`): the whole sequenced envelope, kind `T`/`B`. */
export function relayRequestHeaders(make: HeadersFactory, m: SequencedMessage, kind: PayloadKind): unknown {
  return envHeader(make, `1 ${kind === "text" ? "T" : "B"} ${m.id} ${m.origin} ${encodeURIComponent(m.room)} ${m.epoch} - ${m.seq} ${m.timestamp}`);
}

/** Headers of a seed request (owner-bound, on `rel.<node>`), kind `s`, empty body. */
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

/** Outgoing envelope fields. */
export interface WireEnvelope {
  id: string;
  origin: string;
  room: string;
  kind: PayloadKind;
}

/** Decoded publish request. */
export interface DecodedRequest extends WireEnvelope {
  payload: Payload;
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

// ───────────────────────────── the data path: binary wire, version 2 ─────────────────────────────
//
// Publish requests (on `own.<node>`) and everything on a room subject (`m.<token>`) travel as one binary body with no
// NATS headers (nats.js never parses a header block for them). Integers are big-endian; seq, timestamp and epoch are
// float64 holding non-negative safe integers; ids, origins and owners are ASCII `[A-Za-z0-9_-]{1,64}` with a u8
// length; a room is UTF-8 with a u16 length; a payload has a u32 length. Byte 0 is the wire version (2), byte 1 the
// message type:
//
//   'R' publish requests   [2]['R'][u8 len][origin][u16 count] then count × [kind 't'|'b'][u8 len][id][u16 len][room][u32 len][payload]
//   'M' sequenced messages [2]['M'][u8 len][owner][u16 len][room][u16 count]
//                          then count × [kind 't'|'b'|'T'|'B'][f64 seq][f64 ts][f64 epoch][u8 len][id][u8 len][origin][u32 len][payload]
//   'E' epoch notice       [2]['E'][u8 len][owner][u16 len][room][f64 term][f64 seq][f64 ts]   (seq: last of the previous epoch)
//
// 'T'/'B' are relayed text/binary (chain extension: sequenced elsewhere, carrying that sequencer's epoch). The reply
// to 'R' is JSON `{r: [...]}`, one entry per record in order: `[seq, ts, epoch]`, `{redirect}` or `{err, msg}`.
// Decoders are strict: anything malformed is BAD_ENVELOPE; a record that is well framed but invalid (a bad id, kind
// or number) is refused on its own and the others still count.

/** Version byte of the binary data-path wire. */
export const WIRE_VERSION = 2;
const T_REQUESTS = 0x52, T_MESSAGES = 0x4d, T_NOTICE = 0x45;
const K_TEXT = 0x74, K_BINARY = 0x62, K_RTEXT = 0x54, K_RBINARY = 0x42;

/** Most envelopes in one batched request or frame. */
export const MAX_BATCH = 1024;

const fatalUtf8 = new TextDecoder("utf-8", { fatal: true });

class Reader {
  readonly dv: DataView;
  off = 0;
  constructor(readonly b: Uint8Array) {
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  need(n: number): void {
    if (this.off + n > this.b.byteLength) throw bad("truncated");
  }
  u8(): number {
    this.need(1);
    return this.b[this.off++];
  }
  u16(): number {
    this.need(2);
    const v = this.dv.getUint16(this.off);
    this.off += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.dv.getUint32(this.off);
    this.off += 4;
    return v;
  }
  /** A float64 that must hold a non-negative safe integer (NaN for anything else: checked by the caller's record). */
  n(): number {
    this.need(8);
    const v = this.dv.getFloat64(this.off);
    this.off += 8;
    return Number.isSafeInteger(v) && v >= 0 ? v + 0 : NaN;
  }
  /** `len` bytes (a view). */
  bytes(len: number): Uint8Array {
    this.need(len);
    const v = this.b.subarray(this.off, this.off + len);
    this.off += len;
    return v;
  }
  /** A u8-length ASCII id; `undefined` when it is not 1–64 of [A-Za-z0-9_-] (the framing still holds). */
  id(): string | undefined {
    const len = this.u8();
    this.need(len);
    const b = this.b, start = this.off;
    this.off += len;
    if (len === 0 || len > 64) return undefined;
    for (let i = start; i < start + len; i++) {
      const c = b[i];
      // 0-9 A-Z a-z _ -
      if (!((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x2d)) return undefined;
    }
    return String.fromCharCode.apply(null, b.subarray(start, start + len) as unknown as number[]);
  }
  /** Like id(), for node ids (origins, owners): the few distinct ones come back as the same strings. */
  node(): string | undefined {
    const len = this.b[this.off];
    if (len !== undefined && len > 0 && this.off + 1 + len <= this.b.byteLength) {
      const at = this.off + 1;
      for (let k = 0; k < NODE_NAMES.length; k++) {
        const n = NODE_NAMES[k];
        if (n.length !== len) continue;
        let same = true;
        for (let i = 0; i < len; i++) {
          if (this.b[at + i] !== n.charCodeAt(i)) {
            same = false;
            break;
          }
        }
        if (same) {
          this.off = at + len;
          return n;
        }
      }
    }
    const s = this.id();
    if (s !== undefined) {
      if (NODE_NAMES.length >= 16) NODE_NAMES.shift();
      NODE_NAMES.push(s);
    }
    return s;
  }
}

/** Node ids seen last (validated), so that decoding an origin or owner allocates no string in the common case. */
const NODE_NAMES: string[] = [];

function bad(what: string): EdgeplaneError {
  return new EdgeplaneError("BAD_ENVELOPE", `malformed message (${what})`);
}

function writeAscii(out: Uint8Array, off: number, s: string): number {
  out[off++] = s.length;
  for (let i = 0; i < s.length; i++) out[off++] = s.charCodeAt(i);
  return off;
}

/** A room's UTF-8 bytes behind a u16 length; returns the offset after them. */
function writeRoom(out: Uint8Array, dv: DataView, off: number, roomBytes: Uint8Array): number {
  dv.setUint16(off, roomBytes.byteLength);
  out.set(roomBytes, off + 2);
  return off + 2 + roomBytes.byteLength;
}

/** The head every data-path body starts with: version, message type, the sender node (origin or owner). */
function writeHead(out: Uint8Array, type: number, node: string): number {
  out[0] = WIRE_VERSION;
  out[1] = type;
  return writeAscii(out, 2, node);
}

/** A room name from the wire: well-formed UTF-8 and a valid room, else BAD_ENVELOPE. */
function roomOf(bytes: Uint8Array): string {
  let r: string;
  try {
    r = fatalUtf8.decode(bytes);
    validateRoom(r);
  } catch {
    throw bad("room");
  }
  return r;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

function start(r: Reader, type: number): void {
  if (r.b.byteLength < 2 || r.b[0] !== WIRE_VERSION) throw bad("unsupported wire version");
  if (r.b[1] !== type) throw bad("unexpected message type");
  r.off = 2;
}

/** A data-path message never carries NATS headers (a version-1 sender, or junk). */
function noHeaders(msg: NatsMsgLike): void {
  if (msg.headers !== undefined && msg.headers !== null) throw bad("unexpected headers");
}

/** One publish on its way to an owner: the envelope, the room's UTF-8 bytes, the payload bytes. */
export interface RequestItem {
  req: WireEnvelope;
  roomBytes: Uint8Array;
  raw: Uint8Array;
}

/** Bytes a request record adds. */
export function requestRecordBytes(it: RequestItem): number {
  return 1 + 1 + it.req.id.length + 2 + it.roomBytes.byteLength + 4 + it.raw.byteLength;
}

/** The body of a publish request from `origin` carrying `items` (1 to MAX_BATCH, in order). */
export function encodeRequests(origin: string, items: ReadonlyArray<RequestItem>): Uint8Array {
  let size = 2 + 1 + origin.length + 2;
  for (const it of items) size += requestRecordBytes(it);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let off = writeHead(out, T_REQUESTS, origin);
  dv.setUint16(off, items.length);
  off += 2;
  for (const it of items) {
    out[off++] = it.req.kind === "text" ? K_TEXT : K_BINARY;
    off = writeRoom(out, dv, writeAscii(out, off, it.req.id), it.roomBytes);
    dv.setUint32(off, it.raw.byteLength);
    out.set(it.raw, off + 4);
    off += 4 + it.raw.byteLength;
  }
  return out;
}

/**
 * Decode a publish request: one entry per record, a bad record as its own BAD_ENVELOPE error (the others still
 * count). Throws BAD_ENVELOPE when the message itself is broken (version, framing, origin, count, trailing bytes).
 * A binary payload and `raw` are copies (a held payload must not pin the whole body).
 */
export function decodeRequests(msg: NatsMsgLike): Array<{ req: DecodedRequest; raw: Uint8Array } | EdgeplaneError> {
  noHeaders(msg);
  const r = new Reader(msg.data);
  start(r, T_REQUESTS);
  const origin = r.node();
  if (origin === undefined) throw bad("origin");
  const count = r.u16();
  if (count < 1 || count > MAX_BATCH) throw bad("batch size");
  const out: Array<{ req: DecodedRequest; raw: Uint8Array } | EdgeplaneError> = new Array(count);
  for (let i = 0; i < count; i++) {
    const kind = r.u8();
    const id = r.id();
    const roomBytes = r.bytes(r.u16());
    const data = r.bytes(r.u32());
    if (id === undefined) out[i] = bad("id");
    else if (kind !== K_TEXT && kind !== K_BINARY) out[i] = bad("a publish request carries text or binary");
    else {
      try {
        const room = roomOf(roomBytes);
        const raw = new Uint8Array(data); // a plain copy (Node's nats.js hands out Buffers, whose slice() is a view)
        out[i] = { req: { id, origin, room, kind: kind === K_TEXT ? "text" : "binary", payload: kind === K_TEXT ? utf8Decode(raw) : raw }, raw };
      } catch (err) {
        out[i] = err as EdgeplaneError;
      }
    }
  }
  if (r.off !== msg.data.byteLength) throw bad("trailing bytes");
  return out;
}

/** One sequenced message on its way to its room subject. */
export interface FrameItem {
  msg: SequencedMessage;
  kind: PayloadKind;
  /** Sequenced by another exchange (chain extension): kind `T`/`B`, its own epoch. */
  relayed: boolean;
  raw: Uint8Array;
}

/** Bytes a frame record adds. */
export function frameRecordBytes(it: FrameItem): number {
  return 1 + 24 + 1 + it.msg.id.length + 1 + it.msg.origin.length + 4 + it.raw.byteLength;
}

/** The body of a room-subject message: the sequenced messages `items` of one room from `owner`, in seq order. */
export function encodeFrame(owner: string, roomBytes: Uint8Array, items: ReadonlyArray<FrameItem>): Uint8Array {
  let size = 2 + 1 + owner.length + 2 + roomBytes.byteLength + 2;
  for (const it of items) size += frameRecordBytes(it);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let off = writeRoom(out, dv, writeHead(out, T_MESSAGES, owner), roomBytes);
  dv.setUint16(off, items.length);
  off += 2;
  for (const it of items) {
    const m = it.msg;
    out[off++] = it.kind === "text" ? (it.relayed ? K_RTEXT : K_TEXT) : (it.relayed ? K_RBINARY : K_BINARY);
    dv.setFloat64(off, m.seq);
    dv.setFloat64(off + 8, m.timestamp);
    dv.setFloat64(off + 16, m.epoch);
    off = writeAscii(out, off + 24, m.id);
    off = writeAscii(out, off, m.origin);
    dv.setUint32(off, it.raw.byteLength);
    out.set(it.raw, off + 4);
    off += 4 + it.raw.byteLength;
  }
  return out;
}

/** The body of an epoch notice: `seq` is the last seq of the previous epoch. */
export function encodeNotice(roomBytes: Uint8Array, e: Epoch, seq: number, ts: number): Uint8Array {
  const out = new Uint8Array(2 + 1 + e.owner.length + 2 + roomBytes.byteLength + 24);
  const dv = new DataView(out.buffer);
  const off = writeRoom(out, dv, writeHead(out, T_NOTICE, e.owner), roomBytes);
  dv.setFloat64(off, e.term);
  dv.setFloat64(off + 8, seq);
  dv.setFloat64(off + 16, ts);
  return out;
}

/** What arrives on a room subject. */
export type RoomWire =
  | { type: "msg"; msg: SequencedMessage; owner: string; relayed: boolean }
  | { type: "epoch"; room: string; epoch: Epoch; seq: number; ts: number };

/**
 * Decode what arrived on the room subject of `expectedRoom` (its UTF-8 bytes given for the match): a frame of
 * messages, each passed to `each` in order, or an epoch notice. A record that is well framed but invalid is skipped
 * and counted in the result (the subscriber repairs the hole from history); anything else malformed throws
 * BAD_ENVELOPE (and nothing is passed to `each`).
 */
export function decodeRoomWires(msg: NatsMsgLike, expectedRoom: string, expectedBytes: Uint8Array, each: (w: RoomWire) => void): number {
  noHeaders(msg);
  const data = msg.data;
  const r = new Reader(data);
  if (data.byteLength < 2 || data[0] !== WIRE_VERSION) throw bad("unsupported wire version");
  const type = data[1];
  if (type !== T_MESSAGES && type !== T_NOTICE) throw bad("unexpected message type");
  r.off = 2;
  const owner = r.node();
  if (owner === undefined) throw bad("owner");
  if (!sameBytes(r.bytes(r.u16()), expectedBytes)) throw bad("room does not match the subject");
  if (type === T_NOTICE) {
    const term = r.n(), seq = r.n(), ts = r.n();
    if (r.off !== data.byteLength) throw bad("trailing bytes");
    if (Number.isNaN(term + seq + ts)) throw bad("number");
    each({ type: "epoch", room: expectedRoom, epoch: { term, owner }, seq, ts });
    return 0;
  }
  const count = r.u16();
  if (count < 1 || count > MAX_BATCH) throw bad("frame size");
  const wires: RoomWire[] = new Array(count);
  let n = 0, skipped = 0;
  for (let i = 0; i < count; i++) {
    const kind = r.u8();
    const seq = r.n(), ts = r.n(), epoch = r.n();
    const id = r.id(), origin = r.node();
    const body = r.bytes(r.u32());
    const relayed = kind === K_RTEXT || kind === K_RBINARY;
    const text = kind === K_TEXT || kind === K_RTEXT;
    if (id === undefined || origin === undefined || Number.isNaN(seq + ts + epoch) || seq < 1 || (!text && !relayed && kind !== K_BINARY)) {
      skipped++;
      continue;
    }
    // A binary payload is a plain Uint8Array copy: a held payload must not pin the whole frame, and a Buffer (Node's
    // nats.js) must not leak out (its slice() is a view).
    const payload: Payload = text ? utf8Decode(body) : new Uint8Array(body);
    wires[n++] = { type: "msg", owner, relayed, msg: { room: expectedRoom, seq, timestamp: ts, epoch, id, origin, payload } };
  }
  if (r.off !== data.byteLength) throw bad("trailing bytes");
  for (let i = 0; i < n; i++) each(wires[i]);
  return skipped;
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
