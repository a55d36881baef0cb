/**
 * edgeplane for crossws (h3, Nitro, Nuxt): {@link edgeplaneSync} is a crossws `sync` driver over any edgeplane
 * exchange (NATS, Redis, memory, chain), with per-topic order, dedupe, gap repair, reported discontinuities, a
 * readiness promise and an ordered publish path.
 *
 * @example
 * ```ts
 * import nodeAdapter from "crossws/adapters/node";
 * import { connectRedis } from "edgeplane";
 * import { edgeplaneSync } from "edgeplane/crossws";
 *
 * const sync = edgeplaneSync(await connectRedis("redis://127.0.0.1:6379"), { channel: "chat" });
 * const ws = nodeAdapter({ sync, hooks: { message: (peer, msg) => peer.publish("lobby", msg.text()) } });
 * await sync.ready();
 * ```
 *
 * @module
 */
export {
  type CrosswsSyncDriver,
  type CrosswsSyncMessage,
  edgeplaneSync,
  type EdgeplaneSync,
  type EdgeplaneSyncCounters,
  type EdgeplaneSyncOptions,
  type EdgeplaneSyncStatus,
  type OrderedData,
  type SyncDiscontinuity,
} from "./sync.ts";
// The exchange types the API above refers to (so this entry point documents on its own).
export type {
  Exchange,
  ExchangeEvent,
  ExchangeState,
  ExchangeStatus,
  Gap,
  RelayResult,
  RoomPosition,
  SeqInfo,
  SequencedMessage,
  SubscribeOptions,
  Unsubscribe,
} from "../exchange/exchange.ts";
export type { Payload } from "../envelope.ts";
