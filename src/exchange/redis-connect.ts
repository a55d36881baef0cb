/**
 * `connectRedis(url)`: the default way to get a {@link RedisExchange}, using node-redis (`redis` on npm). The core
 * exchange never imports a client; this helper loads `redis` lazily, so only callers of `connectRedis` need it.
 *
 * @module
 */
import { importPeer } from "../_peer.ts";
import { RedisExchange, type RedisExchangeOptions } from "./redis.ts";
import type { RedisCommandClient, RedisSubscriberClient } from "./redis.ts";

/**
 * Options of {@link connectRedis}: the exchange options minus the clients.
 *
 * @example
 * ```ts
 * const opts: ConnectRedisOptions = { prefix: "chat", historySize: 1000, timeoutMs: 2000 };
 * const exchange = await connectRedis("redis://127.0.0.1:6379", opts);
 * ```
 */
export type ConnectRedisOptions = Omit<RedisExchangeOptions, "client" | "subscriber" | "onClose">;

/**
 * Connect two node-redis clients (commands + pub/sub) to `url` and return a ready {@link RedisExchange} that owns
 * them (closing the exchange quits them). Reconnects forever with capped backoff + jitter; commands fail fast while
 * disconnected (no offline queue), so a publish rejects with BACKPLANE_UNAVAILABLE instead of hanging.
 * `redis` is an optional peer dependency: without it this rejects with `MISSING_DEPENDENCY` (`npm install redis`).
 *
 * @example
 * ```ts
 * const ex = await connectRedis("redis://127.0.0.1:6379", { prefix: "chat" });
 * await ex.publish("lobby", "hi");
 * await ex.close();
 * ```
 */
export async function connectRedis(url: string, opts: ConnectRedisOptions = {}): Promise<RedisExchange> {
  const { createClient } = await importPeer("redis", "connectRedis()", () => import("redis"));
  const make = () =>
    createClient({
      url,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: opts.timeoutMs ?? 2000,
        reconnectStrategy: (retries: number) => Math.min(50 * 2 ** Math.min(retries, 6), 1000) + Math.floor(Math.random() * 100),
      },
    });
  const client = make();
  const subscriber = make();
  // node-redis emits "error" on every failed reconnect; an emitter without a listener would throw.
  client.on("error", () => {});
  subscriber.on("error", () => {});
  try {
    await Promise.all([client.connect(), subscriber.connect()]);
  } catch (err) {
    client.destroy();
    subscriber.destroy();
    throw err;
  }
  const ex = new RedisExchange({
    ...opts,
    client: client as unknown as RedisCommandClient,
    subscriber: subscriber as unknown as RedisSubscriberClient,
    onClose: async () => {
      for (const c of [client, subscriber]) {
        try {
          if (c.isOpen) await c.close();
        } catch {
          c.destroy();
        }
      }
    },
  });
  try {
    await ex.ready();
  } catch (err) {
    await ex.close();
    throw err;
  }
  return ex;
}
