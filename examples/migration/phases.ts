/**
 * The exchange each migration phase runs (Redis → NATS, docs/design.md §6). This is the whole config difference between
 * phases; roll it out one node at a time, and only start a phase once every node runs the previous one.
 *
 *   phase 1  redis only                                   connectRedis(REDIS_URL)
 *   phase 2  chain([redis, nats], { authority: "redis" }) Redis sequences; every message is relayed to NATS too
 *   phase 3  chain([redis, nats], { authority: "nats" })  seals Redis, seeds NATS (seq continues, epoch + 1)
 *   phase 4  nats only                                    after a phase-3 node reported `seedAllDone`
 *
 * The "new" broker is pluggable so the same scripts and tests run Redis → NATS and Redis → Redis (a second server).
 *
 * @module
 */
import { chain } from "../../src/exchange/chain.ts";
import type { Exchange } from "../../src/exchange/exchange.ts";
import { connectRedis } from "../../src/exchange/redis-connect.ts";

/** Migration phase 1..4. */
export type Phase = 1 | 2 | 3 | 4;

/** Where the brokers are. */
export interface BrokerConfig {
  /** The old broker (Redis). */
  redisUrl: string;
  /** The new broker: kind and URL ("nats" for NATS; "redis" for a second Redis server, used by tests). */
  newKind: "nats" | "redis";
  newUrl: string;
  /** This node's id (letters, digits, _ and -). */
  nodeId: string;
  /** Key/subject prefix of the app on both brokers (default "edgeplane"). */
  prefix?: string;
  /** Bound on one broker round trip, ms (default 2000). */
  timeoutMs?: number;
  /** How long a subscriber waits for a hole to fill before reporting a discontinuity, ms (default 2000). */
  gapTimeoutMs?: number;
}

/** Connect the new broker. */
export async function connectNew(cfg: BrokerConfig): Promise<Exchange> {
  const prefix = cfg.prefix ?? "edgeplane";
  if (cfg.newKind === "redis") return await connectRedis(cfg.newUrl, { nodeId: cfg.nodeId, prefix: `${prefix}-new`, timeoutMs: cfg.timeoutMs, gapTimeoutMs: cfg.gapTimeoutMs });
  // The NATS exchange (src/exchange/nats/). Loaded lazily so a Redis-only setup never needs `nats`.
  const { connectNats } = await import("../../src/exchange/nats/connect.ts");
  const { NatsExchange } = await import("../../src/exchange/nats/nats-exchange.ts");
  const nc = await connectNats({ servers: cfg.newUrl, name: cfg.nodeId });
  const ex = new NatsExchange(nc, { nodeId: cfg.nodeId, prefix, sendTimeout: cfg.timeoutMs });
  // The NATS exchange never closes the connection it was given; this one is ours.
  const close = ex.close.bind(ex);
  return Object.assign(ex, {
    close: async () => {
      await close();
      await nc.close();
    },
  });
}

/**
 * Build the exchange of `phase`.
 *
 * @example
 * ```ts
 * const ex = await exchangeForPhase(2, { redisUrl: "redis://127.0.0.1:6379", newKind: "nats", newUrl: "nats://127.0.0.1:4222", nodeId: "web-1" });
 * await ex.ready();
 * ```
 */
export async function exchangeForPhase(phase: Phase, cfg: BrokerConfig): Promise<Exchange> {
  const newName = cfg.newKind === "nats" ? "nats" : "redis-new";
  switch (phase) {
    case 1:
      return await connectRedis(cfg.redisUrl, { nodeId: cfg.nodeId, prefix: cfg.prefix, timeoutMs: cfg.timeoutMs, gapTimeoutMs: cfg.gapTimeoutMs });
    case 2:
    case 3: {
      const [redis, next] = await Promise.all([
        connectRedis(cfg.redisUrl, { nodeId: cfg.nodeId, prefix: cfg.prefix, timeoutMs: cfg.timeoutMs, gapTimeoutMs: cfg.gapTimeoutMs }),
        connectNew(cfg),
      ]);
      return chain([{ name: "redis", exchange: redis }, { name: newName, exchange: next }], {
        authority: phase === 2 ? "redis" : newName,
        gapTimeoutMs: cfg.gapTimeoutMs,
      });
    }
    case 4:
      return await connectNew(cfg);
  }
}
