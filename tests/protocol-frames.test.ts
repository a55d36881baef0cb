// The hand-written frame serializers (src/protocol.ts) give exactly what JSON.stringify of the frame object gives.
import { describe, it } from "node:test";
import { assertEquals } from "@std/assert";
import { ackFrame, frame, messageFrame } from "../src/protocol.ts";
import type { SequencedMessage } from "../src/exchange/exchange.ts";
import { toBase64 } from "../src/_utf8.ts";

const base = { seq: 7, timestamp: 1733160000123, epoch: 1700000000, origin: "n1" };
const rooms = ["lobby", 'quo"te\\s', "ünïcødé 🎉", "__proto__", "a\u2028b", "\ud800lone"];
const payloads: Array<string | Uint8Array> = ["hello", "", 'json {"a":[1,2]} \n\t', "€𝄞 ☃", "\u0000\u001f", new Uint8Array([0, 1, 2, 250, 255])];

describe("frame serializers", () => {
  it("messageFrame matches JSON.stringify of the msg frame for hostile rooms, ids and payloads", () => {
    for (const room of rooms) {
      for (const payload of payloads) {
        const m: SequencedMessage = { ...base, room, id: 'id-"x"', payload };
        const expected = typeof payload === "string"
          ? JSON.stringify({ t: "msg", room, seq: m.seq, ts: m.timestamp, epoch: m.epoch, id: m.id, data: payload })
          : JSON.stringify({ t: "msg", room, seq: m.seq, ts: m.timestamp, epoch: m.epoch, id: m.id, b64: toBase64(payload) });
        const f = messageFrame(m);
        assertEquals(f.text, expected);
        assertEquals(f.bytes, new TextEncoder().encode(expected).length);
        assertEquals([f.room, f.seq], [room, 7]);
      }
    }
  });

  it("ackFrame matches frame({ t: 'ack', … }) with and without a ref", () => {
    for (const room of rooms) {
      for (const ref of [undefined, "r1", 'we"ird']) {
        const f = ackFrame(ref, room, 42, 1733160000999);
        assertEquals(f.text, frame({ t: "ack", ref, room, seq: 42, ts: 1733160000999 }).text);
        assertEquals(f.bytes, new TextEncoder().encode(f.text).length);
      }
    }
  });
});
