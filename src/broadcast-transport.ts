/**
 * A Telefunc-compatible `BroadcastTransport` over any {@link Exchange}: set it as `config.broadcast.transport` and
 * Telefunc's server-side `Broadcast` reaches every process sharing the exchange, in one order per key, with the same
 * `{seq, timestamp}` everywhere.
 *
 * @module
 */
import { EdgeplaneError } from "./errors.ts";
import type { Exchange, ExchangeEvent, SeqInfo, SequencedMessage, Unsubscribe } from "./exchange/exchange.ts";
import { advanceTo, followDiscontinuity, isAfter, type OrderPosition } from "./exchange/_room-position.ts";

/**
 * What a listener receives besides the payload (Telefunc's `WirePublishInfo`).
 *
 * @example
 * ```ts
 * transport.listen("chat", (payload: string, info: PublishInfo) => console.log(info.seq, info.timestamp, payload));
 * ```
 */
export type PublishInfo = SeqInfo;

/**
 * What `listen`/`listenBinary` return: Telefunc's unsubscribe function, plus `ready`.
 *
 * A `send` from this process that starts after `listen()` returned always reaches the listener. `ready` resolves once
 * the listener is live for every process: messages other processes send from then on reach it too (before, they may
 * not). It also resolves if the listener is removed first.
 *
 * @example
 * ```ts
 * const stop = broadcastTransport(new MemoryExchange()).listen("chat", (payload) => console.log(payload));
 * await stop.ready; // sends of every process reach it from now on
 * stop();
 * ```
 */
export interface BroadcastListener {
  /** Remove the listener (idempotent). */
  (): void;
  /** Resolves when messages of every process are covered (or the listener was removed). */
  readonly ready: Promise<void>;
}

/**
 * The four-method shape Telefunc 0.2.23 calls `BroadcastTransport`.
 *
 * @example
 * ```ts
 * const transport: EdgeplaneBroadcastTransport = broadcastTransport(new MemoryExchange());
 * const stop = transport.listen("chat", (payload, { seq }) => console.log(seq, payload));
 * await transport.send("chat", '{"text":"hi"}'); // { seq: 1, timestamp: … }
 * stop();
 * ```
 */
export interface EdgeplaneBroadcastTransport {
  /** Publish a text payload under `key`; resolves with its place in the key's order. */
  send(key: string, payload: string): Promise<SeqInfo>;
  /**
   * Listen to the text payloads of `key` (in seq order, this process's own included; a `send` from this process after
   * this call reaches it); returns the unsubscribe, with `ready`.
   */
  listen(key: string, onMessage: (payload: string, info: PublishInfo) => void): BroadcastListener;
  /** Publish a binary payload under `key` (a stream separate from the text one). */
  sendBinary(key: string, payload: Uint8Array): Promise<SeqInfo>;
  /** Listen to the binary payloads of `key`; returns the unsubscribe, with `ready`. */
  listenBinary(key: string, onMessage: (payload: Uint8Array, info: PublishInfo) => void): BroadcastListener;
}

/**
 * Options of {@link broadcastTransport}.
 *
 * @example
 * ```ts
 * const transport = broadcastTransport(exchange, {
 *   prefix: "tf:",
 *   onDiscontinuity: (key, e) => console.warn(`broadcast ${key}: lost ${e.afterSeq + 1}..${e.nextSeq - 1}`),
 * } satisfies BroadcastTransportOptions);
 * ```
 */
export interface BroadcastTransportOptions {
  /** Room prefix for keys so broadcast rooms never collide with your other rooms (default `"telefunc:"`). */
  prefix?: string;
  /** Told when the exchange could not repair a gap (messages in between were lost for this process). */
  onDiscontinuity?: (key: string, event: Extract<ExchangeEvent, { type: "discontinuity" }>) => void;
  /** Told when a listener throws (the delivery loop carries on). Default: `console.error`. */
  onListenerError?: (key: string, err: unknown) => void;
}

/**
 * Build the transport. Text and binary of the same key are separate rooms, so separate streams with their own seq.
 * Every message comes back to the sending process too (Telefunc feeds local subscribers only through `listen`).
 *
 * @example
 * ```ts
 * import { config } from "telefunc";
 * import { broadcastTransport, createNatsExchange, connectNats } from "edgeplane";
 *
 * const exchange = createNatsExchange(await connectNats({ servers: "nats://127.0.0.1:4222" }));
 * config.broadcast.transport = broadcastTransport(exchange);
 * ```
 */
export function broadcastTransport(exchange: Exchange, opts: BroadcastTransportOptions = {}): EdgeplaneBroadcastTransport {
  const prefix = opts.prefix ?? "telefunc:";
  const onError = opts.onListenerError ?? ((key, err) => console.error(`edgeplane broadcast listener for ${JSON.stringify(key)} threw:`, err));
  const room = (kind: "t" | "b", key: string): string => {
    if (typeof key !== "string") throw new EdgeplaneError("BAD_ROOM", "broadcast key must be a string");
    return `${prefix}${kind}:${key}`;
  };

  function listenKind<P extends string | Uint8Array>(
    kind: "t" | "b",
    key: string,
    isKind: (p: unknown) => p is P,
    onMessage: (payload: P, info: PublishInfo) => void,
  ): BroadcastListener {
    // Position in the key's order, kept by the same rule as the hub's (src/exchange/_room-position.ts).
    const pos: OrderPosition = { lastSeq: 0, epoch: 0 };
    let live!: () => void;
    const ready = new Promise<void>((resolve) => (live = resolve));
    const unsub: Unsubscribe = exchange.subscribe(room(kind, key), (m: SequencedMessage) => {
      if (!isAfter(pos, m) || !isKind(m.payload)) return; // defensive: exchanges already order and dedupe
      advanceTo(pos, m);
      try {
        onMessage(m.payload, { seq: m.seq, timestamp: m.timestamp });
      } catch (err) {
        onError(key, err);
      }
    }, {
      onEvent: (e) => {
        if (e.type === "position") live();
        if (e.type === "discontinuity") {
          followDiscontinuity(pos, e);
          opts.onDiscontinuity?.(key, e);
        }
      },
    });
    return Object.assign(() => {
      unsub();
      live();
    }, { ready });
  }

  return {
    send: (key, payload) => {
      if (typeof payload !== "string") return Promise.reject(new EdgeplaneError("BAD_ENVELOPE", "send() takes a string; use sendBinary() for bytes"));
      return publish(exchange, () => room("t", key), payload);
    },
    sendBinary: (key, payload) => {
      if (!(payload instanceof Uint8Array)) return Promise.reject(new EdgeplaneError("BAD_ENVELOPE", "sendBinary() takes a Uint8Array"));
      return publish(exchange, () => room("b", key), payload);
    },
    listen: (key, onMessage) => listenKind("t", key, (p): p is string => typeof p === "string", onMessage),
    listenBinary: (key, onMessage) => listenKind("b", key, (p): p is Uint8Array => p instanceof Uint8Array, onMessage),
  };
}

async function publish(exchange: Exchange, room: () => string, payload: string | Uint8Array): Promise<SeqInfo> {
  const { seq, timestamp } = await exchange.publish(room(), payload);
  return { seq, timestamp };
}
