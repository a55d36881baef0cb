// The Redis exchange: the exchange contract, the chain extension contract (relay/seed/seal/positions) and the exact
// epoch rule for a Redis that becomes authority after another sequencer.
import { after, describe, it } from "node:test";
import { assertEquals } from "@std/assert";
import { connectRedis } from "../src/exchange/redis-connect.ts";
import { CONTRACT_HISTORY, exchangeContract } from "./helpers/exchange-contract.ts";
import { chainExtensionContract } from "./helpers/chain-extension-contract.ts";
import { type RedisServer, startRedis } from "./helpers/redis-server.ts";

exchangeContract("redis", async () => {
  const server = await startRedis();
  const nodes = await Promise.all(["a", "b", "c"].map((n) => connectRedis(server.url, { nodeId: n, historySize: CONTRACT_HISTORY, timeoutMs: 10_000, gapTimeoutMs: 10_000 })));
  return {
    nodes,
    cleanup: async () => {
      await Promise.all(nodes.map((n) => n.close()));
      await server.stop();
    },
  };
}, { subscribeThenPublish: true });

let extServer: RedisServer | undefined;
let extPrefix = 0;
chainExtensionContract("redis", async () => {
  extServer ??= await startRedis();
  const server = extServer;
  const prefix = `ext${extPrefix++}`;
  // A generous hole wait: the test relays out of order on purpose, and the shared machine is sometimes very slow.
  const nodes = await Promise.all(["xa", "xb"].map((nodeId) => connectRedis(server.url, { nodeId, prefix, timeoutMs: 10_000, gapTimeoutMs: 15_000 })));
  return { nodes, cleanup: async () => void (await Promise.all(nodes.map((n) => n.close()))) };
});

describe("redis exchange: epochs", () => {
  after(async () => {
    await extServer?.stop();
  });

  it("after a seed, the next publish is exactly epoch + 1 (when above the generation), then stays there", { timeout: 120_000 }, async () => {
    extServer ??= await startRedis();
    const ex = await connectRedis(extServer.url, { nodeId: "ep", prefix: "epochs" });
    try {
      const E = ex.status().epoch + 10;
      await ex.seed("room", { seq: 7, epoch: E, timestamp: 1 });
      const a = await ex.publish("room", "a");
      const b = await ex.publish("room", "b");
      assertEquals([a.seq, a.epoch, b.seq, b.epoch], [8, E + 1, 9, E + 1]);
    } finally {
      await ex.close();
    }
  });
});
