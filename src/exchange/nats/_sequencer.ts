// Private: owner-side state of one room (seq, never-decreasing timestamp, epoch term, history ring) and the
// positions this node knows about rooms it does not own (from heartbeats, epoch notices, deliveries, checkpoints).
import type { SeqInfo } from "../exchange.ts";
import { RecentMap } from "../../_recent-map.ts";
import { HistoryRing, type HistoryLimits } from "../_history.ts";
import type { RoomKey } from "./_subjects.ts";
import type { Epoch } from "./_codec.ts";
import type { PendingRelay } from "./_relay.ts";

/** Owner-side state of one room on this node. */
export class OwnedRoom {
  state: "inactive" | "activating" | "active" = "inactive";
  /** Last seq assigned (or taken over, relayed, seeded): the next local seq is seq + 1. */
  seq = 0;
  /**
   * Highest seq published on the room subject (or seeded over): what subscribers and history can see. Below `seq`
   * only while relayed messages wait in `pending` for a hole to fill.
   */
  out = 0;
  /** The counter was raised by a relay or seed from another sequencer: the next local seq starts term + 1. */
  foreign = false;
  /** Relayed messages above `out + 1`, waiting for the hole below them (chain extension, see _relay.ts). */
  readonly pending = new Map<number, PendingRelay>();
  holeTimer?: ReturnType<typeof setTimeout>;
  term = 0;
  lastTs = 0;
  /** Bumps whenever the room steps down, so a stale activation cannot resurrect it. */
  gen = 0;
  /** A node that refused our takeover because it is the active owner in its view. */
  deferTo?: string;
  deferUntil = 0;
  activation?: Promise<void>;
  /** Publishes waiting for the activation (the sync fast path must not overtake them). */
  waiting = 0;
  dirty = false;
  readonly ring: HistoryRing;

  constructor(readonly room: string, readonly key: RoomKey, limits: HistoryLimits) {
    this.ring = new HistoryRing(limits);
  }

  /** True when the ring holds the latest assigned seq (it can seed a successor). */
  get ringCurrent(): boolean {
    return this.ring.size > 0 && this.ring.lastSeq === this.seq;
  }
}

/** A room's position as known to this node. */
export interface KnownPosition {
  seq: number;
  term: number;
  owner: string;
  ts: number;
}

/** Highest known positions per room token (bounded; oldest entries go first). */
export class KnownPositions {
  readonly #map = new Map<string, KnownPosition>();
  constructor(readonly max = 200_000) {}

  get(token: string): KnownPosition | undefined {
    return this.#map.get(token);
  }

  /** Merge: seq, ts and (term, owner) each only move forward. */
  record(token: string, seq: number, epoch: Epoch, ts: number): void {
    const k = this.#map.get(token);
    if (!k) {
      if (this.#map.size >= this.max) this.#map.delete(this.#map.keys().next().value as string);
      this.#map.set(token, { seq, term: epoch.term, owner: epoch.owner, ts });
      return;
    }
    if (seq > k.seq) k.seq = seq;
    if (ts > k.ts) k.ts = ts;
    if (epoch.term > k.term || (epoch.term === k.term && epoch.owner > k.owner)) {
      k.term = epoch.term;
      k.owner = epoch.owner;
    }
  }
}

/**
 * Bounded id → SeqInfo cache for idempotent publishes (keyed by room token + id; at least the last `max` are kept): a
 * RecentMap (two generations) with a small Bloom filter per generation over the ids it holds. Almost every lookup is
 * for a fresh id: the filter answers "not held" without touching the maps, whose entries (hundreds of thousands of
 * string keys) miss the CPU caches on every probe — that lookup was the largest single cost of a hot room's owner. A
 * "maybe" (an id held, or ~2 % false positives) takes the exact map lookup, so the answer is always the map's.
 */
export class IdCache {
  readonly #map: RecentMap<string, SeqInfo>;
  readonly #words: number;
  #curBits: Uint32Array;
  #oldBits: Uint32Array;

  constructor(readonly max: number) {
    let bits = 1024;
    while (bits < max * 10 && bits < 2 ** 28) bits *= 2; // ≈10 bits per id, 3 probes: ~2 % false positives when full
    this.#words = bits / 32;
    this.#curBits = new Uint32Array(this.#words);
    this.#oldBits = new Uint32Array(this.#words);
    // The filters rotate with the map's generations.
    this.#map = new RecentMap(max, () => {
      this.#oldBits = this.#curBits;
      this.#curBits = new Uint32Array(this.#words);
    });
  }

  get(token: string, id: string): SeqInfo | undefined {
    const h = hashId(id);
    if (!this.#maybe(this.#curBits, h) && !this.#maybe(this.#oldBits, h)) return undefined;
    return this.#map.get(token + id);
  }

  set(token: string, id: string, info: SeqInfo): void {
    this.#map.set(token + id, info); // may rotate: the bits below go to the current generation's filter
    const bits = this.#curBits, mask = this.#words * 32 - 1;
    const h = hashId(id), h2 = mix(h);
    for (let i = 0; i < 3; i++) {
      const b = (h + i * h2) & mask;
      bits[b >>> 5] |= 1 << (b & 31);
    }
  }

  delete(token: string, id: string): void {
    this.#map.delete(token + id);
  }

  #maybe(bits: Uint32Array, h: number): boolean {
    const mask = this.#words * 32 - 1, h2 = mix(h);
    for (let i = 0; i < 3; i++) {
      const b = (h + i * h2) & mask;
      if ((bits[b >>> 5] & (1 << (b & 31))) === 0) return false;
    }
    return true;
  }
}

/** FNV-1a over the id's UTF-16 code units. */
function hashId(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A second, odd hash derived from the first (double hashing). */
function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) | 1) >>> 0;
}
