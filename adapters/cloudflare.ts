/**
 * Cloudflare Workers and Durable Objects adapter.
 *
 * - {@link edgeplaneWorker}: the Worker's `fetch`, routing `/ws`, `/sse`, `/poll` to hub objects by shard.
 * - {@link hubObject}: the hub Durable Object class (a `Hub` holding the shard's WebSockets, SSE streams and
 *   long-poll sessions).
 * - Two backplanes for the hub: {@link DurableObjectExchange} with {@link roomObject} (one authority object per room,
 *   history in Durable Object storage) for Cloudflare-only deployments, or `NatsExchange` over
 *   {@link connectNatsWebSocket} so edge hubs and Node/Deno/Bun nodes share one order per room.
 *
 * @example
 * ```ts
 * // worker.ts (wrangler's `main`)
 * import { edgeplaneWorker, hubObject, roomObject } from "edgeplane/adapters/cloudflare";
 *
 * export const EdgeplaneHub = hubObject();   // binding EDGEPLANE_HUB
 * export const EdgeplaneRoom = roomObject(); // binding EDGEPLANE_ROOM
 * export default edgeplaneWorker({ shards: 4 });
 * ```
 *
 * @module
 */
export { edgeplaneWorker, type EdgeplaneWorker, SHARD_HEADER, type WorkerOptions } from "./cloudflare/worker.ts";
export { durableObjectExchange, hubObject, type HubObjectClass, type HubObjectContext, type HubObjectOptions } from "./cloudflare/hub-object.ts";
export { roomObject, type RoomObjectClass, type RoomObjectOptions } from "./cloudflare/room-object.ts";
export { DurableObjectExchange, type DurableObjectExchangeOptions } from "./cloudflare/do-exchange.ts";
export {
  connectNatsWebSocket,
  type ConnectNatsWebSocketOptions,
  NATS_WS_CONNECT_DEFAULTS,
  type NatsWsConnection,
} from "../src/exchange/nats/ws-connect.ts";
export type {
  DurableObjectIdLike,
  DurableObjectNamespaceLike,
  DurableObjectStateLike,
  DurableObjectStorageLike,
  DurableObjectStubLike,
  ExecutionContextLike,
  WorkerWebSocket,
} from "./cloudflare/_types.ts";
// A Worker bundle must not import the package root: it also exports `connectNats` and with it the TCP client of
// `nats` v2, which does not bundle for Workers. What a Worker needs from the core is re-exported here.
export { NatsExchange, type NatsExchangeOptions } from "../src/exchange/nats/nats-exchange.ts";
export { broadcastTransport, type BroadcastTransportOptions, type EdgeplaneBroadcastTransport } from "../src/broadcast-transport.ts";
