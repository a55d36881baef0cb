/**
 * `connectNatsWebSocket()`: a NATS connection over WebSocket (nats.js v3, `@nats-io/nats-core`'s `wsconnect`), for
 * runtimes without TCP sockets, Cloudflare Workers first. The connection satisfies the exchange's structural
 * connection type, so a Durable Object runs the same {@link NatsExchange} as Node, Deno and Bun nodes and joins their
 * fleet. The server needs a WebSocket listener (`websocket { listen: "0.0.0.0:8443" }` in its config; `no_tls: true`
 * only on loopback or behind a TLS proxy).
 *
 * `@nats-io/nats-core` is an optional peer dependency, loaded on the first call: install it when you use this helper
 * (without it the call rejects with `MISSING_DEPENDENCY`).
 *
 * @module
 */
import type * as natsCore from "@nats-io/nats-core";
import { importPeer } from "../../_peer.ts";

/**
 * Options of {@link connectNatsWebSocket}: every `wsconnect` option; `servers` are `ws://` or `wss://` URLs.
 *
 * @example
 * ```ts
 * const opts: ConnectNatsWebSocketOptions = { servers: ["wss://nats.example.com:8443"], name: "edge-hub-0" };
 * ```
 */
export type ConnectNatsWebSocketOptions = natsCore.WsConnectionOptions;

/**
 * The connection {@link connectNatsWebSocket} returns: a nats.js v3 `NatsConnection` (pass it to `NatsExchange`;
 * close it with `nc.drain()` or `nc.close()` after the exchange).
 *
 * @example
 * ```ts
 * const nc: NatsWsConnection = await connectNatsWebSocket({ servers: "wss://nats.example.com:8443" });
 * ```
 */
export type NatsWsConnection = natsCore.NatsConnection;

/**
 * Backplane defaults for a WebSocket connection (the same intent as `NATS_CONNECT_DEFAULTS` of `connectNats`, which
 * this file does not import so that a Worker bundle never pulls in the TCP client): reconnect forever with jitter,
 * ping every 5 s and call the server gone after 2 missed pongs, wait for a server that is not up yet, and no stack
 * capture per request.
 *
 * @example
 * ```ts
 * console.log(NATS_WS_CONNECT_DEFAULTS.pingInterval); // 5000
 * ```
 */
export const NATS_WS_CONNECT_DEFAULTS: Readonly<ConnectNatsWebSocketOptions> = Object.freeze({
  maxReconnectAttempts: -1,
  reconnectTimeWait: 250,
  reconnectJitter: 250,
  pingInterval: 5_000,
  maxPingOut: 2,
  waitOnFirstConnect: true,
  timeout: 5_000,
  noAsyncTraces: true,
});

/**
 * Connect to NATS over WebSocket with {@link NATS_WS_CONNECT_DEFAULTS} (any option you pass wins).
 *
 * @example
 * ```ts
 * import { NatsExchange } from "edgeplane";
 * import { connectNatsWebSocket } from "edgeplane/adapters/cloudflare";
 *
 * const nc = await connectNatsWebSocket({ servers: "wss://nats.example.com:8443" });
 * const ex = new NatsExchange(nc, { nodeId: "edge-hub-0" });
 * ```
 */
export async function connectNatsWebSocket(options: ConnectNatsWebSocketOptions = {}): Promise<NatsWsConnection> {
  // Loaded on first use: the Durable Object exchange alone never needs the package.
  const { wsconnect } = await importPeer("@nats-io/nats-core", "connectNatsWebSocket()", () => import("@nats-io/nats-core"));
  return wsconnect({ ...NATS_WS_CONNECT_DEFAULTS, ...options });
}
