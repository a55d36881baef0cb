// Private: the seal and the room positions of a NATS backplane (chain extension, docs/design.md §4 "Seal and positions"),
// so that NATS can be the old side of a migration. NATS core keeps no state, so the seal lives in the memory of the
// live nodes, like every room counter:
// - `seal(authority)` proposes [authority, proposer's clock] unless this node already knows a seal, sends it on
//   `<prefix>.seal` to every node, and resolves only once every live member (in this node's view) answered with the
//   same seal. An answer carrying another seal is merged and the round repeats; all of it within `sendTimeout`, else a
//   typed TIMEOUT (the seal stays in force wherever it arrived and keeps spreading; a retry confirms it).
// - Every node adopts a seal it hears of: a seal request, a heartbeat, a takeover gather (request or answer). Two
//   different seals merge deterministically, the earlier proposal wins (proposer's clock, then authority name), so
//   concurrent seals converge on one on every node. A seal that resolved is held by every node that was live then, and
//   a node proposes only once it is ready (it heard a heartbeat, which carries the seal, from every live node), so a
//   later seal call returns the one in force instead of replacing it.
// - The owner asks `refuse()` where it sequences a publish (relay, seed, history and subscriptions keep working): a
//   sealed node refuses with BACKPLANE_UNAVAILABLE and `details.sealedBy`; an id it already sequenced is still
//   answered with its seq. A node that joins later or was cut off while the seal spread learns it before it may own a
//   room: settling takes two heartbeats, and a takeover gathers from the live nodes first.
// - `positions()` asks every live node on `<prefix>.pos` for the rooms it knows by name (rooms it owns or owned,
//   rooms it subscribes to) with their positions, merges them (max seq, term and timestamp, raised by what the node
//   heard announced) and resolves once every live member answered in full, within `sendTimeout`: a node that stays
//   silent makes it reject (TIMEOUT naming it), so no room a live node holds goes missing silently.
import { EdgeplaneError } from "../../errors.ts";
import { validateId, validateRoom } from "../../envelope.ts";
import { randomId, utf8Length } from "../../_utf8.ts";
import { validateAuthority } from "../_authority.ts";
import type { RoomPosition } from "../exchange.ts";
import { jsonBytes, num, parseJson } from "./_codec.ts";
import type { Core } from "./_core.ts";
import type { NatsMsgLike } from "./_types.ts";

/** A seal as it travels: [authority, the proposer's clock (ms) when it was proposed]. */
export type SealWire = [string, number];

/** A room and its position, as `positions()` lists it. */
export type NamedPosition = RoomPosition & { room: string };

type Entry = [room: string, seq: number, term: number, ts: number];

/** True when seal `a` was proposed before `b` (ties broken by authority name). */
function earlier(a: SealWire, b: SealWire): boolean {
  return a[1] !== b[1] ? a[1] < b[1] : a[0] < b[0];
}

/** The error of a publish refused on a sealed backplane. */
export function sealedError(by: string): EdgeplaneError {
  return new EdgeplaneError("BACKPLANE_UNAVAILABLE", `sequencing of this NATS backplane moved to "${by}" (migration)`, {
    sealedBy: by,
    maybeSequenced: false,
  });
}

/** The seal of one node's backplane, and the positions of every room. */
export class BackplaneSeal {
  #seal: SealWire | undefined;

  constructor(readonly core: Core) {}

  /** The authority sequencing moved to, or "" while not sealed. */
  get sealedBy(): string {
    return this.#seal?.[0] ?? "";
  }

  /** The seal to carry in heartbeats and gathers (undefined while not sealed). */
  wire(): SealWire | undefined {
    return this.#seal;
  }

  /** Merge a seal heard from another node. Malformed ones are counted and ignored. True when ours changed. */
  learn(v: unknown): boolean {
    if (v === undefined || v === null) return false;
    let s: SealWire;
    try {
      if (!Array.isArray(v) || v.length !== 2) throw new EdgeplaneError("BAD_ENVELOPE", "bad seal");
      s = [validateAuthority(v[0]), num(v[1], "seal time")];
    } catch {
      this.core.counters.malformedDropped++;
      return false;
    }
    return this.#merge(s);
  }

