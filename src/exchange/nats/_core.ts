// Private: what every role of a NATS exchange node shares: the connection, subjects and options, counters, the member
// view and owner lease, positions and idempotency ids this node knows, its room subscriptions, its connection state,
// and the waits a role blocks on (membership change, reconnect, lease). The roles themselves (owner, router, history,
// liveness, subscriptions) are wired to each other through it (see nats-exchange.ts).
import { DEFAULT_LIMITS } from "../../envelope.ts";
import { PublishGates } from "../_publish-gate.ts";
import type { HistoryLimits } from "../_history.ts";
import { type HeadersFactory, jsonBytes } from "./_codec.ts";
import type { Membership } from "./_membership.ts";
import type { OwnerLease } from "./_lease.ts";
import { IdCache, KnownPositions } from "./_sequencer.ts";
import type { RoomSubscription } from "./_subscriber.ts";
import type { Subjects } from "./_subjects.ts";
import type { NatsConnectionLike } from "./_types.ts";
import type { OwnerRole } from "./_owner.ts";
import type { Router } from "./_router.ts";
import type { HistoryService } from "./_history-service.ts";
import type { Liveness } from "./_liveness.ts";
import type { BackplaneSeal } from "./_seal.ts";

/** Header room reserved below the server's `max_payload` for the envelope headers. */
export const HEADER_ROOM = 2048;

export const COUNTER_NAMES = [
  "published",
  "sequenced",
  "delivered",
  "duplicatesDropped",
  "gapsRepaired",
  "discontinuities",
  "epochChanges",
  "epochConflicts",
  "stepDowns",
  "requestTimeouts",
  "noResponders",
  "redirects",
  "retries",
  "rejected",
  "malformedDropped",
  "staleDropped",
  "subscriberErrors",
  "heartbeatsSent",
  "heartbeatsReceived",
  "membersDied",
  "historyServed",
  "gathers",
  "relayed",
  "relayDuplicates",
  "relayConflicts",
  "relayHolesSkipped",
  "seeded",
  "leaseLapses",
  "leaseWaits",
  "batchesSent",
  "batchedPublishes",
  "acksWithheld",
  "admissionWaits",
  "inflightHighWater",
] as const;

export type Counters = Record<(typeof COUNTER_NAMES)[number], number>;

/** A room position as answered by its owner. */
export type Position = { seq: number; term: number; owner: string; ts: number };

export type WaitKind = "change" | "conn" | "lease";
interface Waiter {
  resolve: () => void;
}

/** Settings a node runs with (validated by the exchange's constructor). */
export interface CoreSettings {
  nodeId: string;
  subjects: Subjects;
  sendTimeout: number;
  hbMs: number;
  settleMs: number;
  gatherTimeout: number;
  limits: HistoryLimits;
  maxPayloadOpt: number | undefined;
  headers: HeadersFactory;
  now: () => number;
  idCacheSize: number;
  faults?: { dropIncoming?: (room: string, seq: number) => boolean };
}

/** Shared state of one node. */
export class Core {
  readonly nodeId: string;
  readonly subjects: Subjects;
  readonly sendTimeout: number;
  readonly hbMs: number;
  readonly settleMs: number;
  readonly gatherTimeout: number;
  readonly limits: HistoryLimits;
  readonly headers: HeadersFactory;
  readonly now: () => number;
  readonly faults: CoreSettings["faults"];
  readonly maxPayloadOpt: number | undefined;
  readonly counters = Object.fromEntries(COUNTER_NAMES.map((n) => [n, 0])) as Counters;
  readonly known = new KnownPositions();
  readonly ids: IdCache;
  /** This node's room subscriptions by room token. */
  readonly subsByToken = new Map<string, Set<RoomSubscription>>();
  /**
   * Rooms (by token) with subscriptions of this node still reading their start position. This node's publishes to
   * such a room wait for them (in call order), so a subscription covers every publish that starts after `subscribe()`
   * returned on the same node.
   */
  readonly gates = new PublishGates();
  /** Requests this node started and close() waits for. */
  readonly inflight = new Set<Promise<unknown>>();
  connected = true;
  closing = false;
  closed = false;
  /** Highest epoch term this node has produced or seen. */
  epoch = 0;
  #serverMaxCache: number | undefined;
  readonly #waiters: Record<WaitKind, Waiter[]> = { change: [], conn: [], lease: [] };

  // The roles, wired by the exchange's constructor.
  membership!: Membership;
  lease!: OwnerLease;
  owner!: OwnerRole;
  router!: Router;
  history!: HistoryService;
  liveness!: Liveness;
  seal!: BackplaneSeal;

  constructor(readonly nc: NatsConnectionLike, s: CoreSettings) {
    this.nodeId = s.nodeId;
    this.subjects = s.subjects;
    this.sendTimeout = s.sendTimeout;
    this.hbMs = s.hbMs;
    this.settleMs = s.settleMs;
    this.gatherTimeout = s.gatherTimeout;
    this.limits = s.limits;
    this.headers = s.headers;
    this.now = s.now;
    this.faults = s.faults;
    this.maxPayloadOpt = s.maxPayloadOpt;
    this.ids = new IdCache(s.idCacheSize);
  }

  /** The server's max_payload, re-read on every heartbeat tick and reconnect (nats.js computes `info` on access). */
  serverMax(): number {
    return this.#serverMaxCache ??= this.nc.info?.max_payload ?? DEFAULT_LIMITS.maxPayloadBytes;
  }

  /** Forget the cached max_payload (read again on next use). */
  refreshServerMax(): void {
    this.#serverMaxCache = undefined;
  }

  /** Largest payload accepted: the server's `max_payload` minus room for headers (and the configured cap). */
  get maxPayloadBytes(): number {
    return Math.max(0, Math.min(this.maxPayloadOpt ?? Infinity, this.serverMax() - HEADER_ROOM));
  }

  /** Raise the highest epoch seen. */
  sawEpoch(term: number): void {
    if (term > this.epoch) this.epoch = term;
  }

  /** Keep `p` in the set close() waits for until it settles. */
  track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    const done = () => this.inflight.delete(p);
    p.then(done, done);
    return p;
  }

  /** Answer a request (JSON body unless bytes). Errors are dropped: the requester times out and retries. */
  reply(subject: string, body: unknown, headers?: unknown): void {
    try {
      this.nc.publish(subject, body instanceof Uint8Array ? body : jsonBytes(body), headers ? { headers } : undefined);
    } catch { /* requester times out and retries */ }
  }

  /** Wait until `wake(kind)` or `ms` passed. */
  wait(kind: WaitKind, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const w: Waiter = { resolve: () => {} };
      const t = setTimeout(() => w.resolve(), Math.max(0, ms));
      w.resolve = () => {
        clearTimeout(t);
        resolve();
      };
      this.#waiters[kind].push(w);
    });
  }

  wake(kind: WaitKind): void {
    const list = this.#waiters[kind];
    this.#waiters[kind] = [];
    for (const w of list) w.resolve();
  }
}
