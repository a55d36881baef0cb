// The NATS data-path wire (binary, version 2, no NATS headers): room-subject frames (sequenced messages of one room),
// epoch notices and publish requests. Round trips are exact (text and binary, relayed kinds); a record that is well
// framed but invalid is skipped and counted (frames) or refused on its own (requests); broken framing, truncation,
// trailing bytes, wrong counts, another room, another version, headers and notices inside frames are BAD_ENVELOPE —
// and nothing else is ever thrown, whatever the bytes.
import { describe, it } from "node:test";
import { assert, assertEquals, assertThrows } from "@std/assert";
import { EdgeplaneError } from "../src/errors.ts";
import type { SequencedMessage } from "../src/exchange/exchange.ts";
import {
  decodeRequests,
  decodeRoomWires,
  encodeFrame,
  encodeNotice,
  encodeRequests,
  type FrameItem,
  type RoomWire,
  WIRE_VERSION,
} from "../src/exchange/nats/_codec.ts";

const enc = (s: string) => new TextEncoder().encode(s);
/** A received message as nats.js hands it over (no headers on the data path). */
const received = (data: Uint8Array, headers?: { get(k: string): string }) => ({ subject: "x", data, headers });
const room = "chat ü *";
const rb = enc(room);

function msg(seq: number, payload: string | Uint8Array, id = `id${seq}`): SequencedMessage {
  return { room, seq, timestamp: 1_700_000_000_000 + seq, epoch: 3, id, origin: "n1", payload };
}
const item = (m: SequencedMessage, relayed = false): FrameItem => ({
  msg: m,
  kind: typeof m.payload === "string" ? "text" : "binary",
  relayed,
  raw: typeof m.payload === "string" ? enc(m.payload) : m.payload,
});
const decodeAll = (data: Uint8Array) => {
  const got: RoomWire[] = [];
  const skipped = decodeRoomWires(received(data), room, rb, (w) => got.push(w));
  return { got, skipped };
};
const refused = (fn: () => unknown) => {
  const err = assertThrows(fn, EdgeplaneError);
  assertEquals(err.code, "BAD_ENVELOPE");
};

