import { describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import { MemoryBus, MemoryExchange } from "../src/exchange/memory.ts";
import { isGap } from "../src/exchange/exchange.ts";
import { CONTRACT_HISTORY, exchangeContract } from "./helpers/exchange-contract.ts";

exchangeContract("memory", () => {
  const bus = new MemoryBus({ history: { maxMessages: CONTRACT_HISTORY } });
  const nodes = [new MemoryExchange({ bus, nodeId: "a" }), new MemoryExchange({ bus, nodeId: "b" }), new MemoryExchange({ bus, nodeId: "c" })];
  return Promise.resolve({ nodes, cleanup: async () => void (await Promise.all(nodes.map((n) => n.close()))) });
}, { subscribeThenPublish: true });

describe("memory exchange", () => {
  it("timestamps never decrease even when the clock goes backwards", async () => {
    let now = 1000;
    const ex = new MemoryExchange({ now: () => now });
    const a = await ex.publish("r", "a");
    now = 500;
    const b = await ex.publish("r", "b");
    assertEquals(a.timestamp, 1000);
    assertEquals(b.timestamp, 1000);
    assertEquals(b.seq, 2);
  });

  it("a subscriber publishing from its callback cannot reorder delivery for others", async () => {
    const ex = new MemoryExchange();
    const seen: number[] = [];
    ex.subscribe("r", (m) => {
      if (m.payload === "first") void ex.publish("r", "nested");
    });
    ex.subscribe("r", (m) => seen.push(m.seq));
    await ex.publish("r", "first");
    await ex.publish("r", "last");
    assertEquals(seen, [1, 2, 3]);
  });

  it("history is bounded by bytes too", async () => {
    const ex = new MemoryExchange({ history: { maxMessages: 1000, maxBytes: 1000 } });
    for (let i = 0; i < 20; i++) await ex.publish("r", "x".repeat(100));
    const h = await ex.history("r", 0);
    assert(isGap(h));
    assertEquals(h.oldestSeq, 11);
    const tail = await ex.history("r", 10);
    assert(!isGap(tail));
    assertEquals(tail.length, 10);
  });
});
