// The Redis exchange over ioredis clients (the README says both node-redis and ioredis are accepted): the exchange
// contract suite, and a publish that rejects typed within timeoutMs while Redis is unreachable.
import { describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import { Redis } from "ioredis";
import { RedisExchange } from "../src/exchange/redis.ts";
import { isEdgeplaneError } from "../src/errors.ts";
import { CONTRACT_HISTORY, exchangeContract } from "./helpers/exchange-contract.ts";
import { startRedis } from "./helpers/redis-server.ts";
import { waitUntil } from "./helpers/process.ts";

function ioredisExchange(url: string, nodeId: string, opts: { timeoutMs?: number } = {}) {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const subscriber = new Redis(url, { lazyConnect: true });
  client.on("error", () => {});
  subscriber.on("error", () => {});
  const ex = new RedisExchange({
    client,
    subscriber,
    nodeId,
    historySize: CONTRACT_HISTORY,
    timeoutMs: opts.timeoutMs ?? 10_000,
    gapTimeoutMs: 10_000,
    onClose: () => {
      client.disconnect();
      subscriber.disconnect();
    },
  });
  return { ex, connect: () => Promise.all([client.connect(), subscriber.connect()]) };
}

exchangeContract("redis over ioredis", async () => {
  const server = await startRedis();
  const made = ["ia", "ib", "ic"].map((n) => ioredisExchange(server.url, n));
  await Promise.all(made.map((m) => m.connect()));
  const nodes = made.map((m) => m.ex);
  return {
    nodes,
    cleanup: async () => {
      await Promise.all(nodes.map((n) => n.close()));
      await server.stop();
    },
  };
}, { subscribeThenPublish: true });

describe("redis exchange over ioredis: Redis unreachable", () => {
  it("a publish rejects with BACKPLANE_UNAVAILABLE within timeoutMs; after Redis is back, publishing and delivery resume", { timeout: 120_000 }, async () => {
    const server = await startRedis();
    const { ex, connect } = ioredisExchange(server.url, "iu", { timeoutMs: 500 });
    try {
      await connect();
      await ex.ready();
      const got: string[] = [];
      let live = false;
      ex.subscribe("down-room", (m) => got.push(m.payload as string), { onEvent: (e) => void (live ||= e.type === "position") });
      await waitUntil(() => live, "positioned");
      await ex.publish("down-room", "before");
      server.child.kill("SIGSTOP");
      try {
        const err = await ex.publish("down-room", "during").then(() => undefined, (e) => e);
        assert(isEdgeplaneError(err, "BACKPLANE_UNAVAILABLE"), `typed failure, got ${err}`);
      } finally {
        server.child.kill("SIGCONT");
      }
      await ex.publish("down-room", "after");
      await waitUntil(() => got.includes("after"), "delivered after Redis woke up", 30_000);
      // "during" timed out but may have run once Redis woke up; it is never delivered twice or out of order.
      assertEquals(got.filter((p) => p !== "during"), ["before", "after"]);
      assert(got.indexOf("during") === -1 || got.indexOf("during") === 1);
    } finally {
      await ex.close();
      await server.stop();
    }
  });
});
