/**
 * The Hub: the single entry for publish / subscribe / join / leave and the connection lifecycle on one node.
 * Messages always take the exchange path (publish → exchange assigns seq → every node, this one included, fans out),
 * so local and remote subscribers see the same order. Per room the hub runs one pump that handles messages and joins
 * strictly in order: dedupe by id and seq, resume (history replay or a `discontinuity` frame), then chunked fanout.
 *
 * @module
 */
import { type Payload, validateRoom } from "./envelope.ts";
import { EdgeplaneError } from "./errors.ts";
import type { Exchange, ExchangeEvent, ExchangeStatus, SeqInfo, SequencedMessage, Unsubscribe } from "./exchange/exchange.ts";
import { isGap } from "./exchange/exchange.ts";
import { MemoryExchange } from "./exchange/memory.ts";
import type { FanoutOptions } from "./local/fanout.ts";
import { TASK_COST, TurnScheduler } from "./local/_scheduler.ts";
import { FlushGroup, type FrameSink, OutboundQueue, type QueueOptions, type SendOutcome } from "./local/queue.ts";
import { Registry } from "./local/registry.ts";
import { ackFrame, type ClientFrame, errorFrame, type Frame, frame, messageFrame, parseClientFrame } from "./protocol.ts";
import { fromBase64, randomId } from "./_utf8.ts";
import { Cluster, type ClusterOptions, type ClusterStatus, nodeOfConnection, type PresenceEntry } from "./cluster/cluster.ts";
import { RESERVED_PREFIX } from "./cluster/_wire.ts";
import { RecentMap } from "./_recent-map.ts";
import { askAuthorize } from "./_authorize.ts";
import { type Bucket, type ConnectionLimits, identityKey, Limiter, type RefusalCounts, type RequestRefusal } from "./limits.ts";
import { utf8Length } from "./_utf8.ts";

const NO_QUEUE_OPTIONS: QueueOptions = {};
/** The hub checks presence meta against its own limit (and counts refusals). */
const NO_META_CHECK = { maxMetaBytes: Infinity };

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

/** Messages of a large room fanned out together (each member gets them in one write per turn). */
const MAX_BATCH = 64;

/** An exchange event (discontinuity, …) in the room's order. */
class EventTask {
  constructor(readonly e: ExchangeEvent) {}
}

/** A join in the room's order. */
class JoinTask {
  constructor(
    readonly conn: Conn,
    readonly lastSeq: number | undefined,
    readonly meta: unknown,
    readonly resolve: (r: JoinResult) => void,
    readonly reject: (e: unknown) => void,
  ) {}
}

/** A room's pending work in order: messages as they came (no wrapper object per message), events, joins. */
type Task = SequencedMessage | EventTask | JoinTask;

/** A message's fanout paused at the end of a turn's budget (rooms larger than what is left of it). */
interface FanoutCursor {
  members: Iterator<Conn>;
  /** One message, or several consecutive ones of a large room (in seq order), with their binary flags. */
  frames: Frame[];
  binaries: boolean[];
  /** Members reached so far. */
  reached: number;
  delivered: number;
  dropped: number;
  closed: number;
  turns: number;
  started: number;
}

interface RoomState {
  name: string;
  unsubscribe: Unsubscribe;
  positioned: boolean;
  lastSeq: number;
  epoch: number;
  /** Pending tasks from `head` on (a FIFO without shifting). */
  tasks: Task[];
  head: number;
  /** In the hub's run queue. */
  scheduled: boolean;
  /** A join is waiting for history; later tasks wait behind it. */
  busy: boolean;
  cursor: FanoutCursor | undefined;
  /** Recently delivered ids → the seq they were delivered at (dedupe window). */
  ids: RecentMap<string, number>;
  listeners: Set<(m: SequencedMessage) => void>;
  positionWaiters: Array<() => void>;
}

class Conn implements HubConnection, Bucket {
  readonly queue: OutboundQueue;
  data: unknown = undefined;
  identity: unknown = undefined;
  key: string | undefined = undefined;
  /** Joins sent by the client and not yet answered (counted against the rooms limit). */
  pendingJoins = 0;
  // The publish token bucket (limits.publishRate): numbers, no object per connection or publish.
  tokens = 0;
  refilledAt = 0;
  strikes = 0;
  constructor(readonly id: string, readonly hub: Hub, readonly registry: Registry<Conn>, sink: FrameSink, opts: QueueOptions | undefined, flushes: FlushGroup) {
    this.queue = new OutboundQueue(sink, opts, flushes);
  }
  send(f: Frame, binary?: boolean): SendOutcome {
    return this.queue.send(f, binary);
  }
  close(code = 1000, reason = "closed"): void {
    this.queue.close(code, reason);
  }
  get bufferedBytes(): number {
    return this.queue.bufferedBytes;
  }
  lastSeq(room: string): number | undefined {
    return this.queue.lastSeq(room);
  }
  get rooms(): ReadonlySet<string> {
    return this.registry.roomsOf(this.id);
  }
}

