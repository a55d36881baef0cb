// SIGKILL the owner of a busy room while two other node processes publish into it (and into rooms they own).
// Acknowledged publishes are delivered everywhere exactly once; the new owner continues with a higher epoch above every
// seq of the old one; rooms owned by the survivors never stall; unacknowledged publishes reject with a typed error.
import { after, before, describe, it } from "node:test";
import { assert, assertEquals, assertGreater } from "@std/assert";
import { type NatsServer, startNatsServer } from "./helpers/nats-server.ts";
import { convergedProcs, type NodeProc, spawnNode } from "./helpers/nats-node.ts";
import { waitUntil } from "./helpers/process.ts";

type PubResult = { acked: Array<[number, number, string]>; errors: Record<string, number>; failedKs: number[] };
type Delivered = { got: Array<[number, string, number]>; events: Array<{ type: string; afterSeq?: number; nextSeq?: number }> };

describe("nats exchange: owner killed while publishing", () => {
  let server: NatsServer;
  let nodes: NodeProc[] = [];
  before(async () => {
    server = await startNatsServer();
    const opts = { heartbeatMs: 250, missedBeats: 4, settleBeats: 2, sendTimeout: 4000 };
    nodes = await Promise.all((["node", "deno", "bun"] as const).map((rt) => spawnNode(rt, { url: server.url, nodeId: `f-${rt}`, prefix: "fo", opts })));
    await convergedProcs(nodes);
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await server?.cleanup();
  });

  it("acked publishes survive, the new epoch continues above, other rooms never stall, failures are typed", async () => {
    const candidates = Array.from({ length: 200 }, (_, i) => `busy-${i}`);
    const { owners } = await nodes[0].call<{ owners: string[] }>("owners", { rooms: candidates });
    const victim = nodes[2];
    const survivors = [nodes[0], nodes[1]];
    const busy = candidates[owners.indexOf(victim.nodeId)];
    const calm = survivors.map((s) => candidates[owners.indexOf(s.nodeId)]);
    assert(busy && calm.every(Boolean), "found rooms for every owner");
    const watched = [busy, ...calm];
    for (const n of nodes) assert((await n.call<{ positioned: boolean }>("subscribe", { rooms: watched })).positioned);

    const perNode = 1500;
    const busyPubs = survivors.map((s) => s.call<PubResult>("publish", { room: busy, tag: s.runtime, count: perNode, window: 16 }));
    const calmPubs = survivors.flatMap((s) => calm.map((room) => s.call<PubResult>("publish", { room, tag: `${s.runtime}`, count: 300, window: 2 })));
    // Kill the owner mid-stream, once the survivors have delivered a good part of the busy room.
    await waitUntil(async () => {
      const p = await survivors[0].call<{ counts: number[] }>("progress", { rooms: [busy] });
      return p.counts[0] >= 400;
    }, "busy room under way", 60_000, 20);
    victim.kill();
    await victim.child.exited;

    const busyRes = await Promise.all(busyPubs);
    const calmRes = await Promise.all(calmPubs);

    // Unacknowledged publishes rejected with typed errors; none vanished.
    const typed = new Set(["TIMEOUT", "NO_RESPONDERS", "BACKPLANE_UNAVAILABLE"]);
    for (const r of busyRes) {
      assertEquals(r.acked.length + r.failedKs.length, perNode, "every publish settled");
      for (const code of Object.keys(r.errors)) assert(typed.has(code), `typed failure ${code}`);
    }
    // Rooms owned by survivors never stalled: no failure at all, no epoch change.
    for (const r of calmRes) assertEquals(r.errors, {}, "calm rooms never fail");

    const acked = busyRes.flatMap((r) => r.acked);
    assertGreater(acked.length, perNode, "most busy-room publishes were acknowledged");
    const maxAck = Math.max(...acked.map((a) => a[1]));
    await waitUntil(async () => {
      const ds = await Promise.all(survivors.map((s) => s.call<Delivered>("delivered", { room: busy })));
      return ds.every((d) => d.got.length > 0 && d.got[d.got.length - 1][0] >= maxAck);
    }, "survivors delivered up to the last acked seq", 30_000, 50);

    const seen = survivors.map(() => new Map<number, string>());
    for (const [i, s] of survivors.entries()) {
      const d = await s.call<Delivered>("delivered", { room: busy });
      const seqs = d.got.map((g) => g[0]);
      for (let k = 1; k < seqs.length; k++) assert(seqs[k] > seqs[k - 1], "delivered seqs strictly increase");
      const ids = new Set(d.got.map((g) => g[1]));
      assertEquals(ids.size, d.got.length, "each id delivered at most once");
      const discs = d.events.filter((e) => e.type === "discontinuity");
      for (const [, seq, id] of acked) {
        const covered = discs.some((e) => e.afterSeq! < seq && seq < e.nextSeq!);
        assert(ids.has(id) || covered, `acked ${id} (seq ${seq}) delivered on ${s.nodeId} or covered by a discontinuity`);
      }
      const firstEpoch = d.got[0][2], lastEpoch = d.got[d.got.length - 1][2];
      assertGreater(lastEpoch, firstEpoch, "the new owner runs a higher epoch");
      const maxOld = Math.max(...d.got.filter((g) => g[2] === firstEpoch).map((g) => g[0]));
      const minNew = Math.min(...d.got.filter((g) => g[2] > firstEpoch).map((g) => g[0]));
      assertGreater(minNew, maxOld, "new epoch seqs are above every old-epoch seq");
      for (const [seq, id] of d.got) seen[i].set(seq, id);
      for (const room of calm) {
        const c = await s.call<Delivered>("delivered", { room });
        await waitUntil(async () => (await s.call<Delivered>("delivered", { room })).got.length >= 600, `calm room ${room} complete`, 20_000, 50);
        const full = await s.call<Delivered>("delivered", { room });
        assertEquals(full.got.map((g) => g[0]), Array.from({ length: 600 }, (_, k) => k + 1), "calm room contiguous");
        assert(full.got.every((g) => g[2] === c.got[0][2]), "calm room kept its epoch");
      }
    }
    const statuses = await Promise.all(survivors.map((s) => s.call<{ counters: Record<string, number> }>("status")));
    console.log(`# failover: acked ${acked.length}/${2 * perNode}, failures ${JSON.stringify(busyRes.map((r) => r.errors))}, ` +
      `counters ${JSON.stringify(statuses.map((st) => ({ epochChanges: st.counters.epochChanges, discontinuities: st.counters.discontinuities, gapsRepaired: st.counters.gapsRepaired, duplicatesDropped: st.counters.duplicatesDropped, requestTimeouts: st.counters.requestTimeouts, noResponders: st.counters.noResponders })))}`);
    // One order: the same seq carries the same id on both survivors (no seq assigned twice).
    for (const [seq, id] of seen[0]) if (seen[1].has(seq)) assertEquals(seen[1].get(seq), id, `seq ${seq}`);
  });
});
