/**
 * Cluster features over any exchange (docs/design.md §8): node liveness by heartbeat, presence per room across nodes,
 * `sendTo` a connection wherever it is connected, and `ask` request/reply to a node or a connection's node.
 * Everything travels as small JSON messages on reserved rooms (`~edgeplane:…`) of the same exchange, so it works
 * with memory, NATS, Redis and chain alike.
 *
 * @module
 */
import { EdgeplaneError, type ErrorCode } from "../errors.ts";
import type { Exchange, Unsubscribe } from "../exchange/exchange.ts";
import { randomId } from "../_utf8.ts";
import { CLUSTER_ROOM, type ClusterMsg, inboxRoom, type InboxMsg, parseClusterMsg, parseInboxMsg, type PresenceMember } from "./_wire.ts";

/**
 * Cluster settings.
 *
 * @example
 * ```ts
 * const hub = new Hub({ exchange, cluster: { heartbeatMs: 500, timeoutMs: 2000 } satisfies ClusterOptions });
 * ```
 */
export interface ClusterOptions {
  /** Heartbeat period (default 1000 ms). */
  heartbeatMs?: number;
  /** A node unheard for this long is dead: its presence is removed, asks to it fail (default 3.5 × heartbeat). */
  deadAfterMs?: number;
  /** Full presence snapshot every N heartbeats (default 5); deltas go out immediately. */
  snapshotEvery?: number;
  /** Default timeout of `ask` and `sendTo` (default 5000 ms). */
  timeoutMs?: number;
}

/**
 * One member of a room's presence, on any node.
 *
 * @example
 * ```ts
 * const members: PresenceEntry[] = hub.presence("lobby");
 * for (const m of members) console.log(m.conn, "on", m.node, m.meta);
 * ```
 */
export interface PresenceEntry {
  /** The member's connection id. */
  conn: string;
  /** The node the connection is on. */
  node: string;
  /** The `meta` the connection joined with, if any. */
  meta?: unknown;
}

/**
 * What the hub lends the cluster (a custom host implements it to run {@link Cluster} without a Hub).
 *
 * @example
 * ```ts
 * const host: ClusterHost = {
 *   nodeId: exchange.nodeId,
 *   exchange,
 *   deliverDirect: () => false,
 *   answer: async (data) => ({ echo: data }),
 *   presenceChanged: () => {},
 *   log: console.log,
 * };
 * const cluster = new Cluster(host);
 * ```
 */
export interface ClusterHost {
  /** This node's id (the exchange's). */
  readonly nodeId: string;
  /** The exchange the cluster's reserved rooms travel on. */
  readonly exchange: Exchange;
  /** Deliver a direct message to a local connection; false if it is not here. */
  deliverDirect(connId: string, data: string, from: string): boolean;
  /** Answer an ask addressed to this node (or a local connection). */
  answer(data: unknown, ctx: { from: string; connection?: string }): Promise<unknown>;
  /** The presence of `room` changed (any node). */
  presenceChanged(room: string): void;
  /** Operational log lines (node deaths, malformed messages). */
  log(line: string): void;
}

/**
 * Cluster counters.
 *
 * @example
 * ```ts
 * const s: ClusterStatus | undefined = hub.metrics().cluster;
 * console.log(s?.nodes, s?.pendingAsks);
 * ```
 */
export interface ClusterStatus {
  /** Live nodes, sorted (this one included). */
  nodes: string[];
  /** `ask` requests waiting for an answer. */
  pendingAsks: number;
  /** heartbeatsSent, asksSent, asksAnswered, askTimeouts, askNoResponders, directSent, directDelivered, … */
  counters: Record<string, number>;
}

/**
 * The node part of a connection id made by a clustered hub (`<nodeId>~<random>`).
 *
 * @example
 * ```ts
 * nodeOfConnection("node-a~k3j2h1"); // "node-a"
 * nodeOfConnection("plain-id");      // undefined
 * ```
 */
export function nodeOfConnection(connId: string): string | undefined {
  const i = connId.lastIndexOf("~");
  return i > 0 ? connId.slice(0, i) : undefined;
}

interface Pending {
  node: string;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
}

const SNAPSHOT_PART_BYTES = 200 * 1024;

/**
 * The cluster side of a hub. Usually created by `new Hub({ cluster: true })`; exposed for tests and custom hosts.
 *
 * @example
 * ```ts
 * const hub = new Hub({ exchange, cluster: { heartbeatMs: 500 } });
 * await hub.ready();
 * const answer = await hub.ask(otherNodeId, { op: "stats" }, { timeout: 1000 });
 * ```
 */