/**
 * A node's hub.
 *
 * @example
 * ```ts
 * import { Hub } from "edgeplane";
 * const hub = new Hub(); // embedded memory exchange
 * const conn = hub.connect({ write: (frames) => frames.forEach((f) => console.log(f.text)), close() {} });
 * await hub.join(conn.id, "lobby");
 * await hub.publish("lobby", "hello"); // conn receives {"t":"msg","room":"lobby","seq":1,...}
 * ```
 */
export class Hub {
  /** The backplane this hub publishes through and subscribes to. */
  readonly exchange: Exchange;
  readonly #registry = new Registry<Conn>();
  readonly #rooms = new Map<string, RoomState>();
  readonly #opts: HubOptions;
  readonly #log: (line: string) => void;
  #closed = false;
  #draining = false;
  /** Cluster features (presence, `sendTo`, `ask`, liveness) when `HubOptions.cluster` is set; else undefined. */
  readonly cluster: Cluster | undefined;
  readonly #presenceTimers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Join `meta` of this node's members (room → conn → meta), for presence without cluster features. */
  readonly #localMeta = new Map<string, Map<string, unknown>>();
  readonly #counters = {
    messages: 0,
    framesSerialized: 0,
    duplicatesDropped: 0,
    discontinuities: 0,
    slowConsumerCloses: 0,
    badFrames: 0,
    listenerErrors: 0,
  };
  readonly #outcomes: Record<SendOutcome, number> = { accepted: 0, dropped: 0, coalesced: 0, closed: 0, stale: 0 };
  readonly #scheduler: TurnScheduler<RoomState>;
  /** This hub's connections flush together; never with another hub's (Durable Objects share a Workers isolate). */
  readonly #flushes = new FlushGroup();
  readonly #mergedQueue = new WeakMap<QueueOptions, QueueOptions>();
  readonly #limits: Limiter;

  /** A hub on `opts.exchange` (default: a private {@link MemoryExchange}). */
  constructor(opts: HubOptions = {}) {
    this.#opts = opts;
    this.#limits = new Limiter(opts.limits);
    this.exchange = opts.exchange ?? new MemoryExchange();
    this.#log = opts.log ?? ((line) => console.info(line));
    this.#scheduler = new TurnScheduler((s, budget) => this.#step(s, budget), opts.fanout?.turnBudget);
    this.#scheduler.onError = (err) => this.#log(`edgeplane hub: room step failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    if (opts.cluster) {
      this.cluster = new Cluster({
        nodeId: this.exchange.nodeId,
        exchange: this.exchange,
        deliverDirect: (connId, data, from) => this.#deliverDirect(connId, data, from),
        answer: (data, ctx) => this.#answer(data, ctx),
        presenceChanged: (room) => this.#schedulePresence(room),
        log: this.#log,
      }, opts.cluster === true ? {} : opts.cluster);
      void this.cluster.start().catch((err) => this.#log(`edgeplane cluster failed to start: ${err}`));
    }
  }

  /** Resolves when the exchange is ready and, with cluster features on, this node has announced itself. */
  async ready(): Promise<void> {
    await this.exchange.ready();
    await this.cluster?.start();
  }

  /** This node's id (the exchange's). */
  get nodeId(): string {
    return this.exchange.nodeId;
  }

  /**
   * Register a connection writing to `sink`; sends a `welcome` frame. `identity` is what authentication said about
   * the client (see {@link HubConnection.identity}). Throws `CLOSED` (closed or draining), `LIMIT_CONNECTIONS` (the
   * node is full) or `LIMIT_SESSIONS` (the identity has `limits.maxConnectionsPerIdentity` already).
   */
  connect(sink: FrameSink, opts: { id?: string; queue?: QueueOptions; data?: unknown; identity?: unknown } = {}): HubConnection {
    const refused = this.admits(opts.identity);
    if (refused) throw refused;
    // `<nodeId>~<random>`: any node can tell where a connection lives (sendTo, ask).
    const conn = new Conn(opts.id ?? `${this.nodeId}~${randomId().slice(0, 20)}`, this, this.#registry, sink, this.#queueOptions(opts.queue), this.#flushes);
    conn.data = opts.data;
    conn.identity = opts.identity;
    conn.key = identityKey(opts.identity);
    conn.tokens = this.#limits.burst;
    conn.refilledAt = Date.now();
    this.#registry.add(conn.id, conn);
    this.#limits.hold(conn.key);
    conn.queue.onClose = (code) => {
      this.#limits.release(conn.key);
      if (code === (this.#opts.queue?.slowConsumerCode ?? 4008)) {
        this.#counters.slowConsumerCloses++;
        this.#log(`edgeplane slow consumer closed conn=${conn.id} rooms=${conn.rooms.size}`);
      }
      this.#drop(conn.id);
    };
    conn.send(frame({ t: "welcome", conn: conn.id, node: this.nodeId }));
    return conn;
  }

  /**
   * Whether a connection (of `identity`) would be accepted now: `undefined`, or the error `connect` would throw
   * (counted as a refusal). Transports ask before a WebSocket upgrade or a session, to answer 503 / 429 instead.
   *
   * @example
   * ```ts
   * const no = hub.admits(identity);
   * if (no) return new Response(no.message, { status: no.code === "LIMIT_SESSIONS" ? 429 : 503 });
   * ```
   */
  admits(identity?: unknown): EdgeplaneError | undefined {
    if (this.#closed) return new EdgeplaneError("CLOSED", "hub is closed");
    if (this.#draining) return new EdgeplaneError("CLOSED", "hub is draining; connect to another node");
    return this.#limits.refusal(this.#registry.connectionCount, identityKey(identity));
  }

  /**
   * Count a request refused before a connection existed (bad origin, failed authentication), for
   * `metrics().refused`. The routes do this; call it when you check requests yourself.
   *
   * @example
   * ```ts
   * if (!(await verify(request))) {
   *   hub.countRefusal("unauthenticated");
   *   return new Response(null, { status: 401 });
   * }
   * ```
   */
  countRefusal(reason: RequestRefusal): void {
    this.#limits.counts[reason]++;
  }

  /** The hub's queue settings under a transport's: one merged object per transport's settings, shared. */
  #queueOptions(own: QueueOptions | undefined): QueueOptions {
    const base = this.#opts.queue ?? NO_QUEUE_OPTIONS;
    if (!own) return base;
    let merged = this.#mergedQueue.get(own);
    if (!merged) this.#mergedQueue.set(own, (merged = { ...base, ...own }));
    return merged;
  }

  /** The connection with this id, if it is on this node. */
  connection(id: string): HubConnection | undefined {
    return this.#registry.get(id);
  }

  /** Close a connection and remove it from every room. Unknown ids are a no-op. */
  disconnect(connId: string, code = 1000, reason = "closed"): void {
    const conn = this.#registry.get(connId);
    if (conn) conn.close(code, reason);
  }

  /**
   * Put a connection in a room. With `lastSeq`, messages after it are replayed from history first (or a
   * `discontinuity` frame is sent when history cannot cover them). Rejects `UNKNOWN_CONNECTION`, `BAD_ROOM`.
   */
  join(connId: string, room: string, opts: { lastSeq?: number; meta?: unknown } = {}): Promise<JoinResult> {
    try {
      this.#assertOpen();
      validateRoom(room);
      if (room.startsWith(RESERVED_PREFIX)) throw new EdgeplaneError("BAD_ROOM", `rooms starting with ${RESERVED_PREFIX} are reserved`);
      const conn = this.#conn(connId);
      if (opts.lastSeq !== undefined && !(Number.isSafeInteger(opts.lastSeq) && opts.lastSeq >= 0)) {
        throw new EdgeplaneError("BAD_OPTION", "lastSeq must be a non-negative integer");
      }
      return new Promise((resolve, reject) => {
        this.#enqueue(this.#room(room), new JoinTask(conn, opts.lastSeq, opts.meta, resolve, reject));
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Take a connection out of a room (idempotent). Rejects `UNKNOWN_CONNECTION`. */
  leave(connId: string, room: string): Promise<void> {
    try {
      const conn = this.#conn(connId);
      if (this.#registry.leave(conn.id, room)) {
        conn.queue.forgetRoom(room);
        this.#forgetMember(room, conn.id);
        this.#maybeRelease(room);
      }
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Publish to a room through the exchange; resolves with the room-global `{seq, timestamp}`. */
  publish(room: string, payload: Payload, opts: { id?: string } = {}): Promise<SeqInfo> {
    try {
      this.#assertOpen();
      return this.exchange.publish(room, payload, opts); // the exchange validates room, payload and size
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Server-side listener for a room's messages (in seq order, deduped). A throwing listener is counted, never
   * stalls the room.
   */
  subscribe(room: string, listener: (m: SequencedMessage) => void): Unsubscribe {
    this.#assertOpen();
    validateRoom(room);
    const state = this.#room(room);
    state.listeners.add(listener);
    return () => {
      state.listeners.delete(listener);
      this.#maybeRelease(room);
    };
  }

  /** Resolves once the room's exchange subscription is live (its position is known). */
  roomReady(room: string): Promise<void> {
    const state = this.#rooms.get(room);
    if (!state || state.positioned) return Promise.resolve();
    return new Promise((r) => state.positionWaiters.push(r));
  }

  /**
   * Handle one client frame (the protocol of `src/protocol.ts`). Errors become `error` frames to that connection;
   * nothing a client sends can throw out of here or disturb other connections.
   */
  async receive(connId: string, text: string): Promise<void> {
    const conn = this.#registry.get(connId);
    if (!conn) return;
    let f: ClientFrame;
    try {
      f = parseClientFrame(text, NO_META_CHECK);
    } catch (err) {
      this.#counters.badFrames++;
      const ref = err instanceof EdgeplaneError ? err.details?.ref : undefined;
      conn.send(errorFrame(err, typeof ref === "string" ? ref : undefined));
      return;
    }
    const room = "room" in f ? f.room : undefined;
    try {
      switch (f.t) {
        case "join": {
          validateRoom(f.room);
          const limits = this.#limits;
          if (conn.pendingJoins + conn.rooms.size >= limits.maxRooms && !conn.rooms.has(f.room)) {
            limits.counts.rooms++;
            throw new EdgeplaneError("LIMIT_ROOMS", `a connection may be in at most ${limits.maxRooms} rooms`, { limit: limits.maxRooms });
          }
          if (f.meta !== undefined && utf8Length(JSON.stringify(f.meta)) > limits.maxMetaBytes) {
            limits.counts.meta++;
            throw new EdgeplaneError("PAYLOAD_TOO_LARGE", `meta must serialize to at most ${limits.maxMetaBytes} bytes`, { limit: limits.maxMetaBytes });
          }
          conn.pendingJoins++;
          try {
            if (this.#opts.authorize) await this.#authorize(conn, f.room, "join");
            const meta = this.#opts.presenceMeta ? this.#opts.presenceMeta(conn, f.room, f.meta) : f.meta;
            await this.join(conn.id, f.room, { lastSeq: f.lastSeq, meta });
          } finally {
            conn.pendingJoins--;
          }
          return; // the pump sends `joined` before any replayed message
        }
        case "leave":
          await this.leave(conn.id, f.room);
          conn.send(frame({ t: "left", room: f.room, ref: f.ref }));
          return;
        case "pub": {
          validateRoom(f.room);
          if (f.room.startsWith(RESERVED_PREFIX)) throw new EdgeplaneError("BAD_ROOM", `rooms starting with ${RESERVED_PREFIX} are reserved`);
          if (this.#limits.perMs !== 0 && !this.#limits.take(conn, Date.now())) this.#rateLimited(conn);
          if (this.#opts.authorize) await this.#authorize(conn, f.room, "publish");
          let payload: Payload;
          if (f.data !== undefined) payload = f.data;
          else {
            try {
              payload = fromBase64(f.b64!);
            } catch {
              throw new EdgeplaneError("BAD_FRAME", "b64 is not valid base64");
            }
          }
          const info = await this.publish(f.room, payload, { id: f.id });
          conn.send(ackFrame(f.ref, f.room, info.seq, info.timestamp));
          return;
        }
        case "ping":
          conn.send(frame({ t: "pong", ref: f.ref }));
          return;
      }
    } catch (err) {
      if (err instanceof EdgeplaneError && (err.code === "BAD_ROOM" || err.code === "BAD_FRAME")) this.#counters.badFrames++;
      conn.send(errorFrame(err, f.ref, typeof room === "string" && room.length <= 256 ? room : undefined));
    }
  }

  /**
   * Send `data` to a connection wherever it is connected: this node, or (cluster on) the node named in its id.
   * Resolves `"delivered"` or `"not_found"`; rejects `TIMEOUT` when the other node does not answer in time.
   */
  sendTo(connId: string, data: string, opts: { timeout?: number } = {}): Promise<"delivered" | "not_found"> {
    if (typeof data !== "string") return Promise.reject(new EdgeplaneError("BAD_OPTION", "sendTo data must be a string"));
    if (this.#deliverDirect(connId, data, this.nodeId)) return Promise.resolve("delivered");
    if (!this.cluster || nodeOfConnection(connId) === this.nodeId) return Promise.resolve("not_found");
    return this.cluster.sendTo(connId, data, opts.timeout);
  }

  /**
   * Request/reply with another node (by node id) or a connection's node (by connection id); the target's
   * `onAsk` answers. Rejects `NO_RESPONDERS` (node not alive / went away), `TIMEOUT`, or the remote error's code.
   */
  ask(target: string, data: unknown, opts: { timeout?: number } = {}): Promise<unknown> {
    if (!this.cluster) {
      const local = target === this.nodeId || nodeOfConnection(target) === this.nodeId;
      return local
        ? this.#answer(data, { from: this.nodeId, connection: target === this.nodeId ? undefined : target })
        : Promise.reject(new EdgeplaneError("NO_RESPONDERS", "cluster features are off (new Hub({ cluster: true }))"));
    }
    return this.cluster.ask(target, data, opts.timeout);
  }

  /** Members of a room on every node (cluster on) or on this node. */
  presence(room: string): PresenceEntry[] {
    if (this.cluster) return this.cluster.members(room);
    const meta = this.#localMeta.get(room);
    return [...this.#registry.members(room).keys()].map((conn) => ({ conn, node: this.nodeId, meta: meta?.get(conn) }));
  }

  /**
   * Graceful drain: refuse new connections, tell every client to reconnect elsewhere (`reconnect` frame), flush
   * their queues, close them (1012), leave the cluster, and close the exchange (which hands off room ownership).
   */
  async drain(): Promise<DrainResult> {
    const started = Date.now();
    this.#draining = true;
    const conns = [...this.#registry.connections()];
    let unflushedBytes = 0;
    const bye = frame({ t: "reconnect", reason: "draining" });
    for (const c of conns) {
      c.send(bye);
      c.queue.flush();
    }
    // Give transports a bounded moment to push what they hold before closing.
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline && conns.some((c) => !c.queue.closed && c.bufferedBytes > 0)) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const c of conns) {
      unflushedBytes += c.queue.closed ? 0 : c.bufferedBytes;
      c.queue.end(1012, "draining");
    }
    this.#log(`edgeplane drained node=${this.nodeId} connections=${conns.length} unflushed=${unflushedBytes}B`);
    await this.close();
    return { connections: conns.length, unflushedBytes, ms: Date.now() - started };
  }

  /** True once `drain()` started. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Counters and sizes. */
  metrics(): HubMetrics {
    let queuedBytes = 0;
    for (const c of this.#registry.connections()) queuedBytes += c.bufferedBytes;
    return {
      nodeId: this.nodeId,
      connections: this.#registry.connectionCount,
      rooms: this.#registry.roomCount,
      subscribedRooms: this.#rooms.size,
      queuedBytes,
      outcomes: { ...this.#outcomes },
      ...this.#counters,
      refused: { ...this.#limits.counts },
      draining: this.#draining,
      exchange: this.exchange.status(),
      ...(this.cluster ? { cluster: this.cluster.status() } : {}),
    };
  }

  /** Close every connection (code 1001) and the exchange. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const c of [...this.#registry.connections()]) c.queue.end(1001, "server closing");
    for (const t of this.#presenceTimers.values()) clearTimeout(t);
    this.#presenceTimers.clear();
    await this.cluster?.stop();
    for (const r of this.#rooms.values()) r.unsubscribe();
    this.#rooms.clear();
    await this.exchange.close();
  }

  // ---- internals ----

  #conn(id: string): Conn {
    const c = this.#registry.get(id);
    if (!c) throw new EdgeplaneError("UNKNOWN_CONNECTION", `unknown connection ${JSON.stringify(String(id)).slice(0, 80)}`);
    return c;
  }

  async #authorize(conn: Conn, room: string, action: HubAction): Promise<void> {
    const auth = this.#opts.authorize;
    if (!auth) return;
    const ok = await askAuthorize(() => auth(conn, room, action), { action, room }, this.#log);
    if (!ok) throw new EdgeplaneError("FORBIDDEN", `not allowed to ${action} this room`);
  }

  /** A publish over the rate: close a connection that keeps going (4029), else refuse this publish. */
  #rateLimited(conn: Conn): never {
    const limits = this.#limits;
    if (conn.strikes >= limits.closeAfter) {
      limits.counts.rateCloses++;
      this.#log(`edgeplane rate limit: closed conn=${conn.id} after ${conn.strikes} refused publishes`);
      conn.close(4029, "rate limited");
    }
    throw new EdgeplaneError("RATE_LIMITED", "publishing too fast; slow down", { perSecond: limits.perMs * 1000, burst: limits.burst });
  }

  #assertOpen(): void {
    if (this.#closed) throw new EdgeplaneError("CLOSED", "hub is closed");
  }

  #drop(connId: string): void {
    for (const room of this.#registry.remove(connId)) {
      this.#forgetMember(room, connId);
      this.#maybeRelease(room);
    }
  }

  /** A member left `room` (leave or close): update presence. */
  #forgetMember(room: string, connId: string): void {
    if (this.cluster) return this.cluster.localLeave(room, connId);
    const meta = this.#localMeta.get(room);
    if (meta?.delete(connId) && meta.size === 0) this.#localMeta.delete(room);
    this.#schedulePresence(room);
  }

  #metaOf(room: string): Map<string, unknown> {
    let m = this.#localMeta.get(room);
    if (!m) this.#localMeta.set(room, (m = new Map()));
    return m;
  }

  #deliverDirect(connId: string, data: string, from: string): boolean {
    const c = this.#registry.get(connId);
    if (!c || c.queue.closed) return false;
    const outcome = c.send(frame({ t: "direct", from, data }));
    this.#outcomes[outcome]++;
    return outcome === "accepted" || outcome === "coalesced";
  }

  async #answer(data: unknown, ctx: { from: string; connection?: string }): Promise<unknown> {
    const handler = this.#opts.onAsk;
    if (!handler) throw new EdgeplaneError("NO_RESPONDERS", `node ${this.nodeId} has no onAsk handler`);
    let connection: HubConnection | undefined;
    if (ctx.connection !== undefined) {
      connection = this.#registry.get(ctx.connection);
      if (!connection) throw new EdgeplaneError("UNKNOWN_CONNECTION", "that connection is not on this node");
    }
    return await handler(data, { from: ctx.from, connection });
  }

  /** Rate-limited presence frame to this node's members of `room` (list up to listMax, count above). */
  #schedulePresence(room: string): void {
    if (this.#closed || this.#presenceTimers.has(room)) return;
    const interval = this.#opts.presence?.intervalMs ?? 250;
    this.#presenceTimers.set(room, setTimeout(() => {
      this.#presenceTimers.delete(room);
      const local = this.#registry.members(room);
      if (local.size === 0) return;
      const all = this.presence(room);
      const listMax = this.#opts.presence?.listMax ?? 100;
      const f = frame(
        all.length <= listMax
          ? { t: "presence", room, count: all.length, members: all.map((e) => ({ conn: e.conn, meta: e.meta })) }
          : { t: "presence", room, count: all.length },
        `presence:${room}`,
      );
      for (const c of local.values()) this.#outcomes[c.send(f)]++;
    }, interval));
  }

  #room(name: string): RoomState {
    const existing = this.#rooms.get(name);
    if (existing) return existing;
    const s: RoomState = {
      name,
      unsubscribe: () => {},
      positioned: false,
      lastSeq: 0,
      epoch: 0,
      tasks: [],
      head: 0,
      scheduled: false,
      busy: false,
      cursor: undefined,
      ids: new RecentMap(this.#opts.dedupeWindow ?? 4096),
      listeners: new Set(),
      positionWaiters: [],
    };
    s.unsubscribe = this.exchange.subscribe(name, (m) => this.#enqueue(s, m), {
      onEvent: (e) => {
        if (e.type === "position" && !s.positioned) {
          s.positioned = true;
          s.lastSeq = e.seq;
          s.epoch = e.epoch;
          for (const w of s.positionWaiters.splice(0)) w();
          this.#kick(s);
        } else this.#enqueue(s, new EventTask(e));
      },
    });
    this.#rooms.set(name, s);
    return s;
  }

  #maybeRelease(room: string): void {
    const s = this.#rooms.get(room);
    if (!s || s.scheduled || s.busy || s.cursor || s.head < s.tasks.length || s.listeners.size > 0 || this.#registry.memberCount(room) > 0) return;
    s.unsubscribe();
    this.#rooms.delete(room);
  }

  #enqueue(s: RoomState, t: Task): void {
    s.tasks.push(t);
    this.#kick(s);
  }

  #kick(s: RoomState): void {
    if (s.positioned && !s.busy && (s.cursor || s.head < s.tasks.length)) this.#scheduler.add(s);
  }

  /**
   * One visit of the run queue: continue a paused fanout, then take the room's tasks in order until the budget is
   * spent, a join waits for history, or nothing is left. Returns the budget left.
   */
  #step(s: RoomState, budget: number): number {
    if (this.#rooms.get(s.name) !== s) {
      s.tasks = [];
      s.head = 0;
      s.cursor = undefined;
      return budget;
    }
    while (budget > 0) {
      if (s.cursor) {
        budget = this.#fanout(s, s.cursor, budget);
        if (s.cursor) break;
        continue;
      }
      if (s.busy || s.head >= s.tasks.length) break;
      const t = s.tasks[s.head++];
      budget -= TASK_COST;
      if (t instanceof JoinTask) {
        const pending = this.#doJoin(s, t);
        if (pending) {
          s.busy = true;
          pending.then(() => {
            s.busy = false;
            this.#kick(s);
            this.#maybeRelease(s.name);
          });
        }
      } else if (t instanceof EventTask) this.#onEvent(s, t.e);
      else budget = this.#deliver(s, t, budget);
    }
    if (s.head >= s.tasks.length) {
      s.tasks = [];
      s.head = 0;
    } else if (s.head > 1024) {
      s.tasks = s.tasks.slice(s.head);
      s.head = 0;
    }
    if (s.cursor || (!s.busy && s.head < s.tasks.length)) this.#scheduler.add(s);
    else this.#maybeRelease(s.name);
    return budget;
  }

  /**
   * Dedupe and hand the message to the room's listeners; returns its frame, or undefined when it is a duplicate or
   * nobody on this node is a member.
   */
  #take(s: RoomState, m: SequencedMessage): Frame | undefined {
    if (m.room !== s.name || s.ids.has(m.id) || (m.seq <= s.lastSeq && m.epoch <= s.epoch)) {
      this.#counters.duplicatesDropped++;
      return undefined;
    }
    s.lastSeq = m.seq;
    if (m.epoch > s.epoch) s.epoch = m.epoch;
    s.ids.set(m.id, m.seq);
    this.#counters.messages++;
    if (s.listeners.size > 0) {
      for (const l of s.listeners) {
        try {
          l(m);
        } catch {
          this.#counters.listenerErrors++;
        }
      }
    }
    if (this.#registry.memberCount(s.name) === 0) return undefined;
    this.#counters.framesSerialized++;
    return messageFrame(m);
  }

  /**
   * Deliver a message to the members within the budget. A room too large for what is left of the budget is fanned
   * out by a cursor across turns; a large room takes the messages queued right behind this one into the same cursor
   * (up to {@link MAX_BATCH}), so each member gets them in one write per turn instead of one write per message.
   */
  #deliver(s: RoomState, m: SequencedMessage, budget: number): number {
    const f = this.#take(s, m);
    if (f === undefined) return budget;
    const members = this.#registry.members(s.name);
    const size = members.size;
    const binary = typeof m.payload !== "string";
    if (size <= budget && size < this.#logThreshold) {
      const outcomes = this.#outcomes;
      let accepted = 0;
      for (const c of members.values()) {
        const o = c.send(f, binary);
        if (o === "accepted") accepted++;
        else outcomes[o]++;
      }
      outcomes.accepted += accepted;
      return budget - size;
    }
    const frames = [f], binaries = [binary];
    if (size >= this.#logThreshold) {
      // Only messages: a join or event behind them keeps its place (it runs after the whole batch is out).
      while (frames.length < MAX_BATCH && s.head < s.tasks.length) {
        const next = s.tasks[s.head];
        if (next instanceof JoinTask || next instanceof EventTask) break;
        s.head++;
        budget -= TASK_COST;
        const g = this.#take(s, next);
        if (g === undefined) continue;
        frames.push(g);
        binaries.push(typeof next.payload !== "string");
      }
    }
    const cursor: FanoutCursor = {
      members: members.values(),
      frames,
      binaries,
      reached: 0,
      delivered: 0,
      dropped: 0,
      closed: 0,
      turns: 0,
      started: Date.now(),
    };
    s.cursor = cursor;
    return this.#fanout(s, cursor, budget);
  }

  /** Offer the cursor's frames, in order, to each member until the room is done or the budget is spent. */
  #fanout(s: RoomState, c: FanoutCursor, budget: number): number {
    const { frames, binaries, members } = c;
    const n = frames.length;
    const outcomes = this.#outcomes;
    let accepted = 0;
    c.turns++;
    while (budget > 0) {
      const next = members.next();
      if (next.done) {
        outcomes.accepted += accepted;
        c.delivered += accepted;
        s.cursor = undefined;
        this.#fanoutDone(s, c);
        return budget;
      }
      const conn = next.value;
      c.reached++;
      for (let i = 0; i < n; i++) {
        const o = conn.send(frames[i], binaries[i]);
        if (o === "accepted") accepted++;
        else {
          outcomes[o]++;
          c.delivered++;
          if (o === "dropped") c.dropped++;
          else if (o === "closed") c.closed++;
        }
      }
      budget -= n;
    }
    outcomes.accepted += accepted;
    c.delivered += accepted;
    return 0;
  }

  get #logThreshold(): number {
    return this.#opts.fanout?.logThreshold ?? 1000;
  }

  #fanoutDone(s: RoomState, c: FanoutCursor): void {
    if (c.reached < this.#logThreshold) return;
    (this.#opts.fanout?.log ?? this.#log)(
      `edgeplane fanout room=${JSON.stringify(s.name).slice(0, 80)} members=${c.reached} messages=${c.frames.length} ms=${Date.now() - c.started} turns=${c.turns} dropped=${c.dropped} closed=${c.closed}`,
    );
  }


  #onEvent(s: RoomState, e: ExchangeEvent): void {
    if (e.type !== "discontinuity") return;
    this.#counters.discontinuities++;
    // A newer generation may restart below our position (e.g. Redis lost its data): follow it down, or its first
    // messages would be dropped as duplicates. Within a generation the position only moves up.
    s.lastSeq = e.epoch > s.epoch ? e.nextSeq - 1 : Math.max(s.lastSeq, e.nextSeq - 1);
    s.epoch = Math.max(s.epoch, e.epoch);
    const f = frame({ t: "discontinuity", room: s.name, afterSeq: e.afterSeq, nextSeq: e.nextSeq, reason: e.reason });
    for (const c of this.#registry.members(s.name).values()) {
      this.#outcomes[c.send(f)]++;
      c.queue.setLastSeq(s.name, e.nextSeq - 1);
    }
  }

  /** Handle a join in the room's order; returns a promise only when it must wait for history (a resume). */
  #doJoin(s: RoomState, t: JoinTask): Promise<void> | undefined {
    const { conn } = t;
    if (conn.queue.closed) {
      t.reject(new EdgeplaneError("CLOSED", "connection closed before the join completed"));
      return undefined;
    }
    const result: JoinResult = { seq: s.lastSeq, epoch: s.epoch, replayed: 0, discontinuity: false };
    conn.send(frame({ t: "joined", room: s.name, seq: s.lastSeq, epoch: s.epoch }));
    const from = t.lastSeq;
    if (from === undefined || from === s.lastSeq) {
      this.#admit(s, t, result);
      return undefined;
    }
    if (from > s.lastSeq) {
      this.#resumeGap(s, conn, from, "client is ahead of the room (history was reset)", result);
      this.#admit(s, t, result);
      return undefined;
    }
    return this.#replay(s, t, from, result).then(
      () => this.#admit(s, t, result),
      (err) => t.reject(err),
    );
  }

  async #replay(s: RoomState, t: JoinTask, from: number, result: JoinResult): Promise<void> {
    const { conn } = t;
    let reason = "";
    try {
      const held = await this.exchange.history(s.name, from);
      if (isGap(held)) reason = "history no longer holds the missed messages";
      else {
        for (const m of held) {
          if (m.seq > s.lastSeq) break;
          // The same id sequenced twice (a retried publish across an owner change) was delivered live once:
          // replay it where it was delivered, never again under its second seq.
          const first = s.ids.get(m.id);
          if (first !== undefined && first !== m.seq) continue;
          this.#counters.framesSerialized++;
          this.#outcomes[conn.send(messageFrame(m), typeof m.payload !== "string")]++;
          result.replayed++;
        }
        if (held.length === 0 || held[held.length - 1].seq < s.lastSeq) reason = "history ended before the room position";
      }
    } catch (err) {
      reason = `history unavailable: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (reason) this.#resumeGap(s, conn, from, reason, result);
  }

  #resumeGap(s: RoomState, conn: Conn, from: number, reason: string, result: JoinResult): void {
    result.discontinuity = true;
    this.#counters.discontinuities++;
    conn.send(frame({ t: "discontinuity", room: s.name, afterSeq: from, nextSeq: s.lastSeq + 1, reason }));
  }

  /** The joining connection becomes a member from the room's current position on. */
  #admit(s: RoomState, t: JoinTask, result: JoinResult): void {
    const { conn } = t;
    conn.queue.setLastSeq(s.name, s.lastSeq);
    if (!conn.queue.closed && this.#registry.join(conn.id, s.name)) {
      if (this.cluster) this.cluster.localJoin(s.name, conn.id, t.meta);
      else {
        if (t.meta !== undefined) this.#metaOf(s.name).set(conn.id, t.meta);
        this.#schedulePresence(s.name);
      }
    }
    t.resolve(result);
  }
}
