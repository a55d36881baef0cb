// Three node processes — one each on Node (tsx), Deno and Bun — on our own nats-server.
// (1) 3 × 3,000 concurrent publishes into one room: every node delivers the same contiguous 1..9000, no duplicate,
//     per-publisher order kept. (2) 1,000 rooms: owners spread (no node above 2× its share), every room contiguous and
//     identical on every node.
import { after, before, describe, it } from "node:test";
import { assert, assertEquals, assertLessOrEqual } from "@std/assert";
import { type NatsServer, startNatsServer } from "./helpers/nats-server.ts";
import { convergedProcs, type NodeProc, spawnNode } from "./helpers/nats-node.ts";
import { FAST } from "./helpers/nats-nodes.ts";
import { assertAckedInOrder, assertRoomsIdentical, digestsWhenDelivered, type PubResult } from "./helpers/fleet-digests.ts";


describe("nats exchange across 3 processes (node, deno, bun)", () => {
  let server: NatsServer;
  let nodes: NodeProc[] = [];
  before(async () => {
    server = await startNatsServer();
    const opts = { ...FAST, heartbeatMs: 250, missedBeats: 8, sendTimeout: 5000 };
    nodes = await Promise.all((["node", "deno", "bun"] as const).map((rt) => spawnNode(rt, { url: server.url, nodeId: `p-${rt}`, prefix: "mp", opts })));
    await convergedProcs(nodes);
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await server?.cleanup();
  });

  it("3 × 3,000 concurrent publishes into one room: contiguous 1..9000, identical everywhere, per-publisher order", async () => {
    const room = "hot-room";
    const per = 3000;
    for (const n of nodes) assert((await n.call<{ positioned: boolean }>("subscribe", { rooms: [room] })).positioned);
    const results = await Promise.all(nodes.map((n) => n.call<PubResult>("publish", { room, tag: n.runtime, count: per, window: 100 })));
    assertAckedInOrder(results, per, nodes.map((n) => n.runtime));
    assertRoomsIdentical(await digestsWhenDelivered(nodes, [room], 3 * per), [room], 3 * per);
  });

  it("1,000 rooms: owners spread over the nodes, every room contiguous and identical everywhere", async () => {
    const rooms = Array.from({ length: 1000 }, (_, i) => `spread-${i}`);
    const owners = await Promise.all(nodes.map((n) => n.call<{ owners: string[] }>("owners", { rooms })));
    for (const o of owners) assertEquals(o.owners, owners[0].owners, "all nodes agree on every owner");
    const count = new Map<string, number>();
    for (const o of owners[0].owners) count.set(o, (count.get(o) ?? 0) + 1);
    assertEquals(count.size, 3, `every node owns rooms: ${JSON.stringify([...count])}`);
    for (const [, c] of count) assertLessOrEqual(c, Math.ceil((2 * rooms.length) / 3), "no node owns more than 2× its share");
    for (const n of nodes) assert((await n.call<{ positioned: boolean }>("subscribe", { rooms })).positioned);
    const per = 2;
    const res = await Promise.all(nodes.map((n) => n.call<{ acked: number; errors: Record<string, number> }>("publish", { rooms, tag: n.runtime, count: per, window: 200 })));
    for (const r of res) {
      assertEquals(r.errors, {}, "no publish failed");
      assertEquals(r.acked, rooms.length * per);
    }
    assertRoomsIdentical(await digestsWhenDelivered(nodes, rooms, 3 * per), rooms, 3 * per);
  });
});
