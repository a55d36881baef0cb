/**
 * The public types of the Hub's API: its settings, what it says about a connection, a join, its metrics and a
 * drain. `src/hub.ts` re-exports them.
 *
 * @module
 */
import type { Exchange, ExchangeStatus } from "./exchange/exchange.ts";
import type { FanoutOptions } from "./local/fanout.ts";
import type { QueueOptions, SendOutcome } from "./local/queue.ts";
import type { Frame } from "./protocol.ts";
import type { ClusterOptions, ClusterStatus } from "./cluster/cluster.ts";
import type { ConnectionLimits, RefusalCounts } from "./limits.ts";

/**
 * What a connection may be asked to do; `authorize` decides.
 *
 * @example
 * ```ts
 * const hub = new Hub({
 *   authorize: (conn, room, action: HubAction) => action === "join" || !room.startsWith("announcements:"),
 * });
 * ```
 */
export type HubAction = "join" | "publish";

/**
 * Hub settings.
 *
 * @example
 * ```ts
 * const opts: HubOptions = {
 *   exchange: new MemoryExchange(),
 *   queue: { budgetBytes: 512 * 1024 },
 *   authorize: (conn, room) => !room.startsWith("private:"),
 * };
 * const hub = new Hub(opts);
 * ```
 */
export interface HubOptions {
  /** The backplane. Default: a private {@link MemoryExchange} (single process). */
  exchange?: Exchange;
  /** Queue budget and slow-consumer settings for every connection. */
  queue?: QueueOptions;
  /** Fanout chunking and logging. */
  fanout?: FanoutOptions;
  /** Allow or deny a connection's join/publish. Default: allow all. */
  authorize?: (conn: HubConnection, room: string, action: HubAction) => boolean | Promise<boolean>;
  /** Ids remembered per room to drop duplicates (default 4096). */
  dedupeWindow?: number;
  /** Log sink for operational lines (default `console.info`). */
  log?: (line: string) => void;
  /**
   * Cluster features across nodes sharing the exchange: presence, `sendTo` and `ask` to other nodes, node
   * liveness. Enable on every node (`true` or settings). Default off (single node: everything is local).
   */
  cluster?: boolean | ClusterOptions;
  /** Answers `ask` requests addressed to this node or to one of its connections. */
  onAsk?: (data: unknown, ctx: { from: string; connection?: HubConnection }) => unknown | Promise<unknown>;
  /** Presence frames to clients: full member lists up to `listMax` (default 100), counts above; at most one per room per `intervalMs` (default 250). */
  presence?: { listMax?: number; intervalMs?: number };
  /** Per-node and per-connection limits (connections, rooms, publish rate, presence meta size); see {@link ConnectionLimits}. */
  limits?: ConnectionLimits;
  /**
   * The presence `meta` a client join is stored with, from what the client sent and the connection (its
   * `identity`): e.g. `(conn, _room, meta) => ({ ...meta, name: (conn.identity as User).name })`, so a client cannot
   * claim another user's name. Default: the client's meta as sent.
   */
  presenceMeta?: (conn: HubConnection, room: string, meta: Record<string, unknown> | undefined) => unknown;
}

/**
 * One client connection as the hub sees it (any transport).
 *
 * @example
 * ```ts
 * const conn: HubConnection = hub.connect(sink, { data: request });
 * await hub.join(conn.id, "lobby");
 * console.log(conn.rooms.has("lobby"), conn.lastSeq("lobby"));
 * ```
 */
export interface HubConnection {
  /** Connection id, unique in the fleet; it names this node (see {@link nodeOfConnection}). */
  readonly id: string;
  /** Offer a frame; see {@link SendOutcome}. */
  send(frame: Frame): SendOutcome;
  /** Close with a code and reason (also removes the connection from the hub). */
  close(code?: number, reason?: string): void;
  /** Bytes queued plus bytes the transport still buffers. */
  readonly bufferedBytes: number;
  /** Last seq this connection has for a room. */
  lastSeq(room: string): number | undefined;
  /** Rooms the connection is in. */
  readonly rooms: ReadonlySet<string>;
  /** Adapter data (e.g. the upgrade Request) for `authorize`. */
  data: unknown;
  /** What the routes' `authenticate` hook returned for this connection (undefined without one). */
  readonly identity: unknown;
}

/**
 * Where a join left the connection: the room's current position.
 *
 * @example
 * ```ts
 * const r: JoinResult = await hub.join(conn.id, "lobby", { lastSeq: 40 });
 * console.log(`replayed ${r.replayed}, now at seq ${r.seq}`, r.discontinuity ? "(resync needed)" : "");
 * ```
 */
export interface JoinResult {
  /** The room's latest seq when the connection joined (after any replay). */
  seq: number;
  /** The room's epoch at that point. */
  epoch: number;
  /** Messages replayed from history for a resume. */
  replayed: number;
  /** True when the resume could not be served from history (a `discontinuity` frame was sent). */
  discontinuity: boolean;
}

/**
 * Snapshot of hub counters (the `/metrics` route serves it as JSON or Prometheus text).
 *
 * @example
 * ```ts
 * const m: HubMetrics = hub.metrics();
 * console.log(m.connections, m.outcomes.dropped, m.exchange.state);
 * ```
 */
export interface HubMetrics {
  /** This node's id (the exchange's). */
  nodeId: string;
  /** Open connections. */
  connections: number;
  /** Rooms with at least one local member. */
  rooms: number;
  /** Rooms this hub holds an exchange subscription for (members or server-side listeners). */
  subscribedRooms: number;
  /** Bytes queued over every connection, transport buffers included. */
  queuedBytes: number;
  /** Frames offered to connections, by outcome. */
  outcomes: Record<SendOutcome, number>;
  /** Messages delivered by the exchange and fanned out (after dedupe). */
  messages: number;
  /** Message frames serialized (one per message, shared by every member). */
  framesSerialized: number;
  /** Messages dropped because their id or seq was already delivered. */
  duplicatesDropped: number;
  /** `discontinuity` frames sent (history could not cover a gap or a resume). */
  discontinuities: number;
  /** Connections closed as slow consumers (over budget for `slowConsumerMs`). */
  slowConsumerCloses: number;
  /** Client frames answered with a `BAD_FRAME` or `BAD_ROOM` error. */
  badFrames: number;
  /** Server-side listeners (`hub.subscribe`) that threw. */
  listenerErrors: number;
  /** Requests, connections, joins and publishes refused by origin, authentication and limits, by reason. */
  refused: RefusalCounts;
  /** True once `drain()` started. */
  draining: boolean;
  /** The exchange's own status and counters. */
  exchange: ExchangeStatus;
  /** Present when cluster features are on. */
  cluster?: ClusterStatus;
}

/**
 * What `drain()` did.
 *
 * @example
 * ```ts
 * const r: DrainResult = await hub.drain();
 * console.log(`moved ${r.connections} connections in ${r.ms} ms, ${r.unflushedBytes} bytes unflushed`);
 * ```
 */
export interface DrainResult {
  /** Connections told to reconnect elsewhere. */
  connections: number;
  /** Bytes still queued when their connections were closed (0 when every queue flushed). */
  unflushedBytes: number;
  /** How long the drain took, in milliseconds. */
  ms: number;
}