export class Cluster {
  readonly #host: ClusterHost;
  readonly #heartbeatMs: number;
  readonly #deadAfterMs: number;
  readonly #snapshotEvery: number;
  /** Default timeout of `ask` and `sendTo`, in milliseconds. */
  readonly timeoutMs: number;
  readonly #seen = new Map<string, number>();
  /** room → conn → entry, across the cluster (this node included). */
  readonly #presence = new Map<string, Map<string, PresenceEntry>>();
  /** node → rooms where it has members. */
  readonly #roomsOf = new Map<string, Set<string>>();
  /** This node's own members: room → conn → meta. */
  readonly #local = new Map<string, Map<string, unknown>>();
  readonly #pending = new Map<string, Pending>();
  readonly #snapParts = new Map<string, { snap: string; got: number; parts: number; rooms: Map<string, PresenceMember[]> }>();
  readonly #unsubs: Unsubscribe[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  #beats = 0;
  #lastTick = 0;
  #started: Promise<void> | undefined;
  #stopped = false;
  #snapshotSoon: ReturnType<typeof setTimeout> | undefined;
  /** Monotonic counters (also in {@link ClusterStatus}). */
  readonly counters = {
    heartbeatsSent: 0,
    asksSent: 0,
    asksAnswered: 0,
    askTimeouts: 0,
    askNoResponders: 0,
    directSent: 0,
    directDelivered: 0,
    malformedDropped: 0,
    publishFailures: 0,
    nodesDied: 0,
  };

  /** The cluster side of `host`; nothing is sent before `start()`. */
  constructor(host: ClusterHost, opts: ClusterOptions = {}) {
    this.#host = host;
    this.#heartbeatMs = opts.heartbeatMs ?? 1000;
    this.#deadAfterMs = opts.deadAfterMs ?? Math.round(this.#heartbeatMs * 3.5);
    this.#snapshotEvery = Math.max(1, opts.snapshotEvery ?? 5);
    this.timeoutMs = opts.timeoutMs ?? 5000;
  }

  /** Subscribe to the cluster room and this node's inbox, announce this node, start heartbeats. Idempotent. */
  start(): Promise<void> {
    this.#started ??= this.#start();
    return this.#started;
  }

