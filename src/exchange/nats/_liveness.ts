// Private: membership, heartbeats and the connection (docs/design.md §4 "Membership"). Every node heartbeats on `<prefix>.hb`
// (with announcements of the rooms it owns that moved); its own echoed beat renews its owner lease; other nodes'
// beats keep them in the member view, which the periodic tick sweeps. A stalled event loop restarts every member's
// clock instead of declaring live nodes dead. The connection's status events switch the node between connected and
// degraded, and on reconnect every subscription resyncs. Beats carry the backplane's seal, if any (_seal.ts).
import { EdgeplaneError } from "../../errors.ts";
import { validateId } from "../../envelope.ts";
import { jsonBytes, num, parseJson } from "./_codec.ts";
import type { Core } from "./_core.ts";
import { isToken } from "./_subjects.ts";
import type { NatsMsgLike } from "./_types.ts";

/** Heartbeats, member sweeps, connection state and readiness of one node. */
export class Liveness {
  readonly #startedAt: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastTick: number | undefined;
  #readyWaiters: Array<() => void> = [];

  constructor(readonly core: Core) {
    this.#startedAt = core.now();
  }

  /** Start the heartbeat timer and watch the connection. */
  start(): void {
    this.#watchStatus();
    this.tick();
    this.#timer = setInterval(() => this.tick(), this.core.hbMs);
    (this.#timer as unknown as { unref?: () => void }).unref?.();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
  }

  isReady(): boolean {
    const c = this.core;
    return c.connected && c.membership.selfEligible && !c.closing;
  }

  /** Resolves once ready (see isReady). */
  ready(): Promise<void> {
    if (this.isReady()) return Promise.resolve();
    return new Promise((resolve) => this.#readyWaiters.push(resolve));
  }

  #checkReady(): void {
    if (!this.isReady()) return;
    const w = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const x of w) x();
  }

  #watchStatus(): void {
    const c = this.core;
    const status = c.nc.status?.bind(c.nc);
    if (!status) return;
    void (async () => {
      try {
        for await (const s of status()) {
          if (c.closed) break;
          const type = String(s.type);
          if (type === "disconnect") this.#setConnected(false);
          else if (type === "reconnect") this.#setConnected(true);
        }
      } catch { /* the connection closed */ }
      if (!c.closed) this.#setConnected(false);
    })();
  }

  #setConnected(v: boolean): void {
    const c = this.core;
    if (v === c.connected) return;
    c.connected = v;
    c.membership.freeze(!v);
    if (v) {
      c.wake("conn");
      this.tick();
      for (const set of c.subsByToken.values()) for (const rs of set) void rs.resync();
      this.#checkReady();
    }
  }

  tick(): void {
    const c = this.core;
    if (c.closed) return;
    if (c.nc.isClosed()) this.#setConnected(false);
    c.refreshServerMax();
    const now = c.now();
    const late = this.#lastTick !== undefined && now - this.#lastTick > 2 * c.hbMs;
    this.#lastTick = now;
    if (late) {
      // Our own event loop stalled: the silence we measured is ours, and their beats are still queued on our socket.
      // Restart every member's clock instead of declaring live nodes dead (that would split ownership for nothing).
      c.membership.freeze(true);
      c.membership.freeze(!c.connected);
    } else {
      for (const _dead of c.membership.sweep()) c.counters.membersDied++;
    }
    if (!c.closing && c.now() - this.#startedAt >= c.settleMs) c.membership.setSelfEligible(true);
    c.owner.leaseOk(); // a lapse steps our rooms down now, not at the next publish
    this.sendHeartbeat(false);
    this.#checkReady();
  }

  sendHeartbeat(bye: boolean): void {
    const c = this.core;
    if (!c.connected) return;
    const maxEntries = Math.max(10, Math.floor((c.serverMax() - 1024) / 80));
    const a: Array<[string, number, number, number]> = [];
    for (const r of c.owner.owned.values()) {
      if (!r.dirty) continue;
      if (a.length >= maxEntries) break;
      r.dirty = false;
      a.push([r.key.token, r.seq, r.term, r.lastTs]);
    }
    const body: Record<string, unknown> = { n: c.nodeId, e: c.membership.selfEligible ? 1 : 0, k: c.lease.stamp() };
    if (a.length) body.a = a;
    const seal = c.seal.wire();
    if (seal) body.s = seal; // so that nodes joining later, or cut off while it spread, learn the seal
    if (bye) body.bye = 1;
    try {
      c.nc.publish(c.subjects.hb, jsonBytes(body));
      c.counters.heartbeatsSent++;
    } catch { /* disconnected: the next beat tries again */ }
  }

  onHeartbeat(msg: NatsMsgLike): void {
    const c = this.core;
    const b = parseJson(msg.data);
    const n = validateId(b.n, "node");
    const self = n === c.nodeId;
    if (!self) {
      c.counters.heartbeatsReceived++;
      if (b.s !== undefined) c.seal.learn(b.s);
    }
    const entries = b.a;
    if (entries !== undefined) {
      if (!Array.isArray(entries) || entries.length > 100_000) throw new EdgeplaneError("BAD_ENVELOPE", "bad announcements");
      for (const e of entries) {
        if (!Array.isArray(e) || !isToken(e[0])) {
          c.counters.malformedDropped++;
          continue;
        }
        const seq = num(e[1], "seq"), term = num(e[2], "term"), ts = num(e[3], "ts");
        const epoch = { term, owner: n };
        if (self) {
          // Our own beat, echoed by the server after every message we published before it: our own subscribers
          // check for a lost tail just like remote ones.
          for (const rs of c.subsByToken.get(e[0]) ?? []) rs.onAnnounce(seq, epoch);
          continue;
        }
        c.known.record(e[0], seq, epoch, ts);
        c.owner.onHigherOwner(e[0], term, n);
        const subs = c.subsByToken.get(e[0]);
        if (subs) for (const rs of subs) rs.onAnnounce(seq, epoch);
      }
    }
    if (self) {
      // Everything the server sent us before this beat is processed now: the lease runs from when the beat left.
      if (c.lease.echoed(b.k)) {
        // Valid again after a gap (or for the first time): whatever this node owned from before the gap steps down,
        // even if no check noticed the lapse while it lasted; those rooms are gathered again before they sequence.
        c.owner.stepDownAll();
        c.wake("lease");
      }
      return;
    }
    if (b.bye === 1) {
      c.membership.remove(n);
      return;
    }
    c.membership.heard(n, b.e === 1);
  }
}
