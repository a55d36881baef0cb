// Issue 14: a burst into a room with many local members on two nodes must not freeze either event loop — with the
// old per-message fanout the NATS owner's lease lapsed and publishes were rejected although delivered. Two hub
// processes (this test's runtime) on our own nats-server, 500 members each, both publishing 1,000 messages at once
// into the room: no publish rejected, every member of both nodes gets all 2,000 in order. The test prints the largest
// event-loop stall each node saw (a figure, not an assertion).
import { after, before, describe, it } from "node:test";
import { assertEquals } from "@std/assert";
import { fileURLToPath } from "node:url";
import { type NatsServer, startNatsServer } from "./helpers/nats-server.ts";
import { convergedProcs, type NodeProc, spawnNode } from "./helpers/nats-node.ts";
import { currentRuntime, waitUntil } from "./helpers/process.ts";

const HUB_NODE_MAIN = fileURLToPath(new URL("./helpers/hub-node-main.ts", import.meta.url));
type Stats = { min: number; max: number; gaps: number; maxStallMs: number };

describe("hub over NATS: a 2-node burst into a 500 + 500 member room", () => {
  let server: NatsServer;
  let nodes: NodeProc[] = [];
  before(async () => {
    server = await startNatsServer();
    const rt = currentRuntime();
    // Default NATS timings (heartbeat 1 s, dead after 3), as a user runs it.
    nodes = await Promise.all(["a", "b"].map((id) => spawnNode(rt, { url: server.url, nodeId: `burst-${id}`, prefix: "burst" }, HUB_NODE_MAIN)));
    await convergedProcs(nodes, 30_000);
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await server?.cleanup();
  });

  it("no publish is rejected and every member gets all 2,000 messages in order", async () => {
    const room = "burst-room";
    for (const n of nodes) await n.call("members", { room, n: 500 });
    const results = await Promise.all(nodes.map((n, i) => n.call<{ rejected: Record<string, number> }>("burst", { room, count: 1000, tag: `n${i}` })));
    for (const r of results) assertEquals(r.rejected, {}, "no publish rejected");
    let stats: Stats[] = [];
    await waitUntil(async () => {
      stats = await Promise.all(nodes.map((n) => n.call<Stats>("stats", { room })));
      return stats.every((s) => s.min === 2000);
    }, "every member of both nodes got 2,000 messages", 60_000, 100);
    for (const s of stats) {
      assertEquals(s.max, 2000, "none twice");
      assertEquals(s.gaps, 0, "contiguous seqs");
    }
    console.log(`hub-nats-burst (${currentRuntime()}): max event-loop stall a=${stats[0].maxStallMs} ms, b=${stats[1].maxStallMs} ms`);
  });
});
