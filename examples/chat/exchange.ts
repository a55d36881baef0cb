/**
 * Pick the chat demo's backplane from the environment: `NATS_URL` (comma-separated servers) → NATS exchange,
 * else `REDIS_URL` → Redis exchange, otherwise the embedded memory exchange (one process). `NODE_ID` names the node, `EDGEPLANE_PREFIX` the subjects.
 *
 * @module
 */
import type { Exchange } from "../../src/exchange/exchange.ts";
import { MemoryExchange } from "../../src/exchange/memory.ts";

/** The chosen exchange and how to release what it holds. */
export interface ChosenExchange {
  exchange: Exchange;
  /** One line for the startup log. */
  describe: string;
  /** Close broker connections (after the exchange itself closed). */
  release(): Promise<void>;
}

/**
 * Build the exchange named by the environment.
 *
 * @example
 * ```ts
 * const { exchange, describe } = await exchangeFromEnv((k) => process.env[k]);
 * console.log(describe); // "memory", "nats nats://127.0.0.1:4222" or "redis redis://127.0.0.1:6379"
 * ```
 */
export async function exchangeFromEnv(env: (name: string) => string | undefined): Promise<ChosenExchange> {
  const nodeId = env("NODE_ID") || undefined;
  const natsUrl = env("NATS_URL");
  if (natsUrl) {
    const { connectNats } = await import("../../src/exchange/nats/connect.ts");
    const { NatsExchange } = await import("../../src/exchange/nats/nats-exchange.ts");
    const nc = await connectNats({ servers: natsUrl.split(","), name: nodeId ?? "edgeplane-chat" });
    const exchange = new NatsExchange(nc, { nodeId, prefix: env("EDGEPLANE_PREFIX") || "edgeplane" });
    await exchange.ready();
    return { exchange, describe: `nats ${natsUrl}`, release: () => nc.close() };
  }
  const redisUrl = env("REDIS_URL");
  if (redisUrl) {
    const { connectRedis } = await import("../../src/exchange/redis-connect.ts");
    const exchange = await connectRedis(redisUrl, { nodeId, prefix: env("EDGEPLANE_PREFIX") || "edgeplane" });
    return { exchange, describe: `redis ${redisUrl}`, release: () => Promise.resolve() }; // close() quits its clients
  }
  return { exchange: new MemoryExchange({ nodeId }), describe: "memory", release: () => Promise.resolve() };
}
