// The chain passes the exchange contract in both migration shapes: authority = the old broker (phase 2: Redis
// sequences, every message is relayed to the new broker) and authority = the new broker (phase 3: the old one is sealed
// and relayed to). The "new broker" here is the memory exchange (a shared MemoryBus = one broker for all nodes).
import { describe, it } from "node:test";
import { assert, assertEquals, assertRejects } from "@std/assert";
import { chain, type ChainExchange } from "../src/exchange/chain.ts";
import { MemoryBus, MemoryExchange } from "../src/exchange/memory.ts";
import { connectRedis } from "../src/exchange/redis-connect.ts";
import type { SequencedMessage } from "../src/exchange/exchange.ts";
import { isEdgeplaneError } from "../src/errors.ts";
import { CONTRACT_HISTORY, exchangeContract } from "./helpers/exchange-contract.ts";
import { chainExtensionContract } from "./helpers/chain-extension-contract.ts";
import { startRedis } from "./helpers/redis-server.ts";
import { waitUntil } from "./helpers/process.ts";

function chainContract(label: string, authority: "redis" | "memory") {
  exchangeContract(label, async () => {
    const server = await startRedis();
    const bus = new MemoryBus({ history: { maxMessages: CONTRACT_HISTORY } });
    const nodes: ChainExchange[] = [];
    for (const id of ["a", "b", "c"]) {
      // Generous bounds: the shared test machine is sometimes overloaded far beyond what 2 s timeouts are for.
      const redis = await connectRedis(server.url, { nodeId: id, historySize: CONTRACT_HISTORY, timeoutMs: 10_000, gapTimeoutMs: 10_000 });
      const memory = new MemoryExchange({ bus, nodeId: id });
      nodes.push(chain([{ name: "redis", exchange: redis }, { name: "memory", exchange: memory }], { authority }));
    }
    return {
      nodes,
      cleanup: async () => {
        await Promise.all(nodes.map((n) => n.close()));
        await server.stop();
      },
    };
  }, { subscribeThenPublish: true });
}

// The memory exchange as a chain member: the chain extension contract (relay, seed, seal, positions).
chainExtensionContract("memory", () => {
  const bus = new MemoryBus();
  const nodes = [new MemoryExchange({ bus, nodeId: "ma" }), new MemoryExchange({ bus, nodeId: "mb" })];
  return Promise.resolve({ nodes, cleanup: async () => void (await Promise.all(nodes.map((n) => n.close()))) });
});

chainContract("chain [redis, memory] authority=redis", "redis");
chainContract("chain [redis, memory] authority=memory (redis sealed)", "memory");

