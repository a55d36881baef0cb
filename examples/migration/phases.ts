/**
 * The exchange each migration phase runs (docs/design.md §6). This is the whole config difference between phases; roll
 * it out one node at a time, and only start a phase once every node runs the previous one.
 *
 *   phase 1  old broker only                            e.g. connectRedis(REDIS_URL)
 *   phase 2  chain([old, new], { authority: old })      the old broker sequences; every message is relayed to the new one
 *   phase 3  chain([old, new], { authority: new })      seals the old broker, seeds the new one (seq continues, epoch + 1)
 *   phase 4  new broker only                            after a phase-3 node reported `seedAllDone`
 *
 * Both sides are pluggable: the old broker is Redis (default) or NATS, the new one NATS or Redis, so the same scripts
 * and tests run Redis → NATS, Redis → Redis (a second server), NATS → Redis (the way back) and NATS → NATS (another
 * subject prefix).
 *
 * @module
 */
import { EdgeplaneError } from "../../src/errors.ts";
import { chain } from "../../src/exchange/chain.ts";
import type { Exchange } from "../../src/exchange/exchange.ts";
import { connectRedis } from "../../src/exchange/redis-connect.ts";

/** Migration phase 1..4. */
export type Phase = 1 | 2 | 3 | 4;

/** A broker kind a migration can start from or move to. */
export type BrokerKind = "redis" | "nats";

/** Where the brokers are. */
export interface BrokerConfig {
  /** The old broker's kind (default "redis"). */
  oldKind?: BrokerKind;
  /** The old broker's URL (default `redisUrl`). */
  oldUrl?: string;
  /** The old Redis (when `oldUrl` is not given). */
  redisUrl?: string;
  /** The new broker: kind and URL ("nats" for NATS; "redis" for Redis, e.g. a second server). */
  newKind: BrokerKind;
  newUrl: string;
  /** This node's id (letters, digits, _ and -). */
  nodeId: string;
  /** Key/subject prefix of the app (default "edgeplane"). */
  prefix?: string;
  /** Prefix on the old broker (default `prefix`). */
  oldPrefix?: string;
  /** Prefix on the new broker (default `prefix`, or `${prefix}-new` when both brokers are of one kind). */
  newPrefix?: string;
  /** Bound on one broker round trip, ms (default 2000). */
  timeoutMs?: number;
  /** How long a subscriber waits for a hole to fill before reporting a discontinuity, ms (default 2000). */
  gapTimeoutMs?: number;
}

/** Chain member names of the old and the new broker (`"redis"`, `"nats"`; the new one `"…-new"` if of the same kind). */
export function memberNames(cfg: Pick<BrokerConfig, "oldKind" | "newKind">): { oldName: string; newName: string } {
  const oldName = cfg.oldKind ?? "redis";
  return { oldName, newName: cfg.newKind === oldName ? `${cfg.newKind}-new` : cfg.newKind };
}

/** Connect one broker of `kind` at `url` under `prefix`. */
export async function connectBroker(kind: BrokerKind, url: string, prefix: string, cfg: BrokerConfig): Promise<Exchange> {
  if (kind === "redis") return await connectRedis(url, { nodeId: cfg.nodeId, prefix, timeoutMs: cfg.timeoutMs, gapTimeoutMs: cfg.gapTimeoutMs });
  // The NATS exchange (src/exchange/nats/). Loaded lazily so a Redis-only setup never needs `nats`.
  const { connectNats } = await import("../../src/exchange/nats/connect.ts");
  const { NatsExchange } = await import("../../src/exchange/nats/nats-exchange.ts");
  const nc = await connectNats({ servers: url, name: `${cfg.nodeId}-${prefix}` });
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

/** Connect the old broker. */
export async function connectOld(cfg: BrokerConfig): Promise<Exchange> {
  const url = cfg.oldUrl ?? cfg.redisUrl;
  if (!url) throw new EdgeplaneError("BAD_OPTION", "migration config: oldUrl (or redisUrl) is required");
  return await connectBroker(cfg.oldKind ?? "redis", url, cfg.oldPrefix ?? cfg.prefix ?? "edgeplane", cfg);
}

/** Connect the new broker. */
export function connectNew(cfg: BrokerConfig): Promise<Exchange> {
  const prefix = cfg.prefix ?? "edgeplane";
  const sameKind = cfg.newKind === (cfg.oldKind ?? "redis");
  return connectBroker(cfg.newKind, cfg.newUrl, cfg.newPrefix ?? (sameKind ? `${prefix}-new` : prefix), cfg);
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
  const { oldName, newName } = memberNames(cfg);
  switch (phase) {
    case 1:
      return await connectOld(cfg);
    case 2:
    case 3: {
      const [old, next] = await Promise.all([connectOld(cfg), connectNew(cfg)]);
      return chain([{ name: oldName, exchange: old }, { name: newName, exchange: next }], {
        authority: phase === 2 ? oldName : newName,
        gapTimeoutMs: cfg.gapTimeoutMs,
      });
    }
    case 4:
      return await connectNew(cfg);
  }
}
