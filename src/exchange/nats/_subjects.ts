// Private: room tokens and subject names. A room name never goes raw into a subject: its token is the base32 of the
// first 130 bits of SHA-256(room), a fixed 26 characters of [a-z2-7], so `*`, `>`, `.`, spaces and unicode can never
// inject a wildcard or collide in practice. SHA-256 is implemented here (sync, pure TS) so subscribe() can stay sync.
import { utf8Encode } from "../../_utf8.ts";

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);

/** SHA-256 of bytes (FIPS 180-4), returned as 8 big-endian 32-bit words. */
export function sha256Words(data: Uint8Array): Uint32Array {
  const h = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const bitLen = data.length * 8;
  const padded = new Uint8Array(((data.length + 9 + 63) >> 6) << 6);
  padded.set(data);
  padded[data.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bitLen / 0x100000000));
  view.setUint32(padded.length - 4, bitLen >>> 0);
  const w = new Uint32Array(64);
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(off + i * 4);
    for (let i = 16; i < 64; i++) {
      const a = w[i - 15], b = w[i - 2];
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K[i] + w[i]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += hh;
  }
  return h;
}

const B32 = "abcdefghijklmnopqrstuvwxyz234567";
const TOKEN_CHARS = 26;

/** A room's token and the 64 bits of its hash used for rendezvous ranking. */
export interface RoomKey {
  token: string;
  h1: number;
  h2: number;
  /** The room name's UTF-8 bytes (as it travels on the wire). */
  bytes: Uint8Array;
}

const cache = new Map<string, RoomKey>();
const CACHE_MAX = 50_000;

/** Token of a (validated) room name: 26 base32 characters of SHA-256(room). Cached. */
export function roomKey(room: string): RoomKey {
  let k = cache.get(room);
  if (k) return k;
  const bytes = utf8Encode(room);
  const words = sha256Words(bytes);
  let token = "";
  let acc = 0, bits = 0, wi = 0;
  while (token.length < TOKEN_CHARS) {
    if (bits < 5) {
      acc = (acc << 16) | (words[wi >> 1] >>> ((wi & 1) ? 0 : 16) & 0xffff);
      wi++;
      bits += 16;
    }
    token += B32[(acc >>> (bits - 5)) & 31];
    bits -= 5;
    acc &= (1 << bits) - 1;
  }
  k = { token, h1: words[4], h2: words[5], bytes };
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(room, k);
  return k;
}

/** True when `room` was already validated and hashed (its token is cached): callers may skip re-validation. */
export function isKnownRoom(room: string): boolean {
  return cache.has(room);
}

const TOKEN_RE = /^[a-z2-7]{26}$/;
/** True for a well-formed room token. */
export function isToken(s: unknown): s is string {
  return typeof s === "string" && TOKEN_RE.test(s);
}

/** Subject names under one prefix. */
export class Subjects {
  constructor(readonly prefix: string) {}
  /** Heartbeats, `leaving` and `bye` of every node. */
  get hb(): string {
    return `${this.prefix}.hb`;
  }
  /** Position gathering (takeover/handoff), answered by every node. */
  get gather(): string {
    return `${this.prefix}.ctl`;
  }
  /** Seal requests (chain extension: sequencing moved to another exchange), answered by every node. */
  get seal(): string {
    return `${this.prefix}.seal`;
  }
  /** Room position listings (chain extension), answered by every node. */
  get positions(): string {
    return `${this.prefix}.pos`;
  }
  /** Sequenced messages of one room. */
  room(token: string): string {
    return `${this.prefix}.m.${token}`;
  }
  /** Publish requests to one owner. */
  own(nodeId: string): string {
    return `${this.prefix}.own.${nodeId}`;
  }
  /** Chain-extension requests (relay an already-sequenced message, seed a counter) to one owner. */
  rel(nodeId: string): string {
    return `${this.prefix}.rel.${nodeId}`;
  }
  /** History and position requests to one owner. */
  hist(nodeId: string): string {
    return `${this.prefix}.hist.${nodeId}`;
  }
  /** Reply inboxes of this node. */
  inbox(nodeId: string): string {
    return `${this.prefix}.in.${nodeId}`;
  }
}

const PREFIX_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
/** True for a subject prefix made of plain tokens (no wildcards, no empty tokens). */
export function isValidPrefix(prefix: unknown): prefix is string {
  return typeof prefix === "string" && prefix.length <= 64 && PREFIX_RE.test(prefix);
}
