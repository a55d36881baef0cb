/**
 * edgeplane — realtime fanout for TypeScript servers that outgrow one process.
 *
 * A web-standard core (connection and room registries, bounded per-connection queues, chunked fanout), a pluggable
 * backplane ("exchange") that gives every room one global order, and thin adapters for Node, Deno and Bun.
 *
 * @example
 * ```ts
 * import { Hub, MemoryExchange } from "edgeplane";
 *
 * const hub = new Hub({ exchange: new MemoryExchange() });
 * const conn = hub.connect({ write: (frames) => frames.forEach((f) => console.log(f.text)), close() {} });
 * await hub.join(conn.id, "lobby");
 * const { seq } = await hub.publish("lobby", "hello"); // seq === 1, conn receives it
 * ```
 *
 * @module
 */
export { EdgeplaneError, type ErrorCode, isEdgeplaneError } from "./src/errors.ts";
export {
  createEnvelope,
  decodeEnvelope,
  DEFAULT_LIMITS,
  encodeEnvelope,
  type Envelope,
  ENVELOPE_VERSION,
  type EnvelopeLimits,
  type Payload,
  type PayloadKind,
  validateEnvelope,
  validateId,
  validatePayload,
  validateRoom,
} from "./src/envelope.ts";
export {
  type Exchange,
  type ExchangeEvent,
  type ExchangeState,
  type ExchangeStatus,
  type Gap,
  isGap,
  type SeqInfo,
  type SequencedMessage,
  type SubscribeOptions,
  type Unsubscribe,
} from "./src/exchange/exchange.ts";
export { MemoryBus, type MemoryBusOptions, MemoryExchange, type MemoryExchangeOptions } from "./src/exchange/memory.ts";
export type { HistoryLimits } from "./src/exchange/_history.ts";
export { DEFAULT_QUEUE, type FrameSink, OutboundQueue, type QueueOptions, type SendOutcome } from "./src/local/queue.ts";
export { Registry } from "./src/local/registry.ts";
export { fanout, type FanoutOptions, type FanoutResult, type FanoutTarget } from "./src/local/fanout.ts";
export {
  type ClientFrame,
  errorFrame,
  type Frame,
  frame,
  MAX_CLIENT_FRAME_BYTES,
  MAX_PRESENCE_META_BYTES,
  messageFrame,
  parseClientFrame,
  type ServerFrame,
} from "./src/protocol.ts";
export {
  type DrainResult,
  Hub,
  type HubAction,
  type HubConnection,
  type HubMetrics,
  type HubOptions,
  type JoinResult,
} from "./src/hub.ts";
export {
  Cluster,
  type ClusterHost,
  type ClusterOptions,
  type ClusterStatus,
  nodeOfConnection,
  type PresenceEntry,
} from "./src/cluster/cluster.ts";
export {
  type BroadcastListener,
  broadcastTransport,
  type BroadcastTransportOptions,
  type EdgeplaneBroadcastTransport,
  type PublishInfo,
} from "./src/broadcast-transport.ts";

// ---- transports + client (issue 4) ----
// Runtime adapters and the browser client are entry points of their own: edgeplane/adapters/{hono,node,deno,bun} and
// edgeplane/client (dependency-free, bundled to dist/client.js), so importing the core never loads a runtime's server
// or ships the client twice.
export { type Connection, type ConnectionAuthorizer, type TransportKind, type TransportOptions } from "./src/transport/connection.ts";
export {
  acceptWebSocket,
  webSocketConnection,
  type WebSocketHandlers,
  type WebSocketLike,
  type WebSocketTransportOptions,
} from "./src/transport/websocket.ts";
export { type SseOptions, SseTransport } from "./src/transport/sse.ts";
export {
  admit,
  type AdmissionOptions,
  type AllowedOrigins,
  checkOrigin,
  originAllowed,
  refusalResponse,
} from "./src/transport/admission.ts";
export {
  type ConnectionLimits,
  identityKey,
  type PublishRate,
  type RefusalCounts,
  type RequestRefusal,
} from "./src/limits.ts";
export { type LongPollOptions, LongPollTransport } from "./src/transport/long-poll.ts";

// ---- NATS exchange (issue 5) ----
export {
  createNatsExchange,
  type NatsConnectionLike,
  NatsExchange,
  type NatsExchangeOptions,
  type NatsHeadersLike,
  type NatsMsgLike,
  type NatsSubscriptionLike,
} from "./src/exchange/nats/nats-exchange.ts";
export {
  connectNats,
  type ConnectNatsOptions,
  NATS_CONNECT_DEFAULTS,
  type NatsConnection,
} from "./src/exchange/nats/connect.ts";
export type { HeadersFactory } from "./src/exchange/nats/_codec.ts";

// ---- Redis exchange and chain (issue 7) ----
export {
  RedisExchange,
  type RedisCommandClient,
  type RedisExchangeOptions,
  type RedisSeqInfo,
  type RedisSubscriberClient,
} from "./src/exchange/redis.ts";
export { connectRedis, type ConnectRedisOptions } from "./src/exchange/redis-connect.ts";
export { chain, ChainExchange, type ChainMember, type ChainOptions } from "./src/exchange/chain.ts";
export type { RelayResult, RoomPosition } from "./src/exchange/exchange.ts";

// ---- metrics ----
export { prometheusText } from "./src/metrics.ts";

// ---- crossws sync driver (issue 21; also the `edgeplane/crossws` entry point, src/crossws/mod.ts) ----
export * from "./src/crossws/sync.ts";