  #merge(s: SealWire): boolean {
    const cur = this.#seal;
    if (cur && !earlier(s, cur)) return false;
    this.#seal = s;
    return true;
  }

  /**
   * Owner side, right before a publish of `id` would be sequenced in the room `token`: the refusal when the backplane
   * is sealed, undefined to go on (not sealed, or the id was sequenced already: it keeps its seq).
   */
  refuse(token: string, id: string): { fail: EdgeplaneError } | undefined {
    const s = this.#seal;
    if (s === undefined || this.core.ids.get(token, id)) return undefined;
    return { fail: sealedError(s[0]) };
  }

  /** Hand sequencing of the whole backplane to `authority` (see the module comment). Resolves with the seal in force. */
  async seal(authority: unknown): Promise<string> {
    const c = this.core;
    const by = validateAuthority(authority);
    if (c.closing) throw new EdgeplaneError("CLOSED", "exchange is closed");
    const deadline = c.now() + c.sendTimeout;
    await this.#whenReady(deadline, "seal");
    if (!this.#seal) this.#merge([by, c.now()]);
    for (;;) {
      const mine = this.#seal!;
      let agreed = true;
      const silent = await this.#askAll(c.subjects.seal, { n: c.nodeId, s: mine }, deadline, (_node, b) => {
        const s = b.s;
        this.learn(s);
        if (!Array.isArray(s) || s[0] !== mine[0] || s[1] !== mine[1]) agreed = false;
        return true;
      });
      if (silent.length > 0) {
        throw new EdgeplaneError(
          "TIMEOUT",
          `seal: ${silent.length} live node(s) did not acknowledge within ${c.sendTimeout} ms (the seal holds where it arrived and keeps spreading; retry to confirm it)`,
          { pending: silent.slice(0, 20), maybeSealed: true },
        );
      }
      const now = this.#seal!;
      if (agreed && now === mine) return now[0];
      if (c.now() >= deadline) {
        throw new EdgeplaneError("TIMEOUT", `seal: the live nodes did not agree on one seal within ${c.sendTimeout} ms`, { maybeSealed: true });
      }
    }
  }

  /** Every room a live node knows by name, with its position (see the module comment). */
  async positions(): Promise<NamedPosition[]> {
    const c = this.core;
    if (c.closing) throw new EdgeplaneError("CLOSED", "exchange is closed");
    const deadline = c.now() + c.sendTimeout;
    await this.#whenReady(deadline, "positions");
    const all = new Map<string, NamedPosition>();
    const add = (room: string, seq: number, term: number, ts: number) => {
      const p = all.get(room);
      if (!p) all.set(room, { room, seq, epoch: term, timestamp: ts });
      else {
        if (seq > p.seq) p.seq = seq;
        if (term > p.epoch) p.epoch = term;
        if (ts > p.timestamp) p.timestamp = ts;
      }
    };
    for (const e of this.#local()) add(...e);
    const silent = await this.#askAll(c.subjects.positions, { n: c.nodeId }, deadline, (_node, b) => {
      const p = b.p;
      if (!Array.isArray(p)) throw new EdgeplaneError("BAD_ENVELOPE", "bad positions answer");
      for (const e of p) {
        if (!Array.isArray(e) || e.length !== 4) throw new EdgeplaneError("BAD_ENVELOPE", "bad position");
        add(validateRoom(e[0]), num(e[1], "seq"), num(e[2], "term"), num(e[3], "ts"));
      }
      return b.m !== 1;
    });
    if (silent.length > 0) {
      throw new EdgeplaneError("TIMEOUT", `positions: ${silent.length} live node(s) did not answer within ${c.sendTimeout} ms`, {
        pending: silent.slice(0, 20),
      });
    }
    return [...all.values()].filter((p) => p.seq > 0);
  }

  /** Another node seals: adopt (merge) its seal and answer with the one in force here. */
  onSealRequest(msg: NatsMsgLike): void {
    const c = this.core;
    const b = parseJson(msg.data, 64 * 1024);
    const from = validateId(b.n, "node");
    if (from === c.nodeId || !msg.reply) return;
    this.learn(b.s);
    c.reply(msg.reply, { n: c.nodeId, s: this.#seal ?? null });
  }

  /** Another node lists positions: answer with every room this node knows by name, in pages that fit max_payload. */
  onPositionsRequest(msg: NatsMsgLike): void {
    const c = this.core;
    const b = parseJson(msg.data, 64 * 1024);
    const from = validateId(b.n, "node");
    if (from === c.nodeId || !msg.reply) return;
    const max = Math.max(1024, c.serverMax() - 1024);
    let page: Entry[] = [];
    let size = 64;
    for (const e of this.#local()) {
      const bytes = utf8Length(JSON.stringify(e)) + 1;
      if (page.length > 0 && size + bytes > max) {
        c.reply(msg.reply, { n: c.nodeId, p: page, m: 1 });
        page = [];
        size = 64;
      }
      page.push(e);
      size += bytes;
    }
    c.reply(msg.reply, { n: c.nodeId, p: page });
  }

  /** Rooms this node knows by name (owned now or before, subscribed), raised by the positions it heard of. */
  *#local(): Iterable<Entry> {
    const c = this.core;
    const raise = (token: string, e: Entry): Entry => {
      const k = c.known.get(token);
      if (k) {
        if (k.seq > e[1]) e[1] = k.seq;
        if (k.term > e[2]) e[2] = k.term;
        if (k.ts > e[3]) e[3] = k.ts;
      }
      return e;
    };
    for (const r of c.owner.owned.values()) {
      const e = raise(r.key.token, [r.room, r.seq, r.term, r.lastTs]);
      if (e[1] > 0) yield e;
    }
    for (const [token, set] of c.subsByToken) {
      for (const rs of set) {
        const e = raise(token, [rs.room, rs.lastSeq, rs.term, rs.lastTs]);
        if (e[1] > 0) yield e;
      }
    }
  }

  /** Resolves once this node is ready (connected, settled), or throws BACKPLANE_UNAVAILABLE at `deadline`. */
  async #whenReady(deadline: number, what: string): Promise<void> {
    const c = this.core;
    if (c.liveness.isReady()) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      c.liveness.ready(),
      new Promise<void>((resolve) => timer = setTimeout(resolve, Math.max(0, deadline - c.now()))),
    ]);
    clearTimeout(timer);
    if (!c.liveness.isReady()) {
      throw new EdgeplaneError("BACKPLANE_UNAVAILABLE", `${what}: this node is not connected to NATS and settled (not ready) within ${c.sendTimeout} ms`);
    }
  }

  /**
   * Send `body` on `subject` with a reply inbox to every node, again every few hundred ms while some live member has
   * not answered in full, and hand each answer to `onAnswer` (true: that node is done; a throw counts it malformed).
   * Resolves with the live members still silent at `deadline` (empty: every live member answered).
   */
  async #askAll(
    subject: string,
    body: Record<string, unknown>,
    deadline: number,
    onAnswer: (node: string, b: Record<string, unknown>) => boolean,
  ): Promise<string[]> {
    const c = this.core, m = c.membership;
    const expect = new Set(m.others());
    if (expect.size === 0) return [];
    const resendMs = Math.max(50, Math.min(250, c.sendTimeout / 4));
    const inbox = `${c.subjects.inbox(c.nodeId)}.${randomId()}`;
    let wake = () => {};
    const sub = c.nc.subscribe(inbox, {
      callback: (err: unknown, msg: NatsMsgLike) => {
        if (err) return;
        try {
          const b = parseJson(msg.data);
          const node = validateId(b.n, "node");
          if (onAnswer(node, b) && expect.delete(node) && expect.size === 0) wake();
        } catch {
          c.counters.malformedDropped++;
        }
      },
    });
    try {
      const payload = jsonBytes(body);
      let nextSend = 0;
      for (;;) {
        for (const id of expect) if (!m.isLive(id)) expect.delete(id);
        if (expect.size === 0) return [];
        const now = c.now();
        if (now >= deadline || c.closed) return [...expect];
        if (now >= nextSend) {
          nextSend = now + resendMs;
          if (c.connected) {
            try {
              c.nc.publish(subject, payload, { reply: inbox });
            } catch { /* disconnected: sent again on the next round */ }
          }
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.max(1, Math.min(deadline, nextSend) - now));
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
    } finally {
      try {
        sub.unsubscribe();
      } catch { /* closed */ }
    }
  }
}
