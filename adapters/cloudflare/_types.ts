// Private: the parts of the Cloudflare Workers runtime the adapter uses, typed structurally so the package needs no
// `@cloudflare/workers-types` and type-checks under Node, Deno and Bun alike.

/**
 * A Durable Object id.
 *
 * @example
 * ```ts
 * const id: DurableObjectIdLike = env.EDGEPLANE_HUB.idFromName("hub-0");
 * ```
 */
export interface DurableObjectIdLike {
  /** Hex form of the id. */
  toString(): string;
  /** The name it was made from (`idFromName`), when known. */
  readonly name?: string;
}

/**
 * A stub of one Durable Object.
 *
 * @example
 * ```ts
 * const res = await stub.fetch("https://do/ping");
 * ```
 */
export interface DurableObjectStubLike {
  /** Send a request to the object. */
  fetch(input: Request | string, init?: RequestInit): Promise<Response>;
}

/**
 * A Durable Object namespace binding (`env.EDGEPLANE_HUB`).
 *
 * @example
 * ```ts
 * const stub = ns.get(ns.idFromName("hub-0"));
 * ```
 */
export interface DurableObjectNamespaceLike {
  /** The id of the object named `name` (the same name always gives the same object). */
  idFromName(name: string): DurableObjectIdLike;
  /** A stub for the object with this id. */
  get(id: DurableObjectIdLike): DurableObjectStubLike;
}

/**
 * The key-value storage API of a Durable Object (`ctx.storage`), available on SQLite- and KV-backed objects.
 *
 * @example
 * ```ts
 * await storage.put("meta", { seq: 1 });
 * ```
 */
export interface DurableObjectStorageLike {
  /** Read one key. */
  get<T = unknown>(key: string): Promise<T | undefined>;
  /** Read several keys. */
  get<T = unknown>(keys: string[]): Promise<Map<string, T>>;
  /** Write one key. */
  put<T>(key: string, value: T): Promise<void>;
  /** Write up to 128 keys at once. */
  put<T>(entries: Record<string, T>): Promise<void>;
  /** Delete up to 128 keys; resolves with how many existed. */
  delete(keys: string[]): Promise<number>;
  /** Keys in order, by range or prefix. */
  list<T = unknown>(opts?: { start?: string; end?: string; prefix?: string; limit?: number }): Promise<Map<string, T>>;
}

/**
 * The state handed to a Durable Object's constructor (`ctx`).
 *
 * @example
 * ```ts
 * constructor(state: DurableObjectStateLike) { void state.blockConcurrencyWhile(() => load(state.storage)); }
 * ```
 */
export interface DurableObjectStateLike {
  /** This object's id. */
  readonly id: DurableObjectIdLike;
  /** This object's storage. */
  readonly storage: DurableObjectStorageLike;
  /** Hold every event until `fn` settles (used to load state before the first request). */
  blockConcurrencyWhile<T>(fn: () => Promise<T>): Promise<T>;
  /** Keep the object alive until `p` settles. */
  waitUntil?(p: Promise<unknown>): void;
  /**
   * Hibernation API: accept a `WebSocketPair` server end on behalf of the object. The runtime keeps the socket open
   * while the object is evicted and calls the object's `webSocketMessage` / `webSocketClose` / `webSocketError`.
   */
  acceptWebSocket?(ws: WorkerWebSocket, tags?: string[]): void;
  /** Hibernation API: the sockets accepted with {@link DurableObjectStateLike.acceptWebSocket} that are still open. */
  getWebSockets?(tag?: string): WorkerWebSocket[];
}

/**
 * The `ExecutionContext` of a Worker's fetch handler.
 *
 * @example
 * ```ts
 * ctx.waitUntil(flushLogs());
 * ```
 */
export interface ExecutionContextLike {
  /** Keep the invocation alive until `p` settles. */
  waitUntil(p: Promise<unknown>): void;
}

/**
 * The server end of a `WebSocketPair` (a standard WebSocket plus `accept()` and the Hibernation API's attachment).
 *
 * @example
 * ```ts
 * const { 0: client, 1: server } = new WebSocketPair();
 * ctx.acceptWebSocket(server); // or server.accept()
 * ```
 */
export interface WorkerWebSocket {
  /** Standard API: handle the socket's events in this isolate (the object stays in memory while it is open). */
  accept(): void;
  /** Send a text or binary message. */
  send(data: string | ArrayBuffer | ArrayBufferView): void;
  /** Close with a code and reason. */
  close(code?: number, reason?: string): void;
  /** Standard API: a received message. */
  addEventListener(type: "message", fn: (e: { data: unknown }) => void): void;
  /** Standard API: the socket closed or failed. */
  addEventListener(type: "close" | "error", fn: (e: unknown) => void): void;
  /** `WebSocket.OPEN` (1) while open. */
  readonly readyState: number;
  /** Hibernation API: keep a small structured-clonable value with the socket (it survives the object's eviction). */
  serializeAttachment?(value: unknown): void;
  /** Hibernation API: the value given to `serializeAttachment`. */
  deserializeAttachment?(): unknown;
}

/** `new WebSocketPair()`: index 0 is the client end (returned in the 101 response), 1 the server end. */
export function webSocketPair(): { client: unknown; server: WorkerWebSocket } {
  const Pair = (globalThis as { WebSocketPair?: new () => Record<0 | 1, WorkerWebSocket> }).WebSocketPair;
  if (!Pair) throw new Error("WebSocketPair is not available: this code runs inside Cloudflare Workers (workerd) only");
  const pair = new Pair();
  return { client: pair[0], server: pair[1] };
}

/** The 101 response that hands the client end of a pair to the runtime. */
export function upgradeResponse(client: unknown): Response {
  return new Response(null, { status: 101, webSocket: client } as ResponseInit);
}
