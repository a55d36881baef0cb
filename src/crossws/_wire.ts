// Private: what one crossws pub/sub message looks like as an exchange payload.
//
// Text stays text and bytes stay bytes, so the exchange carries each the way it carries any payload (byte-identical):
//   text   = JSON(head) + "\n" + data                       (JSON never holds a raw "\n", so the first one ends the head)
//   binary = 0xEC 0x01 | head length (uint32 BE) | UTF-8 JSON(head) | data
// head = [1, sender, namespace, topic, flags, shards]: `sender` is the crossws instance id ("" for an ordered publish),
// flags bit 0 = ordered (every instance delivers it, its publisher too), `shards` lets instances notice that they
// disagree on the shard count (they would then order one topic in different rooms).
import { EdgeplaneError } from "../errors.ts";
import type { Payload } from "../envelope.ts";
import { utf8Decode, utf8Encode } from "../_utf8.ts";

/** A crossws message as relayed between instances. */
export interface WireMessage {
  sender: string;
  namespace: string;
  topic: string;
  data: string | Uint8Array;
  ordered: boolean;
  shards: number;
}

const VERSION = 1;
const MAGIC = 0xec;
const FLAG_ORDERED = 1;

/** Encode for {@link Exchange.publish}. */
export function encodeWire(m: WireMessage): Payload {
  const head = JSON.stringify([VERSION, m.sender, m.namespace, m.topic, m.ordered ? FLAG_ORDERED : 0, m.shards]);
  if (typeof m.data === "string") return `${head}\n${m.data}`;
  const h = utf8Encode(head);
  const out = new Uint8Array(6 + h.byteLength + m.data.byteLength);
  out[0] = MAGIC;
  out[1] = VERSION;
  new DataView(out.buffer).setUint32(2, h.byteLength);
  out.set(h, 6);
  out.set(m.data, 6 + h.byteLength);
  return out;
}

/** Decode an exchange payload; anything that is not one of ours throws `BAD_ENVELOPE`. */
export function decodeWire(p: Payload): WireMessage {
  let head: string, data: string | Uint8Array;
  if (typeof p === "string") {
    const nl = p.indexOf("\n");
    if (nl < 0) throw bad("text frame without a head");
    head = p.slice(0, nl);
    data = p.slice(nl + 1);
  } else {
    if (p.byteLength < 6 || p[0] !== MAGIC || p[1] !== VERSION) throw bad("binary frame without the crossws magic");
    const len = new DataView(p.buffer, p.byteOffset, p.byteLength).getUint32(2);
    if (6 + len > p.byteLength) throw bad("binary frame head runs past the end");
    head = utf8Decode(p.subarray(6, 6 + len));
    data = p.slice(6 + len);
  }
  let h: unknown;
  try {
    h = JSON.parse(head);
  } catch {
    throw bad("head is not JSON");
  }
  if (
    !Array.isArray(h) || h[0] !== VERSION || typeof h[1] !== "string" || typeof h[2] !== "string" ||
    typeof h[3] !== "string" || typeof h[4] !== "number" || !Number.isSafeInteger(h[5])
  ) throw bad("head has the wrong shape");
  return { sender: h[1], namespace: h[2], topic: h[3], data, ordered: (h[4] & FLAG_ORDERED) !== 0, shards: h[5] };
}

function bad(why: string): EdgeplaneError {
  return new EdgeplaneError("BAD_ENVELOPE", `not a crossws sync message: ${why}`);
}
