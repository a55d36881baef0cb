// Test helper: seeded random and mutated client frames for the fuzz test (tests/security-fuzz.test.ts): truncated
// JSON, huge numbers, deep nesting, wrong types, prototype keys, control characters, invalid UTF-8, binary noise.

/** mulberry32: a small seeded PRNG (same frames for the same seed on every runtime). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A fuzz frame: text (one client frame) or bytes (invalid UTF-8 / binary noise). */
export type FuzzFrame = string | Uint8Array;

const ROOMS = ["calm", "fz", "fz:a", "__proto__", "constructor", "", " ", "a\u0000b", "\ud800", "r".repeat(300), ">", "*", "ü😀", "__edgeplane.x"];
const VALUES: unknown[] = [
  null, true, false, 0, -0, -1, 1.5, 1e308, -1e308, 2 ** 53, 2 ** 64, Number.MAX_SAFE_INTEGER + 2, "", "x", "0", [], {}, [1, 2], { a: 1 },
  "\u0000", "\ud83d", "é".repeat(40), "x".repeat(5000),
];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)];
}

function validish(r: () => number): Record<string, unknown> {
  const t = pick(r, ["join", "leave", "pub", "ping", "pub", "join", "nope", "", "PUB", "welcome", "msg"]);
  const f: Record<string, unknown> = { t };
  if (r() < 0.9) f.room = r() < 0.6 ? pick(r, ROOMS) : pick(r, VALUES);
  if (t === "pub" || r() < 0.2) {
    if (r() < 0.7) f.data = r() < 0.7 ? `d${Math.floor(r() * 1e6)}` : pick(r, VALUES);
    if (r() < 0.3) f.b64 = pick(r, ["aGk=", "%%%", "", "====", "aGk", pick(r, VALUES)]);
  }
  if (r() < 0.5) f.ref = r() < 0.8 ? `f${Math.floor(r() * 1e6)}` : pick(r, [...VALUES, "r".repeat(65)]);
  if (r() < 0.2) f.lastSeq = pick(r, VALUES);
  if (r() < 0.2) f.meta = r() < 0.5 ? { name: pick(r, VALUES) } : pick(r, VALUES);
  if (r() < 0.1) f.id = pick(r, VALUES);
  if (r() < 0.05) f["__proto__"] = { t: "ping" };
  return f;
}

function nested(depth: number, open: string, close: string): string {
  return open.repeat(depth) + close.repeat(depth);
}

/** One random text frame. */
export function fuzzText(r: () => number): string {
  const kind = r();
  const base = JSON.stringify(validish(r));
  if (kind < 0.35) return base; // well-formed JSON, random shapes and values
  if (kind < 0.55) return base.slice(0, Math.floor(r() * base.length)); // truncated
  if (kind < 0.7) {
    // mutated: flip, insert or delete characters
    const chars = [...base];
    for (let i = 0, n = 1 + Math.floor(r() * 4); i < n; i++) {
      const at = Math.floor(r() * chars.length);
      const op = r();
      if (op < 0.4) chars[at] = pick(r, ["{", "}", "[", "]", '"', ":", ",", "\\", "\u0000", "\n", "9", "e", "-", "\ud800"]);
      else if (op < 0.7) chars.splice(at, 0, pick(r, ['"', "{", "1e999", "null", "\\u00"]));
      else chars.splice(at, 1);
    }
    return chars.join("");
  }
  if (kind < 0.78) {
    // deep nesting, as a value and as the frame
    const d = 1 + Math.floor(r() * 5000);
    return r() < 0.5 ? `{"t":"pub","room":"fz","data":${nested(d, "[", "]")}}` : nested(d, r() < 0.5 ? "[" : '{"a":', r() < 0.5 ? "]" : "}");
  }
  if (kind < 0.86) {
    // huge numbers and odd literals
    return pick(r, [
      `{"t":"join","room":"fz","lastSeq":1${"0".repeat(400)}}`,
      `{"t":"join","room":"fz","lastSeq":-0}`,
      `{"t":"join","room":"fz","lastSeq":1e-400}`,
      `{"t":"join","room":"fz","lastSeq":9007199254740993}`,
      `{"t":"pub","room":"fz","data":"x","ref":1e309}`,
      "1e999", "-", "NaN", "Infinity", "undefined", "null", "true", '"join"', "[]", "{}", "",
    ]);
  }
  if (kind < 0.93) {
    // wrong top-level types and duplicate keys
    return pick(r, [
      `{"t":"join","t":"pub","room":"fz","data":"dup"}`,
      `{"t":{"t":"ping"}}`,
      `[{"t":"ping"}]`,
      `{"t":"ping","ref":["a"]}`,
      `{"t":"leave","room":["fz"]}`,
      `{"t":"pub","room":"fz","data":"a","b64":"aGk="}`,
      `{"t":"join","room":"fz","meta":[1,2]}`,
      `{"t":"join","room":"fz","meta":{"bio":"${"x".repeat(2000)}"}}`,
    ]);
  }
  // whitespace, control characters, long garbage
  return pick(r, [" ", "\t", "\r", "\u0000", "\ufeff{}", "x".repeat(1 + Math.floor(r() * 20_000)), String.fromCharCode(...Array.from({ length: 64 }, () => Math.floor(r() * 65536)))]);
}

/** Random bytes: invalid UTF-8 sequences or noise. */
export function fuzzBytes(r: () => number): Uint8Array {
  const seqs = [[0xff], [0xc3, 0x28], [0xe2, 0x82], [0xf0, 0x28, 0x8c, 0xbc], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0x80]];
  if (r() < 0.5) {
    const head = new TextEncoder().encode('{"t":"pub","room":"fz","data":"');
    return new Uint8Array([...head, ...pick(r, seqs), 0x22, 0x7d]);
  }
  return Uint8Array.from({ length: 1 + Math.floor(r() * 512) }, () => Math.floor(r() * 256));
}
