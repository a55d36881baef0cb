/**
 * A small dependency-free client for browsers and edge/server runtimes. Connects over WebSocket and falls back to
 * SSE, then long-poll, when a transport cannot connect; reconnects with exponential backoff + jitter; rejoins its
 * rooms resuming after the last seq it saw per room (the server replays from history or sends a `discontinuity`,
 * surfaced as an event); drops duplicates by seq; repairs a seq gap (a frame the server dropped for a full queue) by
 * rejoining from the last seq; re-sends unacknowledged publishes after a reconnect under the same message id (the
 * exchange dedupes them).
 *
 * @module
 */
import type { ServerFrame } from "../protocol.ts";
import type { TransportKind } from "../transport/connection.ts";
import { backoffDelay, type BackoffOptions } from "./_backoff.ts";
import type { Link, LinkClose, LinkEnv } from "./_link.ts";
import { pollLink } from "./_poll-link.ts";
import { sseLink } from "./_sse-link.ts";
import { wsLink } from "./_ws-link.ts";

export type { BackoffOptions };

/**
 * Client settings.
 *
 * @example
 * ```ts
 * const opts: ClientOptions = { url: location.origin, transports: ["ws", "sse"], backoff: { maxMs: 5000 } };
 * ```
 */
export interface ClientOptions {
  /**
   * Base URL where the routes are mounted (`/ws`, `/sse`, `/poll` are appended), e.g. `location.origin`; or several
   * nodes' URLs. With several, the client moves to the next one whenever its connection drops, a node cannot be
   * reached on any transport, or the node asks clients to reconnect elsewhere (drain) — and resumes every room by
   * seq there (no sticky sessions). A query string is sent with every request (e.g. `?token=…` for the server's
   * `authenticate`, where a cookie will not do: browsers cannot set headers on a WebSocket or an `EventSource`).
   */
  url: string | URL | Array<string | URL>;
  /** Transports to try, in order (default `["ws", "sse", "poll"]`). */
  transports?: TransportKind[];
  /** WebSocket constructor (default `globalThis.WebSocket`). */
  WebSocket?: new (url: string) => WebSocket;
  /** fetch (default `globalThis.fetch`). */
  fetch?: typeof fetch;
  /** Reconnect backoff. */
  backoff?: BackoffOptions;
  /** A transport that has not said `welcome` within this time counts as failed (default 5000 ms). */
  connectTimeoutMs?: number;
  /** Long-poll wait per request (default 25000 ms). */
  pollWaitMs?: number;
}

/**
 * Connection state.
 *
 * @example
 * ```ts
 * client.on("state", ({ state }: { state: ClientState }) => (badge.textContent = state));
 * ```
 */
export type ClientState = "connecting" | "open" | "reconnecting" | "closed";

/**
 * A room message as delivered to the app.
 *
 * @example
 * ```ts
 * client.on("message", (m: ClientMessage) => console.log(m.room, m.seq, m.data ?? m.bytes));
 * ```
 */
export interface ClientMessage {
  /** The room. */
  room: string;
  /** Position in the room's order (from 1, the same on every node). */
  seq: number;
  /** Timestamp assigned by the sequencer (ms since the epoch; never decreasing within a room). */
  ts: number;
  /** Sequencer generation the seq was assigned under. */
  epoch: number;
  /** Message id (the publisher's, or random): the same on every node. */
  id: string;
  /** Text payload. */
  data?: string;
  /** Binary payload. */
  bytes?: Uint8Array;
}

/**
 * Events of {@link EdgeplaneClient}.
 *
 * @example
 * ```ts
 * const off = client.on("discontinuity", (d: ClientEvents["discontinuity"]) => reload(d.room));
 * off();
 * ```
 */
export interface ClientEvents {
  /** A room message, in seq order, once per seq. */
  message: ClientMessage;
  /** The connection state changed; `transport` is the one in use when open. */
  state: { state: ClientState; transport?: TransportKind; reason?: string };
  /** Messages after `afterSeq` and before `nextSeq` could not be replayed: resync the room from a snapshot. */
  discontinuity: { room: string; afterSeq: number; nextSeq: number; reason: string };
  /** A join (or a rejoin after a reconnect) was confirmed at the room's position `seq`. */
  joined: { room: string; seq: number; epoch: number };
  /** Who is in a room (the server's presence frames; `meta` is what each member joined with). */
  presence: { room: string; count: number; members?: Array<{ conn: string; meta?: unknown }> };
  /** A message addressed to this connection (`hub.sendTo`). */
  direct: { from: string; data: string };
  /** An error frame from the server (a rejected join/publish also rejects its promise with a {@link ClientError}). */
  error: { code: string; message: string; ref?: string; room?: string };
  /** Every server frame as received (before duplicate filtering); for diagnostics and tests. */
  frame: ServerFrame;
}

