// Private: rendezvous (highest random weight) hashing. Every node ranks the same candidates the same way for a room,
// so all nodes agree on the owner without a coordinator.
import type { RoomKey } from "./_subjects.ts";

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const nodeHashes = new Map<string, [number, number]>();

function nodeHash(nodeId: string): [number, number] {
  let h = nodeHashes.get(nodeId);
  if (h) return h;
  let a = 0x811c9dc5, b = 0x01000193;
  for (let i = 0; i < nodeId.length; i++) {
    const c = nodeId.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
  }
  h = [fmix32(a), fmix32(b ^ 0x9e3779b9)];
  if (nodeHashes.size > 10_000) nodeHashes.clear();
  nodeHashes.set(nodeId, h);
  return h;
}

/** HRW score of (node, room): a 53-bit number, higher wins. */
export function score(nodeId: string, key: RoomKey): number {
  const [n1, n2] = nodeHash(nodeId);
  const hi = fmix32(key.h1 ^ n1) >>> 11; // 21 bits
  const lo = fmix32(key.h2 ^ n2 ^ hi); // 32 bits
  return hi * 0x100000000 + lo;
}

/** Candidates ranked best first for `key` (ties broken by node id, never by input order). */
export function rank(candidates: Iterable<string>, key: RoomKey): string[] {
  const scored = Array.from(candidates, (id) => ({ id, s: score(id, key) }));
  scored.sort((a, b) => b.s - a.s || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  return scored.map((x) => x.id);
}

/** The best candidate for `key`, or undefined when there is none (no allocation beyond the scores). */
export function top(candidates: Iterable<string>, key: RoomKey, exclude?: ReadonlySet<string>): string | undefined {
  let best: string | undefined, bestScore = -1;
  for (const id of candidates) {
    if (exclude?.has(id)) continue;
    const s = score(id, key);
    if (s > bestScore || (s === bestScore && best !== undefined && id > best)) {
      best = id;
      bestScore = s;
    }
  }
  return best;
}
