/**
 * `connectNats()`: a NATS connection with settings that suit a backplane. This is the only file of edgeplane that
 * imports the `nats` package, and it loads it on the first call: importing edgeplane (say, for the memory exchange
 * or on an edge runtime) never loads nats. The exchange itself takes any structurally compatible connection.
 *
 * @module
 */
import type * as nats from "nats";
import { importPeer } from "../../_peer.ts";

/**
 * The connection {@link connectNats} returns: a nats.js (`nats` v2) `NatsConnection`. Close it with `nc.drain()` or
 * `nc.close()` after closing the exchanges on it.
 *
 * @example
 * ```ts
 * const nc: NatsConnection = await connectNats({ servers: "127.0.0.1:4222" });
 * const exchange = new NatsExchange(nc);
 * // …
 * await exchange.close();
 * await nc.drain();
 * ```
 */
export type NatsConnection = nats.NatsConnection;

/**
 * Options of {@link connectNats}: every nats.js connection option, with backplane-friendly defaults.
 *
 * @example
 * ```ts
 * const opts: ConnectNatsOptions = { servers: ["127.0.0.1:4222"], name: "api-1" };
 * ```
 */
export type ConnectNatsOptions = nats.ConnectionOptions;

/**
 * Backplane defaults: reconnect forever (with jitter, so a restarted server is not stampeded), ping every 5 s and
 * declare the connection stale after 2 missed pongs (a dead server is noticed in seconds, not minutes), wait for
 * a server that is not up yet instead of failing the first connect, and no stack capture per request.
 *
 * @example
 * ```ts
 * console.log(NATS_CONNECT_DEFAULTS.maxReconnectAttempts); // -1
 * ```
 */
export const NATS_CONNECT_DEFAULTS: Readonly<ConnectNatsOptions> = Object.freeze({
  maxReconnectAttempts: -1,
  reconnectTimeWait: 250,
  reconnectJitter: 250,
  reconnectJitterTLS: 500,
  pingInterval: 5_000,
  maxPingOut: 2,
  waitOnFirstConnect: true,
  timeout: 5_000,
  // nats.js captures a stack trace per request by default; owner-bound publishes are requests, so skip it.
  noAsyncTraces: true,
});

/**
 * Connect to NATS with {@link NATS_CONNECT_DEFAULTS} (any option you pass wins).
 *
 * @example
 * ```ts
 * const nc = await connectNats({ servers: ["127.0.0.1:4222"], name: "api-1" });
 * const ex = new NatsExchange(nc);
 * ```
 */
export async function connectNats(options: ConnectNatsOptions = {}): Promise<NatsConnection> {
  const { connect } = await importPeer("nats", "connectNats()", () => import("nats"));
  return connect({ ...NATS_CONNECT_DEFAULTS, ...options });
}
