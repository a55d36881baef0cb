import { describe, it } from "node:test";
import { assert, assertEquals, assertThrows } from "@std/assert";
import { createEnvelope, decodeEnvelope, encodeEnvelope, validateEnvelope, validateRoom } from "../src/envelope.ts";
import { EdgeplaneError } from "../src/errors.ts";
import { parseClientFrame } from "../src/protocol.ts";

const code = (fn: () => unknown) => assertThrows(fn, EdgeplaneError).code;

describe("envelope validation", () => {
  it("accepts opaque room names that look hostile elsewhere", () => {
    for (const r of ["*", ">", "a b", "a..b", "a.*.>", "__proto__", "constructor", "ünï©ødé 🚀", "x".repeat(256)]) {
      assertEquals(validateRoom(r), r);
    }
  });

  it("rejects bad room names with BAD_ROOM", () => {
    for (const r of ["", "x".repeat(10 * 1024), "é".repeat(129), "a\nb", "a\u0000b", "\u2028", "\ud800x", "x\udc00", 42, null, undefined, {}, ["a"]]) {
      assertEquals(code(() => validateRoom(r)), "BAD_ROOM", `room ${JSON.stringify(r)}`);
    }
  });

  it("builds envelopes with fresh 128-bit ids and checks payload kind and size", () => {
    const a = createEnvelope("r", "hi", { origin: "node1" });
    const b = createEnvelope("r", new Uint8Array([1]), { origin: "node1" });
    assertEquals(a.kind, "text");
    assertEquals(b.kind, "binary");
    assert(/^[0-9a-f]{32}$/.test(a.id) && a.id !== b.id);
    assertEquals(code(() => createEnvelope("r", "x".repeat(1024 * 1024 + 1), { origin: "n" })), "PAYLOAD_TOO_LARGE");
    assertEquals(code(() => createEnvelope("r", "é".repeat(600 * 1024), { origin: "n" })), "PAYLOAD_TOO_LARGE");
    assertEquals(code(() => createEnvelope("r", 5 as unknown as string, { origin: "n" })), "BAD_ENVELOPE");
    assertEquals(code(() => createEnvelope("r", "x", { origin: "bad origin" })), "BAD_ENVELOPE");
  });

  it("round-trips text and binary through encode/decode", () => {
    const bin = createEnvelope("room", new Uint8Array([0, 1, 254, 255]), { origin: "n1" });
    const { envelope, extra } = decodeEnvelope(encodeEnvelope(bin, { seq: 7 }));
    assertEquals(Array.from(envelope.payload as Uint8Array), [0, 1, 254, 255]);
    assertEquals(extra.seq, 7);
    const txt = createEnvelope("room", "héllo 👋", { origin: "n1" });
    assertEquals(decodeEnvelope(encodeEnvelope(txt)).envelope, txt);
  });

  it("malformed envelopes give typed errors, never anything else", () => {
    const good = JSON.parse(encodeEnvelope(createEnvelope("r", "x", { origin: "n" })));
    const bad: unknown[] = [
      "not json", "null", "[]", "42", JSON.stringify({ ...good, v: 2 }), JSON.stringify({ ...good, id: "" }),
      JSON.stringify({ ...good, id: "x".repeat(65) }), JSON.stringify({ ...good, room: "" }), JSON.stringify({ ...good, kind: "binary" }),
      JSON.stringify({ ...good, payload: 5 }), JSON.stringify({ ...good, payload: undefined, b64: "!!!" }),
      JSON.stringify({ ...good, origin: null }),
    ];
    for (const text of bad) {
      const err = assertThrows(() => decodeEnvelope(text as string), EdgeplaneError);
      assert(["BAD_ENVELOPE", "BAD_ROOM", "PAYLOAD_TOO_LARGE"].includes(err.code), err.code);
    }
    assertEquals(code(() => validateEnvelope(null)), "BAD_ENVELOPE");
    const sneaky = encodeEnvelope(createEnvelope("r", "x", { origin: "n" })).replace("{", '{"__proto__":{"polluted":true},');
    const { extra } = decodeEnvelope(sneaky);
    assertEquals(Object.getPrototypeOf(extra), null, "extra fields live in a prototype-less object");
    assertEquals(({} as Record<string, unknown>).polluted, undefined, "no prototype pollution");
  });

  it("client frames are shape-checked with BAD_FRAME", () => {
    assertEquals(parseClientFrame(`{"t":"join","room":"r","lastSeq":3}`), { t: "join", room: "r", lastSeq: 3, meta: undefined, ref: undefined });
    for (const t of ["nope", "{}", "[]", '{"t":"zap"}', '{"t":"join"}', '{"t":"join","room":"r","lastSeq":-1}', '{"t":"pub","room":"r"}', '{"t":"pub","room":"r","data":"x","b64":"eA=="}', '{"t":"ping","ref":5}']) {
      assertEquals(code(() => parseClientFrame(t)), "BAD_FRAME", t);
    }
    assertEquals(code(() => parseClientFrame("x".repeat(2 * 1024 * 1024))), "PAYLOAD_TOO_LARGE");
  });
});
