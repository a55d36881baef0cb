// Private: the parts of the Cloudflare Workers runtime the adapter uses, typed structurally so the package needs no
// `@cloudflare/workers-types` and type-checks under Node, Deno and Bun alike.

/** A Durable Object id. */
export interface DurableObjectIdLike {
  toString(): string;
  readonly name?: string;
}

/** A stub of one Durable Object. */
export interface DurableObjectStubLike {
  fetch(input: Request | string, init?: RequestInit): Promise<Response>;
}

/** A Durable Object namespace binding (`env.EDGEPLANE_HUB`). */
export interface DurableObjectNamespaceLike {
  idFromName(name: string): DurableObjectIdLike;
  get(id: DurableObjectIdLike): DurableObjectStubLike;
}

/** The key-value storage API of a Durable Object (`ctx.storage`), available on SQLite- and KV-backed objects. */
export interface DurableObjectStorageLike {
  get<T = unknown>(key: string): Promise<T | undefined>;
  get<T = unknown>(keys: string[]): Promise<Map<string, T>>;
  put<T>(key: string, value: T): Promise<void>;
  put<T>(entries: Record<string, T>): Promise<void>;
  delete(keys: string[]): Promise<number>;
  list<T = unknown>(opts?: { start?: string; end?: string; prefix?: string; limit?: number }): Promise<Map<string, T>>;
}

/** The state handed to a Durable Object's constructor (`ctx`). */
export interface DurableObjectStateLike {
  readonly id: DurableObjectIdLike;
  readonly storage: DurableObjectStorageLike;
  blockConcurrencyWhile<T>(fn: () => Promise<T>): Promise<T>;
  waitUntil?(p: Promise<unknown>): void;
}

/** The server end of a `WebSocketPair` (a standard WebSocket plus `accept()`). */
export interface WorkerWebSocket {
  accept(): void;
  send(data: string | ArrayBuffer | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "message", fn: (e: { data: unknown }) => void): void;
  addEventListener(type: "close" | "error", fn: (e: unknown) => void): void;
  readonly readyState: number;
}

/** The `ExecutionContext` of a Worker's fetch handler. */
export interface ExecutionContextLike {
  waitUntil(p: Promise<unknown>): void;
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
