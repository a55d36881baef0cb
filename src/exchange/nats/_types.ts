// Private: the structural slice of a NATS connection the exchange uses. Both `nats` (v2) and `@nats-io/*` (v3)
// connections satisfy it, so users pass the connection they already made.

/** Headers as received on a message.
 *
 * @example
 * ```ts
 * msg.headers?.get("ep");
 * ```
 */
export interface NatsHeadersLike {
  /** The value of header `key` (`""` when absent). */
  get(key: string): string;
}

/** A received NATS message.
 *
 * @example
 * ```ts
 * console.log(msg.subject, msg.data.byteLength);
 * ```
 */
export interface NatsMsgLike {
  /** The subject it was published on. */
  readonly subject: string;
  /** The body. */
  readonly data: Uint8Array;
  /** Reply subject of a request. */
  readonly reply?: string;
  /** Headers, when the message has any. */
  readonly headers?: NatsHeadersLike;
}

/** A subscription handle.
 *
 * @example
 * ```ts
 * sub.unsubscribe();
 * ```
 */
export interface NatsSubscriptionLike {
  /** Stop the subscription (after `max` more messages, when given). */
  unsubscribe(max?: number): void;
}

/**
 * What the exchange needs from a NATS connection (nats v2 `NatsConnection` and v3 both satisfy it).
 *
 * @example
 * ```ts
 * import { connect } from "nats";
 * const nc: NatsConnectionLike = await connect({ servers: "127.0.0.1:4222" });
 * ```
 */
export interface NatsConnectionLike {
  /** Server info after connect: `max_payload` bounds every message. */
  readonly info?: { max_payload: number; headers?: boolean; server_id?: string };
  /** Publish a message (fire and forget at the NATS level; the exchange adds its own acks). */
  // deno-lint-ignore no-explicit-any
  publish(subject: string, payload?: Uint8Array, options?: { reply?: string; headers?: any }): void;
  /** Subscribe with a callback. */
  subscribe(
    subject: string,
    // deno-lint-ignore no-explicit-any
    opts?: { callback?: (err: any, msg: any) => void },
  ): NatsSubscriptionLike;
  /** Request/reply with a timeout. */
  // deno-lint-ignore no-explicit-any
  request(subject: string, payload?: Uint8Array, opts?: { timeout: number; headers?: any }): Promise<NatsMsgLike>;
  /** Resolves after a round trip to the server (everything published before it has reached the server). */
  flush(): Promise<void>;
  /** True once the connection is closed for good. */
  isClosed(): boolean;
  /** Connection events ("disconnect", "reconnect", …); optional. */
  // deno-lint-ignore no-explicit-any
  status?(): AsyncIterable<{ type: any }>;
}
