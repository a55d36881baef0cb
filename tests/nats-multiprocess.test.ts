// Three node processes — one each on Node (tsx), Deno and Bun — on our own nats-server.
// (1) 3 × 3,000 concurrent publishes into one room: every node delivers the same contiguous 1..9000, no duplicate,
//     per-publisher order kept. (2) 1,000 rooms: owners spread (no node above 2× its share), every room contiguous and
//     identical on every node.
import { after, before, describe, it } from "node:test";
import { assert, assertEquals, assertLessOrEqual } from "@std/assert";
import { type NatsServer, startNatsServer } from "./helpers/nats-server.ts";
import { convergedProcs, type NodeProc, spawnNode } from "./helpers/nats-node.ts";
import { FAST } from "./helpers/nats-nodes.ts";

type Digest = { count: number; first: number; last: number; contiguous: boolean; uniqueIds: number; hash: string; orderOk: boolean; discontinuities: number };

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
    const results = await Promise.all(nodes.map((n) => n.call<{ acked: Array<[number, number, string]>; errors: Record<string, number> }>(
      "publish", { room, tag: n.runtime, count: per, window: 100 },
    )));
    for (const r of results) {
      assertEquals(r.errors, {}, "no publish failed");
      assertEquals(r.acked.length, per);
    }
    const seqs = results.flatMap((r) => r.acked.map((a) => a[1])).sort((a, b) => a - b);
    assertEquals(seqs, Array.from({ length: 3 * per }, (_, i) => i + 1), "acked seqs are exactly 1..9000");
    // per-publisher order in the acks too: a node's k-th publish got a lower seq than its (k+1)-th
    for (const r of results) {
      const byK = [...r.acked].sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < byK.length; i++) assert(byK[i][1] > byK[i - 1][1], "per-publisher order kept");
    }
    const deadline = Date.now() + 60_000;
    let digests: Digest[] = [];
    while (Date.now() < deadline) {
      digests = (await Promise.all(nodes.map((n) => n.call<{ digests: Digest[] }>("digest", { rooms: [room] })))).map((d) => d.digests[0]);
      if (digests.every((d) => d.count >= 3 * per)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const d of digests) {
      assertEquals(d.count, 3 * per, "no duplicate, no loss");
      assert(d.contiguous, "seqs contiguous 1..9000 in delivery order");
      assertEquals(d.uniqueIds, 3 * per);
      assert(d.orderOk, "per-publisher order kept in delivery");
      assertEquals(d.discontinuities, 0);
      assertEquals(d.hash, digests[0].hash, "same id at the same seq on every node");
    }
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
    const deadline = Date.now() + 60_000;
    let all: Digest[][] = [];
    while (Date.now() < deadline) {
      all = (await Promise.all(nodes.map((n) => n.call<{ digests: Digest[] }>("digest", { rooms })))).map((d) => d.digests);
      if (all.every((ds) => ds.every((d) => d.count >= 3 * per))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const diag = async () => JSON.stringify(await Promise.all(nodes.map((n) => n.call<{ counters: Record<string, number> }>("status").then((s) => s.counters))));
    for (let i = 0; i < rooms.length; i++) {
      for (const ds of all) {
        if (ds[i].count !== 3 * per) assertEquals(ds[i], { ...ds[i], count: 3 * per }, `room ${rooms[i]}: ${await diag()}`);
        assert(ds[i].contiguous && ds[i].orderOk, `room ${rooms[i]} contiguous and ordered`);
        assertEquals(ds[i].hash, all[0][i].hash, `room ${rooms[i]} identical on every node`);
      }
    }
  });
});
