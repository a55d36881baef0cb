/**
 * Per-node and per-connection abuse limits of a hub: connections per node and per identity, rooms per connection,
 * a publish-rate token bucket per connection, presence `meta` size. Every refusal is counted (`hub.metrics().refused`).
 *
 * @module
 */
import { EdgeplaneError } from "./errors.ts";
import { MAX_PRESENCE_META_BYTES } from "./protocol.ts";

/**
 * A token bucket for client publishes: `perSecond` tokens refill continuously up to `burst`; a publish takes one.
 *
 * @example
 * ```ts
 * const rate: PublishRate = { perSecond: 50, burst: 100, closeAfter: 200 };
 * ```
 */
export interface PublishRate {
  /** Sustained publishes per second per connection. */
  perSecond: number;
  /** Publishes a connection may make at once after being quiet (default `perSecond`, at least 1). */
  burst?: number;
  /**
   * Refused publishes in a row after which the connection is closed with code 4029 (default 100). A client that
   * slows down once refused keeps its connection.
   */
  closeAfter?: number;
}

/**
 * Limits of {@link HubOptions.limits}. Defaults: unlimited connections, 100 rooms per connection, presence `meta` up
 * to {@link MAX_PRESENCE_META_BYTES} bytes, no publish rate limit.
 *
 * @example
 * ```ts
 * const limits: ConnectionLimits = {
 *   maxConnections: 50_000,
 *   maxConnectionsPerIdentity: 8,
 *   maxRoomsPerConnection: 50,
 *   publishRate: { perSecond: 20, burst: 40 },
 *   maxPresenceMetaBytes: 512,
 * };
 * const hub = new Hub({ limits });
 * ```
 */
export interface ConnectionLimits {
  /** Open connections on this node; more are refused with `LIMIT_CONNECTIONS` (HTTP 503). Default unlimited. */
  maxConnections?: number;
  /**
   * Open connections (ws, SSE and poll sessions together) of one identity, keyed by {@link identityKey}; more are
   * refused with `LIMIT_SESSIONS` (HTTP 429). Connections without an identity key are not counted. Default unlimited.
   */
  maxConnectionsPerIdentity?: number;
  /** Rooms one connection may be in (joins in flight included); more are refused with `LIMIT_ROOMS`. Default 100. */
  maxRoomsPerConnection?: number;
  /** Client publishes per connection; over it a publish is refused with `RATE_LIMITED`. Default: no limit. */
  publishRate?: PublishRate | false;
  /** UTF-8 bytes of a join's presence `meta` (as JSON); larger is refused with `PAYLOAD_TOO_LARGE`. Default 1024. */
  maxPresenceMetaBytes?: number;
}

/**
 * Refusals counted by a hub, by reason (`hub.metrics().refused`).
 *
 * @example
 * ```ts
 * const r: RefusalCounts = hub.metrics().refused;
 * if (r.rate > 0) console.warn(`${r.rate} publishes rate-limited, ${r.rateCloses} connections closed for it`);
 * ```
 */
export interface RefusalCounts {
  /** Requests from an origin not allowed (`FORBIDDEN_ORIGIN`, 403). */
  origin: number;
  /** Requests the `authenticate` hook refused (`UNAUTHENTICATED`, 401). */
  unauthenticated: number;
  /** Connections refused because the node was full (`LIMIT_CONNECTIONS`, 503). */
  connections: number;
  /** Connections refused because their identity had too many (`LIMIT_SESSIONS`, 429). */
  identity: number;
  /** Joins refused over `maxRoomsPerConnection` (`LIMIT_ROOMS`). */
  rooms: number;
  /** Publishes refused by the rate limit (`RATE_LIMITED`). */
  rate: number;
  /** Connections closed (4029) for publishing on while rate-limited. */
  rateCloses: number;
  /** Joins refused for an oversized presence `meta` (`PAYLOAD_TOO_LARGE`). */
  meta: number;
}

/**
 * Reasons a request can be refused before a connection exists, for adapters that check requests themselves
 * (`hub.countRefusal`).
 *
 * @example
 * ```ts
 * const why: RequestRefusal = "origin";
 * hub.countRefusal(why);
 * ```
 */
export type RequestRefusal = "origin" | "unauthenticated";

/**
 * The key an identity is counted under for `maxConnectionsPerIdentity`: a string identity itself, else the
 * identity's `id` (string or number); `undefined` (not counted) otherwise.
 *
 * @example
 * ```ts
 * identityKey("ada");             // "ada"
 * identityKey({ id: 7, name: "" }); // "7"
 * identityKey(true);              // undefined
 * ```
 */