describe("nats codec: binary data-path wire", () => {
  it("a room frame round-trips every message in order, text, binary and relayed", () => {
    const ms = [msg(1, "héllo"), msg(2, new Uint8Array([0, 255, 7])), msg(3, ""), { ...msg(9_007_199_254_740_991, "max"), timestamp: 9_007_199_254_740_991 }];
    const body = encodeFrame("n1", rb, [...ms.map((m) => item(m)), item(msg(4, "r"), true)]);
    assertEquals(body[0], WIRE_VERSION);
    const { got, skipped } = decodeAll(body);
    assertEquals(skipped, 0);
    assertEquals(got.map((w) => w.type === "msg" ? w.msg : null), [...ms, msg(4, "r")]);
    assertEquals(got.map((w) => w.type === "msg" ? [w.owner, w.relayed] : null), [...ms.map(() => ["n1", false]), ["n1", true]]);
    const bin = got[1].type === "msg" ? got[1].msg.payload as Uint8Array : undefined;
    assert(bin && bin.buffer !== body.buffer, "a binary payload is a copy, not a view of the frame");
  });

  it("an epoch notice round-trips", () => {
    const { got } = decodeAll(encodeNotice(rb, { term: 7, owner: "n2" }, 5, 9));
    assertEquals(got, [{ type: "epoch", room, epoch: { term: 7, owner: "n2" }, seq: 5, ts: 9 }]);
  });

  it("a well-framed but invalid record is skipped and counted; the others still arrive", () => {
    const body = encodeFrame("n1", rb, [item(msg(1, "a")), item(msg(2, "b", "no/pe")), item(msg(3, "c")), item({ ...msg(4, "d"), seq: 0 }), item({ ...msg(5, "e"), timestamp: 1.5 })]);
    const { got, skipped } = decodeAll(body);
    assertEquals(skipped, 3);
    assertEquals(got.map((w) => w.type === "msg" && w.msg.seq), [1, 3]);
    const kindAt = 2 + 1 + 2 + 2 + rb.byteLength + 2; // version, type, owner, room, count → first record's kind
    const badKind = body.slice();
    badKind[kindAt] = 0x7a;
    assertEquals(decodeAll(badKind).skipped, 4, "an unknown kind is one more bad record");
  });

  it("broken framing, bad counts, another room, another version, headers and notices inside frames are refused", () => {
    const body = encodeFrame("n1", rb, [item(msg(1, "a"))]);
    const bad = (b: Uint8Array) => refused(() => decodeRoomWires(received(b), room, rb, () => assert(false, "nothing is delivered")));
    bad(body.subarray(0, body.byteLength - 1)); // truncated
    bad(new Uint8Array([...body, 0])); // trailing bytes
    bad(new Uint8Array(0));
    bad(new Uint8Array([WIRE_VERSION]));
    bad(new Uint8Array([1, ...body.subarray(1)])); // version 1
    bad(new Uint8Array([WIRE_VERSION, 0x52, ...body.subarray(2)])); // a request on a room subject
    bad(encodeFrame("n1", enc("other"), [item(msg(1, "a"))])); // frame of another room
    bad(encodeFrame("bad owner", rb, [item(msg(1, "a"))]));
    bad(encodeFrame("n1", rb, [])); // count 0
    const many = encodeFrame("n1", rb, Array.from({ length: 1025 }, (_, i) => item(msg(i + 1, "x"))));
    bad(many); // count above MAX_BATCH
    const notice = encodeNotice(rb, { term: 1, owner: "n1" }, 5, 9);
    bad(new Uint8Array([...notice, 0]));
    bad(notice.subarray(0, notice.byteLength - 2));
    const nanNotice = notice.slice();
    new DataView(nanNotice.buffer).setFloat64(nanNotice.byteLength - 24, -1); // negative term
    bad(nanNotice);
    refused(() => decodeRoomWires(received(body, { get: () => "1 t a b c 1 n1 1 1" }), room, rb, () => {}));
  });

  it("a request batch round-trips; a bad record is its own error", () => {
    const env = { id: "abc", origin: "n2", room, kind: "text" as const };
    const body = encodeRequests("n2", [
      { req: env, roomBytes: rb, raw: enc("one") },
      { req: { ...env, id: "no/pe" }, roomBytes: rb, raw: enc("two") },
      { req: { ...env, id: "def", kind: "binary" }, roomBytes: rb, raw: new Uint8Array([1, 2]) },
      { req: { ...env, id: "ghi" }, roomBytes: new Uint8Array([0xff, 0xfe]), raw: enc("bad utf-8 room") },
      { req: { ...env, id: "jkl" }, roomBytes: enc("a\u0000b"), raw: enc("control character in room") },
    ]);
    const out = decodeRequests(received(body));
    assertEquals(out.length, 5);
    assert(!(out[0] instanceof EdgeplaneError) && out[0].req.payload === "one" && out[0].req.room === room && out[0].req.origin === "n2");
    assert(out[1] instanceof EdgeplaneError && out[1].code === "BAD_ENVELOPE");
    assert(!(out[2] instanceof EdgeplaneError));
    assertEquals(out[2].req.payload, new Uint8Array([1, 2]));
    assert(out[3] instanceof EdgeplaneError && out[3].code === "BAD_ENVELOPE");
    assert(out[4] instanceof EdgeplaneError && out[4].code === "BAD_ENVELOPE");
    refused(() => decodeRequests(received(body.subarray(3))));
    refused(() => decodeRequests(received(body.subarray(0, body.byteLength - 1))));
    refused(() => decodeRequests(received(new Uint8Array([...body, 1]))));
    refused(() => decodeRequests(received(encodeRequests("n/2", [{ req: env, roomBytes: rb, raw: enc("x") }]))));
    refused(() => decodeRequests(received(encodeRequests("n2", []))));
    refused(() => decodeRequests(received(encodeFrame("n1", rb, [item(msg(1, "a"))])))); // a frame on an owner subject
    refused(() => decodeRequests(received(body, { get: () => "1 m - n2 - - - - 1" })));
  });

  it("random bytes and mutations never throw anything but BAD_ENVELOPE", () => {
    let seed = 42;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const frame = encodeFrame("n1", rb, [item(msg(1, "a")), item(msg(2, new Uint8Array([1, 2, 3])))]);
    const req = encodeRequests("n2", [{ req: { id: "a", origin: "n2", room, kind: "text" }, roomBytes: rb, raw: enc("x") }]);
    for (let i = 0; i < 5000; i++) {
      const base = i % 3 === 0 ? frame : i % 3 === 1 ? req : new Uint8Array(Math.floor(rnd() * 64)).map(() => Math.floor(rnd() * 256));
      const b = base.slice();
      for (let k = 0; k < 1 + Math.floor(rnd() * 3); k++) if (b.byteLength) b[Math.floor(rnd() * b.byteLength)] = Math.floor(rnd() * 256);
      const cut = rnd() < 0.3 ? b.subarray(0, Math.floor(rnd() * b.byteLength)) : b;
      for (const fn of [() => decodeRoomWires(received(cut), room, rb, () => {}), () => decodeRequests(received(cut))]) {
        try {
          fn();
        } catch (err) {
          assert(err instanceof EdgeplaneError && err.code === "BAD_ENVELOPE", `threw ${String(err)}`);
        }
      }
    }
  });
});