  async #start(): Promise<void> {
    const ex = this.#host.exchange;
    const positioned = (room: string, on: (payload: unknown) => void) =>
      new Promise<void>((resolve) => {
        this.#unsubs.push(ex.subscribe(room, (m) => on(m.payload), { onEvent: (e) => e.type === "position" && resolve() }));
      });
    await Promise.all([
      positioned(CLUSTER_ROOM, (p) => this.#onCluster(p)),
      positioned(inboxRoom(this.#host.nodeId), (p) => this.#onInbox(p)),
    ]);
    if (this.#stopped) return;
    this.#seen.set(this.#host.nodeId, Date.now());
    await this.#publish(CLUSTER_ROOM, { t: "hb", node: this.#host.nodeId });
    this.#timer = setInterval(() => this.#tick(), this.#heartbeatMs);
  }

  /** Stop heartbeats, announce `bye`, fail pending asks. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#snapshotSoon !== undefined) clearTimeout(this.#snapshotSoon);
    if (this.#started) await this.#publish(CLUSTER_ROOM, { t: "hb", node: this.#host.nodeId, bye: true });
    for (const u of this.#unsubs.splice(0)) u();
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(new EdgeplaneError("CLOSED", "hub is closing"));
      this.#pending.delete(id);
    }
  }

  /** Live nodes (this one included). A node is dead once the heartbeat sweep (lag-compensated) or its `bye` says so. */
  nodes(): string[] {
    return [...this.#seen.keys()].sort();
  }

  /** True while `node` is considered alive (heard within `deadAfterMs`, no `bye`). */
  isAlive(node: string): boolean {
    return this.#seen.has(node);
  }

  /** Presence of a room across the cluster. */
  members(room: string): PresenceEntry[] {
    return [...(this.#presence.get(room)?.values() ?? [])];
  }

  /** Number of members of `room` across the cluster. */
  memberCount(room: string): number {
    return this.#presence.get(room)?.size ?? 0;
  }

  /** Live nodes, pending asks and counters. */
  status(): ClusterStatus {
    return { nodes: this.nodes(), pendingAsks: this.#pending.size, counters: { ...this.counters } };
  }

  /** A local connection joined a room. */
  localJoin(room: string, conn: string, meta?: unknown): void {
    let m = this.#local.get(room);
    if (!m) this.#local.set(room, (m = new Map()));
    m.set(conn, meta);
    this.#apply(this.#host.nodeId, room, [{ conn, meta }], undefined);
    void this.#publish(CLUSTER_ROOM, { t: "pd", node: this.#host.nodeId, room, join: [{ conn, meta }] });
  }

  /** A local connection left a room (or closed). */
  localLeave(room: string, conn: string): void {
    const m = this.#local.get(room);
    if (!m?.delete(conn)) return;
    if (m.size === 0) this.#local.delete(room);
    this.#apply(this.#host.nodeId, room, undefined, [conn]);
    void this.#publish(CLUSTER_ROOM, { t: "pd", node: this.#host.nodeId, room, leave: [conn] });
  }

  /** Deliver `data` to a connection on whichever node holds it. */
  async sendTo(connId: string, data: string, timeoutMs = this.timeoutMs): Promise<"delivered" | "not_found"> {
    const node = nodeOfConnection(connId);
    if (node === undefined) return "not_found";
    if (node === this.#host.nodeId) return this.#host.deliverDirect(connId, data, node) ? "delivered" : "not_found";
    if (!this.isAlive(node)) return "not_found";
    this.counters.directSent++;
    const r = await this.#request(node, { t: "send", conn: connId, data }, timeoutMs);
    return r === "delivered" ? "delivered" : "not_found";
  }

  /** Request/reply with a node (by node id) or with a connection's node (by connection id). */
  ask(target: string, data: unknown, timeoutMs = this.timeoutMs): Promise<unknown> {
    const viaConn = nodeOfConnection(target);
    const node = this.#seen.has(target) ? target : viaConn ?? target;
    const conn = node === target ? undefined : target;
    if (node === this.#host.nodeId) return this.#host.answer(data, { from: node, connection: conn });
    if (!this.isAlive(node)) {
      this.counters.askNoResponders++;
      return Promise.reject(new EdgeplaneError("NO_RESPONDERS", `no live node ${JSON.stringify(node).slice(0, 80)}`));
    }
    this.counters.asksSent++;
    return this.#request(node, { t: "ask", conn, data }, timeoutMs);
  }

  #request(node: string, body: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
    const id = randomId();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.#pending.delete(id)) return;
        this.counters.askTimeouts++;
        reject(new EdgeplaneError("TIMEOUT", `no reply from ${node} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { node, resolve, reject, timer });
      this.#publish(inboxRoom(node), { ...body, id, from: this.#host.nodeId }).then((ok) => {
        if (ok) return;
        const p = this.#pending.get(id);
        if (!p) return;
        this.#pending.delete(id);
        clearTimeout(p.timer);
        reject(new EdgeplaneError("BACKPLANE_UNAVAILABLE", "could not send the request"));
      });
    });
  }

  async #publish(room: string, msg: unknown): Promise<boolean> {
    try {
      await this.#host.exchange.publish(room, JSON.stringify(msg));
      return true;
    } catch {
      this.counters.publishFailures++;
      return false;
    }
  }

  #tick(): void {
    const now = Date.now();
    // If our own event loop was blocked, we could not hear anyone either: shift their last-seen by our lag so a
    // busy node does not declare healthy peers dead.
    const lag = this.#lastTick === 0 ? 0 : now - this.#lastTick - this.#heartbeatMs;
    this.#lastTick = now;
    if (lag > 0) for (const [node, t] of this.#seen) this.#seen.set(node, t + lag);
    this.#seen.set(this.#host.nodeId, now);
    this.#beats++;
    this.counters.heartbeatsSent++;
    void this.#publish(CLUSTER_ROOM, { t: "hb", node: this.#host.nodeId });
    if (this.#beats % this.#snapshotEvery === 0) void this.#snapshot();
    for (const [node, t] of this.#seen) {
      if (node !== this.#host.nodeId && now - t > this.#deadAfterMs) this.#nodeGone(node, "missed heartbeats");
    }
  }

  #nodeGone(node: string, why: string): void {
    if (!this.#seen.delete(node)) return;
    this.counters.nodesDied++;
    this.#host.log(`edgeplane cluster: node ${node} gone (${why})`);
    this.#replaceNode(node, new Map());
    for (const [id, p] of this.#pending) {
      if (p.node !== node) continue;
      clearTimeout(p.timer);
      this.#pending.delete(id);
      this.counters.askNoResponders++;
      p.reject(new EdgeplaneError("NO_RESPONDERS", `node ${node} went away (${why})`));
    }
  }

  async #snapshot(): Promise<void> {
    const snap = randomId().slice(0, 16);
    const parts: Array<Record<string, PresenceMember[]>> = [{}];
    let size = 0;
    for (const [room, conns] of this.#local) {
      const list = [...conns].map(([conn, meta]) => ({ conn, meta }));
      const bytes = JSON.stringify(list).length + room.length;
      if (size + bytes > SNAPSHOT_PART_BYTES && size > 0) {
        parts.push({});
        size = 0;
      }
      parts[parts.length - 1][room] = list;
      size += bytes;
    }
    for (let i = 0; i < parts.length; i++) {
      await this.#publish(CLUSTER_ROOM, { t: "ps", node: this.#host.nodeId, snap, part: i, parts: parts.length, rooms: parts[i] });
    }
  }

  #onCluster(payload: unknown): void {
    let m: ClusterMsg;
    try {
      m = parseClusterMsg(payload);
    } catch {
      this.counters.malformedDropped++;
      return;
    }
    if (m.node === this.#host.nodeId) return;
    if (m.t === "hb" && m.bye) return this.#nodeGone(m.node, "said bye");
    const isNew = !this.#seen.has(m.node);
    this.#seen.set(m.node, Date.now());
    if (isNew && !this.#stopped) {
      // A node we did not know: send our presence soon so it converges without waiting for the next snapshot.
      this.#snapshotSoon ??= setTimeout(() => {
        this.#snapshotSoon = undefined;
        if (!this.#stopped) void this.#snapshot();
      }, 20);
    }
    if (m.t === "pd") this.#apply(m.node, m.room, m.join, m.leave);
    else if (m.t === "ps") {
      let acc = this.#snapParts.get(m.node);
      if (!acc || acc.snap !== m.snap) this.#snapParts.set(m.node, (acc = { snap: m.snap, got: 0, parts: m.parts, rooms: new Map() }));
      for (const [room, list] of Object.entries(m.rooms)) acc.rooms.set(room, list);
      if (++acc.got === acc.parts) {
        this.#snapParts.delete(m.node);
        this.#replaceNode(m.node, acc.rooms);
      }
    }
  }

  /** Replace everything we believe about `node`'s members with `rooms`. */
  #replaceNode(node: string, rooms: Map<string, PresenceMember[]>): void {
    const before = this.#roomsOf.get(node) ?? new Set<string>();
    for (const room of before) {
      if (rooms.has(room)) continue;
      const leave = [...(this.#presence.get(room)?.values() ?? [])].filter((e) => e.node === node).map((e) => e.conn);
      this.#apply(node, room, undefined, leave);
    }
    for (const [room, list] of rooms) {
      const current = [...(this.#presence.get(room)?.values() ?? [])].filter((e) => e.node === node);
      const keep = new Set(list.map((m) => m.conn));
      this.#apply(node, room, list.filter((m) => !current.some((e) => e.conn === m.conn)), current.filter((e) => !keep.has(e.conn)).map((e) => e.conn));
    }
  }

  #apply(node: string, room: string, join: PresenceMember[] | undefined, leave: string[] | undefined): void {
    let changed = false;
    let members = this.#presence.get(room);
    for (const j of join ?? []) {
      if (!members) this.#presence.set(room, (members = new Map()));
      if (!members.has(j.conn)) changed = true;
      members.set(j.conn, { conn: j.conn, node, meta: j.meta });
    }
    for (const c of leave ?? []) if (members?.get(c)?.node === node && members.delete(c)) changed = true;
    if (members && members.size === 0) this.#presence.delete(room);
    let rooms = this.#roomsOf.get(node);
    if (members && [...members.values()].some((e) => e.node === node)) {
      if (!rooms) this.#roomsOf.set(node, (rooms = new Set()));
      rooms.add(room);
    } else rooms?.delete(room);
    if (changed) this.#host.presenceChanged(room);
  }

  #onInbox(payload: unknown): void {
    let m: InboxMsg;
    try {
      m = parseInboxMsg(payload);
    } catch {
      this.counters.malformedDropped++;
      return;
    }
    if (m.t === "reply") {
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.data);
      else p.reject(new EdgeplaneError(isCode(m.error?.code) ? m.error!.code as ErrorCode : "REMOTE_ERROR", m.error?.message ?? "remote error"));
      return;
    }
    const reply = (ok: boolean, data?: unknown, error?: { code: string; message: string }) =>
      void this.#publish(inboxRoom(m.from), { t: "reply", id: m.id, from: this.#host.nodeId, ok, data, error });
    if (m.t === "send") {
      const ok = this.#host.deliverDirect(m.conn, m.data, m.from);
      if (ok) this.counters.directDelivered++;
      reply(true, ok ? "delivered" : "not_found");
      return;
    }
    this.#host.answer(m.data, { from: m.from, connection: m.conn }).then(
      (data) => {
        this.counters.asksAnswered++;
        reply(true, data);
      },
      (err) => reply(false, undefined, { code: err instanceof EdgeplaneError ? err.code : "INTERNAL", message: err instanceof Error ? err.message : String(err) }),
    );
  }
}

const CODES = new Set(["TIMEOUT", "NO_RESPONDERS", "UNKNOWN_CONNECTION", "FORBIDDEN", "BAD_OPTION", "CLOSED"]);
function isCode(c: unknown): boolean {
  return typeof c === "string" && CODES.has(c);
}
