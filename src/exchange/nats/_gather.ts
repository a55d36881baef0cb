// Private: the requesting side of a takeover gather (docs/design.md §4 "Failover and epochs"). A node about to own a room asks
// every live node, and those declared dead a moment ago, what it knows about the room: its highest seq, term, owner
// and timestamp, whether it refuses (it is the active owner in its own view) and whether its ring ends at that seq
// (so it can seed the new owner's history). Rooms asked in one tick share one request; the answer waits until every
// expected node replied or `timeoutMs` passed. An answer from a node thought dead takes it back into the view. Both the
// request and the answers carry the backplane's seal, if any (chain extension, _seal.ts), so an owner-to-be learns it
// before it sequences.
import { validateId } from "../../envelope.ts";
import { randomId } from "../../_utf8.ts";
import { jsonBytes, num, parseJson } from "./_codec.ts";
import type { Membership } from "./_membership.ts";
import type { Subjects } from "./_subjects.ts";
import type { NatsConnectionLike, NatsMsgLike } from "./_types.ts";

/** One node's answer about one room. */
export interface GatherEntry {
  node: string;
  seq: number;
  term: number;
  owner: string;
  ts: number;
  /** The replier is the active owner in its own view and refuses to step down. */
  refuse: boolean;
  /** The replier's history ring ends at `seq` (it can seed the new owner). */
  ringCurrent: boolean;
}

/** What a gatherer needs from its exchange. */
export interface GatherHost {
  readonly nc: NatsConnectionLike;
  readonly subjects: Subjects;
  readonly nodeId: string;
  readonly membership: Membership;
  readonly counters: Record<"gathers" | "malformedDropped", number>;
  readonly timeoutMs: number;
  /** How long a node declared dead is still asked, ms. */
  readonly recentlyDeadMs: number;
  connected(): boolean;
  /** The backplane's seal to send along (chain extension, _seal.ts), if any. */
  seal(): unknown;
  /** A seal heard in an answer: learn it before the takeover may sequence. */
  learnSeal(v: unknown): void;
}

const CHUNK = 2000;

/** Batched position gathering for takeovers and handoffs. */
export class Gatherer {
  #batch: Map<string, Array<(r: GatherEntry[]) => void>> | undefined;

  constructor(readonly host: GatherHost) {}

  /** Ask every live node what it knows about the room `token` (batched per tick). */
  gather(token: string): Promise<GatherEntry[]> {
    return new Promise((resolve) => {
      if (!this.#batch) {
        this.#batch = new Map();
        setTimeout(() => this.#flush(), 0);
      }
      let list = this.#batch.get(token);
      if (!list) this.#batch.set(token, list = []);
      list.push(resolve);
    });
  }

  #flush(): void {
    const batch = this.#batch!;
    this.#batch = undefined;
    const tokens = [...batch.keys()];
    for (let i = 0; i < tokens.length; i += CHUNK) {
      const chunk = tokens.slice(i, i + CHUNK);
      void this.#once(chunk).then((res) => {
        for (const t of chunk) for (const resolve of batch.get(t)!) resolve(res.get(t) ?? []);
      });
    }
  }

  async #once(tokens: string[]): Promise<Map<string, GatherEntry[]>> {
    const h = this.host, m = h.membership;
    h.counters.gathers++;
    const out = new Map<string, GatherEntry[]>();
    const expect = new Set([...m.others(), ...m.recentlyDead(h.recentlyDeadMs)]);
    if (expect.size === 0 || !h.connected()) return out;
    const inbox = `${h.subjects.inbox(h.nodeId)}.${randomId()}`;
    let done!: () => void;
    const finished = new Promise<void>((r) => done = r);
    const sub = h.nc.subscribe(inbox, {
      callback: (err: unknown, msg: NatsMsgLike) => {
        if (err) return;
        try {
          const b = parseJson(msg.data);
          const node = validateId(b.n, "node");
          // An answer proves the node is alive (it may only have looked dead): take it back into the view.
          if (!m.isLive(node) && typeof b.e === "number") m.heard(node, b.e === 1);
          if (b.s !== undefined) h.learnSeal(b.s);
          const p = b.p;
          if (p !== null && typeof p === "object" && !Array.isArray(p)) {
            for (const t of tokens) {
              const e = (p as Record<string, unknown>)[t];
              if (!Array.isArray(e)) continue;
              const entry: GatherEntry = {
                node,
                seq: num(e[0], "seq"),
                term: num(e[1], "term"),
                owner: validateId(e[2], "owner"),
                ts: num(e[3], "ts"),
                refuse: (num(e[4], "flags") & 1) === 1,
                ringCurrent: (num(e[4], "flags") & 2) === 2,
              };
              let l = out.get(t);
              if (!l) out.set(t, l = []);
              l.push(entry);
            }
          }
          expect.delete(node);
          if (expect.size === 0) done();
        } catch {
          h.counters.malformedDropped++;
        }
      },
    });
    const timer = setTimeout(done, h.timeoutMs);
    try {
      // `s` (the seal) is left out of the JSON while there is none
      h.nc.publish(h.subjects.gather, jsonBytes({ n: h.nodeId, t: tokens, s: h.seal() }), { reply: inbox });
      await finished;
    } catch { /* disconnected: go with what we have */ }
    clearTimeout(timer);
    try {
      sub.unsubscribe();
    } catch { /* closed */ }
    return out;
  }
}
