// NATS exchange under overload (issue 16), with default settings: three node processes (Node, Deno, Bun) on our own
// nats-server. (1) Each bursts 5,000 publishes into one room as fast as the API allows (all issued at once), while
// the room's owner stalls its event loop for 1 s mid-burst → no rejection (publishes wait for an in-flight slot
// instead), acked seqs exactly 1..15,000 with each publisher's order, every node delivers the same contiguous order,
// each message once. (2) The same with 1,000 rooms (5 publishes per room per node). Prints the largest event-loop
// stall and the in-flight high-water mark each node saw.
import { describe, it } from "node:test";
import { assert, assertEquals, assertLessOrEqual } from "@std/assert";
import { natsProcs } from "./helpers/nats-node.ts";
import { assertAckedInOrder, assertRoomsIdentical, digestsWhenDelivered, type PubResult } from "./helpers/fleet-digests.ts";

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
    assertAckedInOrder(results, per, fleet.nodes.map((n) => n.runtime));
    assertRoomsIdentical(await digestsWhenDelivered(fleet.nodes, [room], 3 * per), [room], 3 * per);
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
    assertRoomsIdentical(await digestsWhenDelivered(fleet.nodes, rooms, 3 * per), rooms, 3 * per);
    await report(`1,000 rooms, ${3 * rooms.length * per} publishes in ${took} ms`);
  });
});
