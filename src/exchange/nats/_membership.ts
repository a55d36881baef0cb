// Private: the live member set, learned from heartbeats. A node is live while its heartbeats keep coming (dead after
// `missedBeats` silent intervals, or at once on `bye`) and eligible to own rooms only once it declares itself settled
// (it has been up for `settleBeats` heartbeats, so it has heard every other member before it can outrank one).
import type { RoomKey } from "./_subjects.ts";
import { top } from "./_rendezvous.ts";

interface Member {
  lastSeen: number;
  eligible: boolean;
}

/** Membership view of one node. */
export class Membership {
  readonly #members = new Map<string, Member>();
  readonly #eligible = new Set<string>();
  #selfEligible = false;
  #frozen = false;
  /** Bumps on every change of the eligible set. */
  version = 0;

  constructor(
    readonly selfId: string,
    readonly deadAfterMs: number,
    readonly now: () => number,
    readonly onChange: () => void,
  ) {}

  /** Whether this node is eligible (settled and not leaving). */
  get selfEligible(): boolean {
    return this.#selfEligible;
  }

  setSelfEligible(v: boolean): void {
    if (v === this.#selfEligible) return;
    this.#selfEligible = v;
    if (v) this.#eligible.add(this.selfId);
    else this.#eligible.delete(this.selfId);
    this.#changed();
  }

  /** A heartbeat from `id`. */
  heard(id: string, eligible: boolean): void {
    if (id === this.selfId) return;
    this.#recentlyDead.delete(id);
    let m = this.#members.get(id);
    const wasEligible = this.#eligible.has(id);
    if (!m) {
      m = { lastSeen: this.now(), eligible };
      this.#members.set(id, m);
    }
    m.lastSeen = this.now();
    m.eligible = eligible;
    if (eligible !== wasEligible) {
      if (eligible) this.#eligible.add(id);
      else this.#eligible.delete(id);
      this.#changed();
    }
  }

  readonly #recentlyDead = new Map<string, number>();

  /** `bye` from `id` (or declared dead). */
  remove(id: string, died = false): void {
    if (!this.#members.delete(id)) return;
    if (died) {
      this.#recentlyDead.set(id, this.now());
      if (this.#recentlyDead.size > 1000) this.#recentlyDead.delete(this.#recentlyDead.keys().next().value as string);
    }
    if (this.#eligible.delete(id)) this.#changed();
  }

  /**
   * Nodes declared dead (not by `bye`) within `windowMs`: a takeover still asks them, because a node that only looked
   * dead (starved, partitioned for a moment) may still be sequencing and must refuse or step down first.
   */
  recentlyDead(windowMs: number): string[] {
    const since = this.now() - windowMs;
    const out: string[] = [];
    for (const [id, t] of this.#recentlyDead) if (t >= since && !this.#members.has(id)) out.push(id);
    return out;
  }

  /** Drop members silent for longer than `deadAfterMs`; returns the ids dropped. Nothing expires while frozen. */
  sweep(): string[] {
    if (this.#frozen) return [];
    const limit = this.now() - this.deadAfterMs;
    const dead: string[] = [];
    for (const [id, m] of this.#members) if (m.lastSeen < limit) dead.push(id);
    for (const id of dead) this.remove(id, true);
    return dead;
  }

  /** While our own connection is down, silence proves nothing: freeze expiry; on thaw, restart every clock. */
  freeze(frozen: boolean): void {
    if (this.#frozen && !frozen) {
      const t = this.now();
      for (const m of this.#members.values()) m.lastSeen = t;
    }
    this.#frozen = frozen;
  }

  isLive(id: string): boolean {
    return id === this.selfId || this.#members.has(id);
  }

  /** Live member ids other than this node. */
  others(): string[] {
    return [...this.#members.keys()];
  }

  /** Eligible ids (this node included when eligible). */
  eligible(): ReadonlySet<string> {
    return this.#eligible;
  }

  /** The owner of a room in this view: the best eligible node by rendezvous hashing. */
  owner(key: RoomKey, exclude?: ReadonlySet<string>): string | undefined {
    return top(this.#eligible, key, exclude);
  }

  #changed(): void {
    this.version++;
    this.onChange();
  }
}
