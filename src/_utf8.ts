// Private helpers for byte sizes and ids (web standards only).

const encoder = new TextEncoder();

const NON_ASCII = /[^\x00-\x7f]/;

/** UTF-8 byte length of a string without allocating (surrogate pairs count 4, lone surrogates 3 like TextEncoder). */
export function utf8Length(s: string): number {
  // Most frames are ASCII: one regex scan (native) instead of a JS loop over every character.
  if (!NON_ASCII.test(s)) return s.length;
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/** Byte size of a text or binary payload. */
export function byteSize(p: string | Uint8Array): number {
  return typeof p === "string" ? utf8Length(p) : p.byteLength;
}

/** Encode a string as UTF-8 bytes. */
export function utf8Encode(s: string): Uint8Array {
  return encoder.encode(s);
}

const decoder = new TextDecoder();
/** Decode UTF-8 bytes to a string. */
export function utf8Decode(b: Uint8Array): string {
  return decoder.decode(b);
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

// Random bytes are drawn 4 KiB at a time: one `getRandomValues` per 256 ids instead of one per id (it was 12 % of a
// busy hub's profile: every publish without its own id gets one). The id is built as one flat string from char codes
// (concatenating 16 pieces makes a rope that every Map lookup of the id first has to flatten).
const POOL = new Uint8Array(4096);
let poolAt = POOL.length;
const HEX_CODES = new Uint16Array(512);
for (let i = 0; i < 256; i++) {
  HEX_CODES[2 * i] = HEX[i].charCodeAt(0);
  HEX_CODES[2 * i + 1] = HEX[i].charCodeAt(1);
}
const ID_CODES: number[] = new Array(32).fill(0);

/** A random 128-bit id as 32 lowercase hex characters. */
export function randomId(): string {
  if (poolAt + 16 > POOL.length) {
    crypto.getRandomValues(POOL);
    poolAt = 0;
  }
  for (let i = 0; i < 16; i++) {
    const v = POOL[poolAt + i];
    ID_CODES[2 * i] = HEX_CODES[2 * v];
    ID_CODES[2 * i + 1] = HEX_CODES[2 * v + 1];
  }
  poolAt += 16;
  return String.fromCharCode.apply(null, ID_CODES);
}

/** Base64 of bytes (web standard btoa, chunked so large payloads do not blow the stack). */
export function toBase64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

/** Bytes of a base64 string; throws on malformed input. */
export function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