interface RoomState {
  lastSeq?: number;
  meta?: Record<string, unknown>;
  resyncing: boolean;
  waiters: Array<{ ref: string; resolve: (j: ClientEvents["joined"]) => void; reject: (e: Error) => void }>;
}

interface PendingPub {
  text: string;
  resolve: (r: { seq: number; ts: number }) => void;
  reject: (e: Error) => void;
}

const LINKS: Record<TransportKind, (base: URL, ev: Parameters<typeof wsLink>[1], env: LinkEnv) => Link> = {
  ws: wsLink,
  sse: sseLink,
  poll: pollLink,
};

/**
 * Error for rejected joins/publishes (`code` is the server's error code).
 *
 * @example
 * ```ts
 * await client.join("admin:x").catch((e) => e instanceof ClientError && e.code === "FORBIDDEN" && showDenied());
 * ```
 */
export class ClientError extends Error {
  /**
   * A rejected join or publish.
   *
   * @param code the server's error code (`FORBIDDEN`, `BAD_ROOM`, …) or a client-side one (`CLOSED`, `BAD_OPTION`)
   * @param message a human-readable message
   */
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = "ClientError";
  }
}

/**
 * The client.
 *
 * @example
 * ```ts
 * import { EdgeplaneClient } from "edgeplane/client";
 * const client = new EdgeplaneClient({ url: location.origin });
 * client.on("message", (m) => console.log(m.room, m.seq, m.data));
 * client.on("state", (s) => console.log(s.state, s.transport));
 * await client.join("lobby");
 * await client.publish("lobby", "hello");
 * ```
 */
export class EdgeplaneClient {
  readonly #opts: ClientOptions;
  readonly #bases: URL[];
  #baseIndex = 0;
  readonly #order: TransportKind[];
  readonly #env: LinkEnv;
  readonly #listeners = new Map<keyof ClientEvents, Set<(e: never) => void>>();
  readonly #rooms = new Map<string, RoomState>();
  readonly #pubs = new Map<string, PendingPub>();
  #link: Link | undefined;
  #linkOpen = false;
  #index = 0;
  #failures = 0;
  #attempt = 0;
  #state: ClientState = "connecting";
  #timer: ReturnType<typeof setTimeout> | undefined;
  #refs = 0;
  #connectionId: string | undefined;
  /** Counters: duplicates dropped, reconnects, gaps repaired. */
  readonly stats = { duplicatesDropped: 0, reconnects: 0, gaps: 0, messages: 0 };

  /** Starts connecting at once (state `connecting`); throws `BAD_OPTION` without a URL. */
  constructor(opts: ClientOptions) {
    this.#opts = opts;
    this.#bases = (Array.isArray(opts.url) ? opts.url : [opts.url]).map((u) => new URL(String(u)));
    if (this.#bases.length === 0) throw new ClientError("BAD_OPTION", "at least one url is needed");
    this.#order = opts.transports?.length ? [...opts.transports] : ["ws", "sse", "poll"];
    const f = opts.fetch ?? globalThis.fetch;
    this.#env = { WebSocket: opts.WebSocket, fetch: (...a: Parameters<typeof fetch>) => Promise.resolve().then(() => f(...a)), pollWaitMs: opts.pollWaitMs ?? 25_000 };
    this.#connect();
  }

  /** Current state. */
  get state(): ClientState {
    return this.#state;
  }

  /** Base URL of the current (or last) link. */
  get url(): string {
    return this.#bases[this.#baseIndex % this.#bases.length].href;
  }

  /** Transport of the current (or last) link. */
  get transport(): TransportKind | undefined {
    return this.#link?.kind;
  }

  /** The server's id for the current connection. */
  get connectionId(): string | undefined {
    return this.#connectionId;
  }

  /** Last seq seen for `room`. */
  lastSeq(room: string): number | undefined {
    return this.#rooms.get(room)?.lastSeq;
  }

  /** Listen to an event; returns a function that removes the listener. */
  on<K extends keyof ClientEvents>(type: K, fn: (e: ClientEvents[K]) => void): () => void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    set.add(fn as (e: never) => void);
    return () => set!.delete(fn as (e: never) => void);
  }