describe("chain exchange", () => {
  it("switching authority seeds the new one from the old counter with epoch + 1; no seq reused; old publishers follow the seal", { timeout: 120_000 }, async () => {
    const oldBus = new MemoryBus(), newBus = new MemoryBus();
    const old = (id: string) => ({ name: "old", exchange: new MemoryExchange({ bus: oldBus, nodeId: id }) });
    const neu = (id: string) => ({ name: "new", exchange: new MemoryExchange({ bus: newBus, nodeId: id }) });
    const p2 = chain([old("n1"), neu("n1")], { authority: "old" });
    const p2b = chain([old("n2"), neu("n2")], { authority: "old" });
    const listenNew = new MemoryExchange({ bus: newBus, nodeId: "l" }); // a phase-4 node: new broker only
    const got: SequencedMessage[] = [];
    listenNew.subscribe("r", (m) => got.push(m));
    await p2.ready();
    const before = [];
    for (let i = 0; i < 10; i++) before.push(await p2.publish("r", `p2-${i}`));
    assertEquals(before.map((x) => x.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const oldEpoch = before[9].epoch!;
    await waitUntil(() => got.length === 10, "relayed to the new broker");
    // Phase 3 on one node: seal the old broker, seed the new one.
    const p3 = chain([old("n3"), neu("n3")], { authority: "new" });
    await p3.ready();
    await p3.seeded();
    const a = await p3.publish("r", "p3-0");
    assertEquals(a.seq, 11, "continues after the old counter");
    assertEquals(a.epoch, oldEpoch + 1, "under epoch + 1");
    // A node still configured for phase 2 follows the seal instead of sequencing on the old broker.
    const b = await p2b.publish("r", "p2b-late");
    assertEquals(b.seq, 12);
    assertEquals(p2b.authority, "new");
    assertEquals(p2b.status().counters.authoritySwitches, 1);
    // Plain publishers on the sealed broker are refused, loudly.
    const err = await assertRejects(() => new MemoryExchange({ bus: oldBus }).publish("r", "x"));
    assert(isEdgeplaneError(err, "BACKPLANE_UNAVAILABLE"));
    await waitUntil(() => got.length === 12, "new-broker listener got everything once");
    assertEquals(got.map((m) => m.seq), Array.from({ length: 12 }, (_, i) => i + 1));
    assertEquals(new Set(got.map((m) => m.id)).size, 12);
    // And the old broker received the new authority's messages unchanged (relay).
    const oldTail = await old("x").exchange.history("r", 10);
    assert(Array.isArray(oldTail));
    assertEquals(oldTail.map((m) => [m.seq, m.epoch, m.id]), got.slice(10).map((m) => [m.seq, m.epoch, m.id]));
    await Promise.all([p2.close(), p2b.close(), p3.close(), listenNew.close()]);
  });

  it("a relay failure is retried and counted; the publish does not fail", { timeout: 120_000 }, async () => {
    const bus = new MemoryBus();
    const flaky = new MemoryExchange({ bus: new MemoryBus(), nodeId: "f" });
    let failures = 3;
    const realRelay = flaky.relay.bind(flaky);
    flaky.relay = (m) => (failures-- > 0 ? Promise.reject(new Error("broker hiccup")) : realRelay(m));
    const c = chain([{ name: "a", exchange: new MemoryExchange({ bus, nodeId: "x" }) }, { name: "b", exchange: flaky }], { authority: "a", relayRetryMs: 5 });
    await c.ready();
    const info = await c.publish("r", "hello");
    assertEquals(info.seq, 1);
    await waitUntil(() => c.status().counters.relayed === 1, "relay landed after retries");
    const s = c.status().counters;
    assertEquals(s.relayFailures, 3);
    assertEquals(s.relayRetries, 3);
    assertEquals(s.relayDropped, 0);
    const h = await flaky.history("r", 0);
    assert(Array.isArray(h) && h.length === 1 && h[0].payload === "hello");
    // The authority failing does fail the publish.
    const broken = chain([{ name: "a", exchange: new MemoryExchange({ bus }) }, { name: "b", exchange: new MemoryExchange() }], { authority: "a" });
    await broken.members[0].exchange.close();
    await assertRejects(() => broken.publish("r", "x"));
    await Promise.all([c.close(), broken.close()]);
  });
});

describe("chain exchange: idempotency across the seal", () => {
  it("a publish retried with the same id after the old broker was sealed keeps its first seq", { timeout: 120_000 }, async () => {
    const oldBus = new MemoryBus(), newBus = new MemoryBus();
    const p2 = chain([{ name: "old", exchange: new MemoryExchange({ bus: oldBus }) }, { name: "new", exchange: new MemoryExchange({ bus: newBus }) }], { authority: "old" });
    const id = "retried000000000000000000000000a";
    const first = await p2.publish("r", "once", { id });
    const p3 = chain([{ name: "old", exchange: new MemoryExchange({ bus: oldBus }) }, { name: "new", exchange: new MemoryExchange({ bus: newBus }) }], { authority: "new" });
    await p3.ready(); // seals "old"
    const again = await p2.publish("r", "once", { id });
    assertEquals(again.seq, first.seq, "the old authority still answers for ids it sequenced");
    const next = await p2.publish("r", "next");
    assertEquals(next.seq, first.seq + 1, "new ids go to the new authority");
    assertEquals(p2.authority, "new");
    await Promise.all([p2.close(), p3.close()]);
  });
});

describe("chain exchange: a non-authority member that is down", () => {
  it("publishes succeed, relays are retried then counted as dropped, subscriptions still start", { timeout: 120_000 }, async () => {
    const down = new MemoryExchange({ nodeId: "down" });
    await down.close();
    const c = chain([{ name: "a", exchange: new MemoryExchange({ nodeId: "up" }) }, { name: "b", exchange: down }], {
      authority: "a",
      relayMaxAttempts: 2,
      relayRetryMs: 5,
      positionTimeoutMs: 50,
    });
    await c.ready();
    const got: SequencedMessage[] = [];
    c.subscribe("r", (m) => got.push(m));
    const acks = [];
    for (let i = 0; i < 3; i++) acks.push(await c.publish("r", `m${i}`));
    assertEquals(acks.map((a) => a.seq), [1, 2, 3]);
    await waitUntil(() => got.length === 3, "delivered through the authority");
    await waitUntil(() => c.status().counters.relayDropped === 3, "every relay dropped after its attempts, and counted");
    const s = c.status().counters;
    assertEquals(s.relayFailures, 6);
    assertEquals(s.relayRetries, 3);
    await c.close();
  });
});
