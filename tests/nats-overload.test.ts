// NATS exchange under overload (issue 16), with default settings: three node processes (Node, Deno, Bun) on our own
// nats-server. (1) Each bursts 5,000 publishes into one room as fast as the API allows (all issued at once), while
// the room's owner stalls its event loop for 1 s mid-burst → no rejection (publishes wait for an in-flight slot
// instead), acked seqs exactly 1..15,000 with each publisher's order, every node delivers the same contiguous order,
// each message once. (2) The same with 1,000 rooms (5 publishes per room per node). Prints the largest event-loop
// stall and the in-flight high-water mark each node saw.
import { describe, it } from "node:test";
import { assert, assertEquals, assertLessOrEqual } from "@std/assert";
import { natsProcs } from "./helpers/nats-node.ts";
import { waitUntil } from "./helpers/process.ts";

type Digest = { count: number; first: number; last: number; contiguous: boolean; uniqueIds: number; hash: string; orderOk: boolean; discontinuities: number };
type PubResult = { acked: Array<[number, number, string]>; errors: Record<string, number>; maxSettleMs: number };
type Status = { counters: Record<string, number> };

describe("nats exchange under overload (node, deno, bun; default settings)", () => {
  const fleet = natsProcs("o", "ov", {});

  const report = async (label: string) => {
    const stalls = await Promise.all(fleet.nodes.map((n) => n.call<{ maxStallMs: number }>("stalls")));
    const st = await Promise.all(fleet.nodes.map((n) => n.call<Status>("status")));
    console.log(`# ${label}: ` + fleet.nodes.map((n, i) =>
      `${n.runtime}: max event-loop stall ${stalls[i].maxStallMs} ms, in-flight high-water ${st[i].counters.inflightHighWater}, ` +
      `admission waits ${st[i].counters.admissionWaits}, retries ${st[i].counters.retries}, timeouts ${st[i].counters.requestTimeouts}, ` +
      `lease lapses ${st[i].counters.leaseLapses}, acks withheld ${st[i].counters.acksWithheld}`
    ).join("; "));
    return st;
  };

  it("3 × 5,000 publishes into one room at once, owner stalled 1 s: 0 rejections, one order, each delivered once", async () => {
    const room = "overload-hot";
    const per = 5000;
    for (const n of fleet.nodes) assert((await n.call<{ positioned: boolean }>("subscribe", { rooms: [room] })).positioned);
    await Promise.all(fleet.nodes.map((n) => n.call("stalls"))); // reset the monitors
    const { owners } = await fleet.nodes[0].call<{ owners: string[] }>("owners", { rooms: [room] });
    const owner = fleet.nodes.find((n) => n.nodeId === owners[0])!;
    await owner.call("stall", { ms: 1000, delayMs: 300 });
    const t0 = Date.now();
    const results = await Promise.all(fleet.nodes.map((n) => n.call<PubResult>("publish", { room, tag: n.runtime, count: per, window: per })));
    const took = Date.now() - t0;
    for (const [i, r] of results.entries()) {
      assertEquals(r.errors, {}, `${fleet.nodes[i].runtime}: no publish rejected`);
      assertEquals(r.acked.length, per);
    }
    const seqs = results.flatMap((r) => r.acked.map((a) => a[1])).sort((a, b) => a - b);
    assertEquals(seqs, Array.from({ length: 3 * per }, (_, i) => i + 1), "acked seqs are exactly 1..15000");
    for (const r of results) {
      const byK = [...r.acked].sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < byK.length; i++) assert(byK[i][1] > byK[i - 1][1], "each publisher's order kept in its acks");
    }
    let digests: Digest[] = [];
    await waitUntil(async () => {
      digests = (await Promise.all(fleet.nodes.map((n) => n.call<{ digests: Digest[] }>("digest", { rooms: [room] })))).map((d) => d.digests[0]);
      return digests.every((d) => d.count >= 3 * per);
    }, "every node delivered the whole burst", 60_000, 100);
    for (const d of digests) {
      assertEquals(d.count, 3 * per, "no duplicate, no loss");
      assert(d.contiguous, "seqs contiguous 1..15000 in delivery order");
      assertEquals(d.uniqueIds, 3 * per);
      assert(d.orderOk, "each publisher's order kept in delivery");
      assertEquals(d.discontinuities, 0);
      assertEquals(d.hash, digests[0].hash, "same id at the same seq on every node");
    }
    const st = await report(`one room, ${3 * per} publishes in ${took} ms (owner ${owner.runtime} stalled 1 s), longest settle ${results.map((r) => r.maxSettleMs).join("/")} ms`);
    for (const s of st) assertLessOrEqual(s.counters.inflightHighWater, 1024, "in-flight bounded by maxInflight");
  });

  it("3 × 5,000 publishes over 1,000 rooms at once: 0 rejections, every room one contiguous order", async () => {
    const rooms = Array.from({ length: 1000 }, (_, i) => `overload-${i}`);
    const per = 5;
    for (const n of fleet.nodes) assert((await n.call<{ positioned: boolean }>("subscribe", { rooms })).positioned);
    await Promise.all(fleet.nodes.map((n) => n.call("stalls")));
    const t0 = Date.now();
    const res = await Promise.all(fleet.nodes.map((n) => n.call<{ acked: number; errors: Record<string, number> }>("publish", { rooms, tag: n.runtime, count: per, window: rooms.length * per })));
    const took = Date.now() - t0;
    for (const [i, r] of res.entries()) {
      assertEquals(r.errors, {}, `${fleet.nodes[i].runtime}: no publish rejected`);
      assertEquals(r.acked, rooms.length * per);
    }
    let all: Digest[][] = [];
    await waitUntil(async () => {
      all = (await Promise.all(fleet.nodes.map((n) => n.call<{ digests: Digest[] }>("digest", { rooms })))).map((d) => d.digests);
      return all.every((ds) => ds.every((d) => d.count >= 3 * per));
    }, "every node delivered every room", 60_000, 200);
    for (let i = 0; i < rooms.length; i++) {
      for (const ds of all) {
        assertEquals(ds[i].count, 3 * per, `room ${rooms[i]}: each message once`);
        assert(ds[i].contiguous && ds[i].orderOk, `room ${rooms[i]} contiguous and in each publisher's order`);
        assertEquals(ds[i].discontinuities, 0);
        assertEquals(ds[i].hash, all[0][i].hash, `room ${rooms[i]} identical on every node`);
      }
    }
    await report(`1,000 rooms, ${3 * rooms.length * per} publishes in ${took} ms`);
  });
});
