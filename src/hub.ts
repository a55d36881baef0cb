/**
 * The Hub: the single entry for publish / subscribe / join / leave and the connection lifecycle on one node.
 * Messages always take the exchange path (publish → exchange assigns seq → every node, this one included, fans out),
 * so local and remote subscribers see the same order. Per room the hub runs one pump that handles messages and joins
 * strictly in order: dedupe by id and seq, resume (history replay or a `discontinuity` frame), then fanout
 * (`src/local/_room-pump.ts`). The API's types are in `src/hub-types.ts`.
 *
 * @module
 */
import { type Payload, validateRoom } from "./envelope.ts";
import { EdgeplaneError } from "./errors.ts";
import type { Exchange, SeqInfo, SequencedMessage, Unsubscribe } from "./exchange/exchange.ts";
import { MemoryExchange } from "./exchange/memory.ts";
import { Conn } from "./local/_conn.ts";
import { FlushGroup, type FrameSink, type QueueOptions, type SendOutcome } from "./local/queue.ts";
import { Registry } from "./local/registry.ts";
import { JoinTask, RoomPumps } from "./local/_room-pump.ts";
import { ackFrame, type ClientFrame, errorFrame, frame, parseClientFrame } from "./protocol.ts";
import { fromBase64, randomId, utf8Length } from "./_utf8.ts";
import { Cluster, nodeOfConnection, type PresenceEntry } from "./cluster/cluster.ts";
import { RESERVED_PREFIX } from "./cluster/_wire.ts";
import { askAuthorize } from "./_authorize.ts";
import type { DrainResult, HubAction, HubConnection, HubMetrics, HubOptions, JoinResult } from "./hub-types.ts";

export type { DrainResult, HubAction, HubConnection, HubMetrics, HubOptions, JoinResult } from "./hub-types.ts";
import { identityKey, Limiter, type RequestRefusal } from "./limits.ts";

const NO_QUEUE_OPTIONS: QueueOptions = {};
/** The hub checks presence meta against its own limit (and counts refusals). */
const NO_META_CHECK = { maxMetaBytes: Infinity };

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
  readonly #pumps: RoomPumps;
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
    this.#pumps = new RoomPumps({
      exchange: this.exchange,
      registry: this.#registry,
      outcomes: this.#outcomes,
      counters: this.#counters,
      dedupeWindow: opts.dedupeWindow,
      fanout: opts.fanout,
      log: this.#log,
      admitted: (room, connId, meta) => this.#admitted(room, connId, meta),
    });
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
    const conn = new Conn(opts.id ?? `${this.nodeId}~${randomId().slice(0, 20)}`, this.#registry, sink, this.#queueOptions(opts.queue), this.#flushes);
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
        this.#pumps.enqueue(this.#pumps.room(room), new JoinTask(conn, opts.lastSeq, opts.meta, resolve, reject));
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
        this.#pumps.maybeRelease(room);
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
    const state = this.#pumps.room(room);
    state.listeners.add(listener);
    return () => {
      state.listeners.delete(listener);
      this.#pumps.maybeRelease(room);
    };
  }

  /** Resolves once the room's exchange subscription is live (its position is known). */
  roomReady(room: string): Promise<void> {
    const state = this.#pumps.get(room);
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
      subscribedRooms: this.#pumps.size,
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
    this.#pumps.close();
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
      this.#pumps.maybeRelease(room);
    }
  }

  /** A member left `room` (leave or close): update presence. */
  #forgetMember(room: string, connId: string): void {
    if (this.cluster) return this.cluster.localLeave(room, connId);
    const meta = this.#localMeta.get(room);
    if (meta?.delete(connId) && meta.size === 0) this.#localMeta.delete(room);
    this.#schedulePresence(room);
  }

  /** A connection became a member of `room` (its join was admitted in the room's order): update presence. */
  #admitted(room: string, connId: string, meta: unknown): void {
    if (this.cluster) return this.cluster.localJoin(room, connId, meta);
    if (meta !== undefined) {
      let m = this.#localMeta.get(room);
      if (!m) this.#localMeta.set(room, (m = new Map()));
      m.set(connId, meta);
    }
    this.#schedulePresence(room);
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
}
