import { describe, it } from "node:test";
import { assertEquals, assertRejects } from "@std/assert";
import type { BroadcastTransport } from "telefunc";
import { broadcastTransport } from "../src/broadcast-transport.ts";
import { MemoryBus, MemoryExchange } from "../src/exchange/memory.ts";
import { EdgeplaneError } from "../src/errors.ts";
import { chain } from "../src/exchange/chain.ts";
import { connectRedis } from "../src/exchange/redis-connect.ts";
import { broadcastContract } from "./helpers/broadcast-contract.ts";
import { startRedis } from "./helpers/redis-server.ts";

// Compile-time check (tsc --noEmit in `npm test`): our transport is a Telefunc 0.2.23 BroadcastTransport.
const _typeCheck: (ex: MemoryExchange) => BroadcastTransport = (ex) => broadcastTransport(ex);
void _typeCheck;

broadcastContract("memory", () => {
  const bus = new MemoryBus();
  const nodes = [new MemoryExchange({ bus }), new MemoryExchange({ bus })];
  return Promise.resolve({ nodes, cleanup: async () => void (await Promise.all(nodes.map((x) => x.close()))) });
}, { subscribeThenPublish: true });

broadcastContract("redis", async () => {
  const server = await startRedis();
  const nodes = await Promise.all(["ba", "bb"].map((nodeId) => connectRedis(server.url, { nodeId, timeoutMs: 10_000 })));
  return { nodes, cleanup: async () => void (await Promise.all(nodes.map((x) => x.close())), await server.stop()) };
}, { subscribeThenPublish: true });

broadcastContract("chain [redis, memory] authority=redis", async () => {
  const server = await startRedis();
  const bus = new MemoryBus();
  const nodes = await Promise.all(["ca", "cb"].map(async (nodeId) => {
    const redis = await connectRedis(server.url, { nodeId, timeoutMs: 10_000 });
    return chain([{ name: "redis", exchange: redis }, { name: "memory", exchange: new MemoryExchange({ bus, nodeId }) }], { authority: "redis" });
  }));
  return { nodes, cleanup: async () => void (await Promise.all(nodes.map((x) => x.close())), await server.stop()) };
}, { subscribeThenPublish: true });

describe("broadcast transport input", () => {
  it("wrong payload types and bad keys reject with typed errors", async () => {
    const t = broadcastTransport(new MemoryExchange());
    assertEquals((await assertRejects(() => t.send("k", new Uint8Array(1) as unknown as string), EdgeplaneError)).code, "BAD_ENVELOPE");
    assertEquals((await assertRejects(() => t.sendBinary("k", "x" as unknown as Uint8Array), EdgeplaneError)).code, "BAD_ENVELOPE");
    assertEquals((await assertRejects(() => t.send("x".repeat(300), "x"), EdgeplaneError)).code, "BAD_ROOM");
  });
});
