// The NATS wire format's multi-envelope records: room-subject frames (several sequenced messages in one NATS message)
// and batched publish requests. Round trips are exact (text and binary); a bad record is skipped and counted on its
// own; broken framing, wrong counts and records of the wrong kind are BAD_ENVELOPE.
import { describe, it } from "node:test";
import { assert, assertEquals, assertThrows } from "@std/assert";
import { EdgeplaneError } from "../src/errors.ts";
import type { SequencedMessage } from "../src/exchange/exchange.ts";
import {
  decodeRequestBatch,
  decodeRoomWires,
  encodeMessageFrame,
  encodeRequestBatch,
  messageField,
  noticeHeaders,
  type RoomWire,
  requestField,
  WireHeaders,
} from "../src/exchange/nats/_codec.ts";

const make = () => new WireHeaders();
/** A received message as nats.js hands it over: headers with get(), the body bytes. */
function received(headers: unknown, data: Uint8Array) {
  const text = (headers as WireHeaders).toString();
  const map = new Map<string, string>();
  for (const line of text.split("\r\n").slice(1)) {
    const i = line.indexOf(": ");
    if (i > 0) map.set(line.slice(0, i), line.slice(i + 2));
  }
  return { subject: "x", data, headers: { get: (k: string) => map.get(k) ?? "" } };
}
const enc = (s: string) => new TextEncoder().encode(s);
const room = "chat ü *";
const er = encodeURIComponent(room);

function msg(seq: number, payload: string | Uint8Array): SequencedMessage {
  return { room, seq, timestamp: 1_700_000_000_000 + seq, epoch: 3, id: `id${seq}`, origin: "n1", payload };
}

describe("nats codec: frames and batches", () => {
  it("a room frame round-trips every message in order, text and binary", () => {
    const ms = [msg(1, "héllo"), msg(2, new Uint8Array([0, 255, 7])), msg(3, "")];
    const { headers, body } = encodeMessageFrame(make, er, ms.map((m) => ({
      field: messageField(m, "n1", typeof m.payload === "string" ? "text" : "binary", er),
      raw: typeof m.payload === "string" ? enc(m.payload) : m.payload,
    })));
    const got: RoomWire[] = [];
    assertEquals(decodeRoomWires(received(headers, body), room, er, (w) => got.push(w)), 0);
    assertEquals(got.map((w) => w.type === "msg" ? w.msg : null), ms);
  });

  it("a bad record is skipped and counted; the others still arrive", () => {
    const good = msg(1, "a"), other = msg(3, "c");
    const wrongRoom = { ...msg(2, "b"), room: "elsewhere" };
    const { headers, body } = encodeMessageFrame(make, er, [
      { field: messageField(good, "n1", "text", er), raw: enc("a") },
      { field: messageField(wrongRoom, "n1", "text"), raw: enc("b") },
      { field: messageField(other, "n1", "text", er), raw: enc("c") },
    ]);
    const got: number[] = [];
    assertEquals(decodeRoomWires(received(headers, body), room, er, (w) => w.type === "msg" && got.push(w.msg.seq)), 1);
    assertEquals(got, [1, 3]);
  });

  it("broken framing, bad counts and notices inside a frame are refused", () => {
    const one = [{ field: messageField(msg(1, "a"), "n1", "text", er), raw: enc("a") }];
    const { headers, body } = encodeMessageFrame(make, er, one);
    const bad = (h: unknown, b: Uint8Array) => assertThrows(() => decodeRoomWires(received(h, b), room, er, () => {}), EdgeplaneError);
    bad(headers, body.subarray(0, body.byteLength - 1)); // truncated
    bad(headers, new Uint8Array([...body, 0])); // trailing bytes
    bad(new WireHeaders().set("ep", `1 M - - ${er} - - - 0`), new Uint8Array(0));
    bad(new WireHeaders().set("ep", `1 M - - ${er} - - - 2000`), body);
    bad(new WireHeaders().set("ep", `1 M - - ${encodeURIComponent("other")} - - - 1`), body); // frame of another room
    const notice = String((noticeHeaders(make, room, { term: 1, owner: "n1" }, 5, 9) as WireHeaders).toString()).split("ep: ")[1].trim();
    const f = encodeMessageFrame(make, er, [{ field: notice, raw: new Uint8Array(0) }]);
    let n = 0;
    assertEquals(decodeRoomWires(received(f.headers, f.body), room, er, () => n++), 1, "a notice record is a bad record");
    assertEquals(n, 0);
  });

  it("a request batch round-trips; a bad record is its own error", () => {
    const env = { id: "abc", origin: "n2", room, kind: "text" as const };
    const { headers, body } = encodeRequestBatch(make, "n2", [
      { field: requestField(env), raw: enc("one") },
      { field: requestField({ ...env, id: "no/pe" }), raw: enc("two") },
      { field: requestField({ ...env, id: "def", kind: "binary" }), raw: new Uint8Array([1, 2]) },
    ]);
    const out = decodeRequestBatch(received(headers, body));
    assertEquals(out.length, 3);
    assert(!(out[0] instanceof EdgeplaneError) && out[0].req.payload === "one" && out[0].req.room === room);
    assert(out[1] instanceof EdgeplaneError && out[1].code === "BAD_ENVELOPE");
    assert(!(out[2] instanceof EdgeplaneError));
    assertEquals(out[2].req.payload, new Uint8Array([1, 2]));
    assertThrows(() => decodeRequestBatch(received(headers, body.subarray(3))), EdgeplaneError);
  });
});
