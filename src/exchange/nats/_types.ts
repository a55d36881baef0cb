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
  readonly subject: string;
  readonly data: Uint8Array;
  readonly reply?: string;
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
  // deno-lint-ignore no-explicit-any
  publish(subject: string, payload?: Uint8Array, options?: { reply?: string; headers?: any }): void;
  subscribe(
    subject: string,
    // deno-lint-ignore no-explicit-any
    opts?: { callback?: (err: any, msg: any) => void },
  ): NatsSubscriptionLike;
  // deno-lint-ignore no-explicit-any
  request(subject: string, payload?: Uint8Array, opts?: { timeout: number; headers?: any }): Promise<NatsMsgLike>;
  flush(): Promise<void>;
  isClosed(): boolean;
  /** Connection events ("disconnect", "reconnect", …); optional. */
  // deno-lint-ignore no-explicit-any
  status?(): AsyncIterable<{ type: any }>;
}
