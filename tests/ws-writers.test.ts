// The Node fast path's WebSocket framing (adapters/_ws-writers.ts): RFC 6455 server frames built once per batch.
import { describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import { textFrameBytes } from "../adapters/_ws-writers.ts";
import { frame, type Frame } from "../src/protocol.ts";

/** Decode unmasked server frames back to their texts (checking FIN, opcode, no mask). */
function decode(bytes: Uint8Array): string[] {
  const out: string[] = [];
  const dec = new TextDecoder("utf-8", { fatal: true });
  let at = 0;
  while (at < bytes.length) {
    assertEquals(bytes[at], 0x81, "FIN + text opcode");
    const b1 = bytes[at + 1];
    assertEquals(b1 & 0x80, 0, "server frames are not masked");
    let len = b1 & 0x7f;
    at += 2;
    if (len === 126) {
      len = (bytes[at] << 8) | bytes[at + 1];
      at += 2;
    } else if (len === 127) {
      const view = new DataView(bytes.buffer, bytes.byteOffset + at, 8);
      len = view.getUint32(0) * 2 ** 32 + view.getUint32(4);
      at += 8;
    }
    out.push(dec.decode(bytes.subarray(at, at + len)));
    at += len;
  }
  return out;
}

const textOf = (n: number, unit = "x") => unit.repeat(n);

describe("ws writer: text frames built once", () => {
  it("encodes every length class (7-bit, 16-bit, 64-bit) and multi-byte UTF-8 exactly like ws", () => {
    const texts = ["", "a", textOf(125), textOf(126), textOf(127), textOf(65535), textOf(65536), textOf(70_001), "héllo €𝄞", textOf(200, "é")];
    const frames: Frame[] = texts.map((t) => frame({ t: "direct", from: "n", data: t }));
    const bytes = textFrameBytes(frames);
    assertEquals(decode(bytes), frames.map((f) => f.text));
    for (const f of frames) {
      const n = f.bytes;
      const head = n < 126 ? [0x81, n] : n < 65536 ? [0x81, 126, n >> 8, n & 255] : [0x81, 127, 0, 0, 0, 0, n >>> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255];
      const one = textFrameBytes([f]);
      assertEquals([...one.subarray(0, head.length)], head, `RFC 6455 header for ${n} bytes`);
      assertEquals(one.length, head.length + n);
      assertEquals(one.subarray(head.length), new TextEncoder().encode(f.text));
    }
  });

  it("reuses the bytes for the same batch of frames and rebuilds for a different one", () => {
    const a = frame({ t: "pong" }), b = frame({ t: "pong", ref: "x" });
    const first = textFrameBytes([a, b]);
    assert(textFrameBytes([a, b]) === first, "same frames → same buffer (every member of a room)");
    const other = textFrameBytes([b, a]);
    assert(other !== first);
    assertEquals(decode(other), [b.text, a.text]);
    assertEquals(decode(textFrameBytes([a, b])), [a.text, b.text]);
  });
});