export function identityKey(identity: unknown): string | undefined {
  if (typeof identity === "string") return identity;
  if (identity !== null && typeof identity === "object") {
    const id = (identity as { id?: unknown }).id;
    if (typeof id === "string") return id;
    if (typeof id === "number" && Number.isFinite(id)) return String(id);
  }
  return undefined;
}

/** The per-connection state of the publish token bucket: plain numbers on the connection (no object per publish). */
export interface Bucket {
  tokens: number;
  refilledAt: number;
  strikes: number;
}

/** Private to the hub: validated limits, refusal counters, connections per identity. */
export class Limiter {
  readonly maxConnections: number;
  readonly maxPerIdentity: number;
  readonly maxRooms: number;
  readonly maxMetaBytes: number;
  /** Tokens per millisecond; 0 when publishes are not rate-limited. */
  readonly perMs: number;
  readonly burst: number;
  readonly closeAfter: number;
  readonly counts: RefusalCounts = { origin: 0, unauthenticated: 0, connections: 0, identity: 0, rooms: 0, rate: 0, rateCloses: 0, meta: 0 };
  readonly #perIdentity = new Map<string, number>();

  constructor(l: ConnectionLimits = {}) {
    this.maxConnections = positive("maxConnections", l.maxConnections, Infinity);
    this.maxPerIdentity = positive("maxConnectionsPerIdentity", l.maxConnectionsPerIdentity, Infinity);
    this.maxRooms = positive("maxRoomsPerConnection", l.maxRoomsPerConnection, 100);
    this.maxMetaBytes = positive("maxPresenceMetaBytes", l.maxPresenceMetaBytes, MAX_PRESENCE_META_BYTES);
    const rate = l.publishRate;
    if (rate) {
      const perSecond = positive("publishRate.perSecond", rate.perSecond, NaN);
      this.perMs = perSecond / 1000;
      this.burst = Math.max(1, positive("publishRate.burst", rate.burst, perSecond));
      this.closeAfter = positive("publishRate.closeAfter", rate.closeAfter, 100);
    } else {
      this.perMs = 0;
      this.burst = 0;
      this.closeAfter = Infinity;
    }
  }

  /** Identities with at least one open connection. */
  get identities(): number {
    return this.#perIdentity.size;
  }

  /** Why a new connection (of identity `key`) would be refused now, or undefined; a refusal is counted. */
  refusal(connections: number, key: string | undefined): EdgeplaneError | undefined {
    if (connections >= this.maxConnections) {
      this.counts.connections++;
      return new EdgeplaneError("LIMIT_CONNECTIONS", `this node is at its limit of ${this.maxConnections} connections`, { limit: this.maxConnections });
    }
    if (key !== undefined && (this.#perIdentity.get(key) ?? 0) >= this.maxPerIdentity) {
      this.counts.identity++;
      return new EdgeplaneError("LIMIT_SESSIONS", `this identity has ${this.maxPerIdentity} open connections already`, { limit: this.maxPerIdentity });
    }
    return undefined;
  }

  hold(key: string | undefined): void {
    if (key !== undefined && this.maxPerIdentity !== Infinity) this.#perIdentity.set(key, (this.#perIdentity.get(key) ?? 0) + 1);
  }

  release(key: string | undefined): void {
    if (key === undefined || this.maxPerIdentity === Infinity) return;
    const n = (this.#perIdentity.get(key) ?? 1) - 1;
    if (n <= 0) this.#perIdentity.delete(key);
    else this.#perIdentity.set(key, n);
  }

  /** Take a publish token from `b` at time `now`: true when allowed. A refusal is counted and adds a strike. */
  take(b: Bucket, now: number): boolean {
    let t = b.tokens + (now - b.refilledAt) * this.perMs;
    if (t > this.burst) t = this.burst;
    b.refilledAt = now;
    if (t >= 1) {
      b.tokens = t - 1;
      b.strikes = 0;
      return true;
    }
    b.tokens = t;
    b.strikes++;
    this.counts.rate++;
    return false;
  }
}

function positive(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined && !Number.isNaN(dflt)) return dflt;
  if (typeof v !== "number" || !(v > 0)) throw new EdgeplaneError("BAD_OPTION", `limits.${name} must be a positive number`);
  return v;
}