  /**
   * Join a room (kept across reconnects). Resolves when the server confirms; rejects with a {@link ClientError}
   * (e.g. `FORBIDDEN`, `BAD_ROOM`) and forgets the room when it refuses. `lastSeq` resumes after that seq; `meta`
   * (a small JSON object, e.g. `{ name }`) is what other members see in presence.
   */
  join(room: string, opts: { lastSeq?: number; meta?: Record<string, unknown> } = {}): Promise<ClientEvents["joined"]> {
    let r = this.#rooms.get(room);
    if (!r) this.#rooms.set(room, (r = { lastSeq: opts.lastSeq, meta: opts.meta, resyncing: false, waiters: [] }));
    else {
      if (opts.lastSeq !== undefined) r.lastSeq = opts.lastSeq;
      if (opts.meta !== undefined) r.meta = opts.meta;
    }
    const ref = this.#ref();
    const state = r;
    return new Promise((resolve, reject) => {
      state.waiters.push({ ref, resolve, reject });
      if (this.#linkOpen) this.#sendJoin(room, state, ref);
    });
  }

  /** Leave a room. */
  leave(room: string): void {
    const r = this.#rooms.get(room);
    if (!r) return;
    this.#rooms.delete(room);
    for (const w of r.waiters.splice(0)) w.reject(new ClientError("CLOSED", "left the room"));
    if (this.#linkOpen) this.#link!.send(JSON.stringify({ t: "leave", room }));
  }

  /** Rooms joined (or being joined). */
  get rooms(): string[] {
    return [...this.#rooms.keys()];
  }

  /** Publish to a room; resolves with the room-global seq once the server has sequenced it. */
  publish(room: string, data: string | Uint8Array): Promise<{ seq: number; ts: number }> {
    const ref = this.#ref();
    const id = randomHex();
    const frame = typeof data === "string" ? { t: "pub", room, data, id, ref } : { t: "pub", room, b64: toBase64(data), id, ref };
    const text = JSON.stringify(frame);
    return new Promise((resolve, reject) => {
      if (this.#state === "closed") return reject(new ClientError("CLOSED", "client is closed"));
      this.#pubs.set(ref, { text, resolve, reject });
      if (this.#linkOpen) this.#link!.send(text);
    });
  }

  /** Close for good. */
  close(): void {
    if (this.#state === "closed") return;
    this.#setState("closed");
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const link = this.#link;
    this.#linkOpen = false;
    link?.close();
    for (const p of this.#pubs.values()) p.reject(new ClientError("CLOSED", "client closed"));
    this.#pubs.clear();
    for (const r of this.#rooms.values()) for (const w of r.waiters.splice(0)) w.reject(new ClientError("CLOSED", "client closed"));
  }

  /** Drop the current connection as if the network failed (the client reconnects and resumes). */
  dropConnection(): void {
    this.#link?.close();
  }

  // ---- internals ----

  #emit<K extends keyof ClientEvents>(type: K, e: ClientEvents[K]): void {
    for (const fn of this.#listeners.get(type) ?? []) {
      try {
        (fn as (e: ClientEvents[K]) => void)(e);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  #setState(state: ClientState, reason?: string): void {
    this.#state = state;
    this.#emit("state", { state, transport: this.#link?.kind, reason });
  }

  #ref(): string {
    return `r${++this.#refs}`;
  }

  #connect(): void {
    if (this.#state === "closed") return;
    const kind = this.#order[this.#index % this.#order.length];
    let welcomed = false;
    let link: Link | undefined = undefined;
    const timeout = setTimeout(() => {
      if (!welcomed) link?.close();
    }, this.#opts.connectTimeoutMs ?? 5000);
    link = LINKS[kind](this.#bases[this.#baseIndex % this.#bases.length], {
      frame: (f) => {
        if (this.#link !== link || this.#state === "closed") return;
        if (f.t === "welcome") {
          welcomed = true;
          clearTimeout(timeout);
        }
        this.#onFrame(f);
      },
      close: (info) => {
        clearTimeout(timeout);
        if (this.#link === link) this.#onLinkClose(welcomed, info);
      },
    }, this.#env);
    this.#link = link;
    this.#linkOpen = false;
    if (this.#state !== "reconnecting") this.#setState("connecting");
  }

  #onLinkClose(welcomed: boolean, info: LinkClose): void {
    this.#linkOpen = false;
    this.#connectionId = undefined;
    if (this.#state === "closed") return;
    this.#setState("reconnecting", info.reason);
    this.stats.reconnects++;
    let delay: number;
    if (welcomed) {
      this.#failures = 0;
      this.#baseIndex++; // a dropped connection resumes on the next node (the same one when there is only one)
      delay = backoffDelay(this.#attempt++, { ...this.#opts.backoff, initialMs: Math.min(this.#opts.backoff?.initialMs ?? 250, 100) });
    } else {
      // This transport could not connect: try the next one right away; back off after a full round.
      this.#index++;
      this.#failures++;
      if (this.#index % this.#order.length === 0) this.#baseIndex++; // every transport failed here: next node
      delay = this.#failures % this.#order.length === 0 ? backoffDelay(this.#attempt++, this.#opts.backoff) : 0;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#connect();
    }, delay);
  }

  #sendJoin(room: string, r: RoomState, ref: string): void {
    const f: Record<string, unknown> = { t: "join", room, ref };
    if (r.lastSeq !== undefined) f.lastSeq = r.lastSeq;
    if (r.meta !== undefined) f.meta = r.meta;
    this.#link!.send(JSON.stringify(f));
  }

  #onFrame(f: ServerFrame): void {
    this.#emit("frame", f);
    switch (f.t) {
      case "welcome": {
        this.#connectionId = f.conn;
        this.#linkOpen = true;
        this.#attempt = 0;
        this.#failures = 0;
        this.#index = this.#index % this.#order.length;
        this.#setState("open");
        for (const [room, r] of this.#rooms) {
          r.resyncing = false;
          this.#sendJoin(room, r, r.waiters[0]?.ref ?? this.#ref());
          for (const w of r.waiters.slice(1)) this.#sendJoin(room, r, w.ref);
        }
        for (const p of this.#pubs.values()) this.#link!.send(p.text);
        return;
      }
      case "joined": {
        const r = this.#rooms.get(f.room);
        if (!r) return;
        if (r.lastSeq === undefined) r.lastSeq = f.seq;
        r.resyncing = false;
        const j = { room: f.room, seq: f.seq, epoch: f.epoch };
        for (const w of r.waiters.splice(0)) w.resolve(j);
        this.#emit("joined", j);
        return;
      }
      case "msg": {
        const r = this.#rooms.get(f.room);
        if (!r) return;
        const last = r.lastSeq;
        if (last !== undefined && f.seq <= last) {
          this.stats.duplicatesDropped++;
          return;
        }
        if (last !== undefined && f.seq > last + 1) {
          // A gap (the server dropped frames for a full queue): rejoin from `last`; the replay fills it in order.
          if (!r.resyncing) {
            r.resyncing = true;
            this.stats.gaps++;
            this.#link!.send(JSON.stringify({ t: "leave", room: f.room }));
            this.#sendJoin(f.room, r, this.#ref());
          }
          return;
        }
        r.lastSeq = f.seq;
        this.stats.messages++;
        const m: ClientMessage = { room: f.room, seq: f.seq, ts: f.ts, epoch: f.epoch, id: f.id };
        if (f.b64 !== undefined) m.bytes = fromBase64(f.b64);
        else m.data = f.data;
        this.#emit("message", m);
        return;
      }
      case "discontinuity": {
        const r = this.#rooms.get(f.room);
        if (r) r.lastSeq = f.nextSeq - 1;
        this.#emit("discontinuity", { room: f.room, afterSeq: f.afterSeq, nextSeq: f.nextSeq, reason: f.reason });
        return;
      }
      case "ack": {
        const p = f.ref !== undefined ? this.#pubs.get(f.ref) : undefined;
        if (p) {
          this.#pubs.delete(f.ref!);
          p.resolve({ seq: f.seq, ts: f.ts });
        }
        return;
      }
      case "error": {
        if (f.ref !== undefined) {
          const p = this.#pubs.get(f.ref);
          if (p) {
            this.#pubs.delete(f.ref);
            p.reject(new ClientError(f.code, f.message));
          }
          for (const [room, r] of this.#rooms) {
            const i = r.waiters.findIndex((w) => w.ref === f.ref);
            if (i >= 0) {
              this.#rooms.delete(room);
              for (const w of r.waiters.splice(0)) w.reject(new ClientError(f.code, f.message));
            }
          }
        }
        this.#emit("error", { code: f.code, message: f.message, ref: f.ref, room: f.room });
        return;
      }
      case "presence":
        if (this.#rooms.has(f.room)) this.#emit("presence", { room: f.room, count: f.count, members: f.members });
        return;
      case "direct":
        this.#emit("direct", { from: f.from, data: f.data });
        return;
      case "reconnect":
        this.#link?.close();
        return;
    }
  }
}

function randomHex(): string {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function toBase64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
