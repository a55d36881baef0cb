// Fencing: the owner of a busy room is frozen (SIGSTOP) for longer than the failure detector while two other node
// processes keep publishing into the room, some of their requests landing in the frozen owner's socket. The others
// declare it dead and take the room over; then it wakes up (SIGCONT) and finds those requests queued. Its lease has
// lapsed, so it must not ack them under its old epoch: it steps down, re-validates, gathers and continues above
// the new owner. Checked: no seq acked for two messages, ack and delivery agree, every acked publish is delivered
// everywhere exactly once (or covered by a discontinuity), seqs strictly increase and timestamps never go back.
import { after, before, describe, it } from "node:test";
import { assert, assertEquals, assertGreater } from "@std/assert";
import { type NatsServer, startNatsServer } from "./helpers/nats-server.ts";
import { convergedProcs, type NodeProc, spawnNode } from "./helpers/nats-node.ts";
import { waitUntil } from "./helpers/process.ts";

type PubResult = { acked: Array<[number, number, string]>; errors: Record<string, number>; failedKs: number[] };
type Delivered = { got: Array<[number, string, number, number]>; events: Array<{ type: string; afterSeq?: number; nextSeq?: number }> };

const HB = 250, MISSED = 4, SEND_TIMEOUT = 8000;
/**
 * The others declare the victim dead 1–1.25 s into the freeze (HB × MISSED); publishers that start after that go to the
 * new owner, which takes over within its gather timeout (0.5 s). The freeze ends well before a request to the frozen
 * owner times out (SEND_TIMEOUT / 2 = 4 s), so those requests are still awaited when it wakes up.
 */
const FREEZE_MS = 2600;

describe("nats exchange: a frozen owner is fenced", () => {
  let server: NatsServer;
  let nodes: NodeProc[] = [];
  before(async () => {
    server = await startNatsServer();
    const opts = { heartbeatMs: HB, missedBeats: MISSED, settleBeats: 2, sendTimeout: SEND_TIMEOUT };
    nodes = await Promise.all((["node", "deno", "bun"] as const).map((rt) => spawnNode(rt, { url: server.url, nodeId: `z-${rt}`, prefix: "fence", opts })));
    await convergedProcs(nodes);
  });
  after(async () => {
    for (const n of nodes) n.child.kill("SIGCONT");
    await Promise.all(nodes.map((n) => n.stop()));
    await server?.cleanup();
  });

  it("after a pause past the failure detector the old owner acks nothing under its old epoch", async () => {
    // The victim runs directly under its runtime (deno), so SIGSTOP freezes the process that holds the connection.
    const victim = nodes[1];
    const survivors = [nodes[0], nodes[2]];
    const candidates = Array.from({ length: 200 }, (_, i) => `hot-${i}`);
    const { owners } = await nodes[0].call<{ owners: string[] }>("owners", { rooms: candidates });
    const room = candidates[owners.indexOf(victim.nodeId)];
    assert(room, "found a room owned by the victim");
    for (const n of nodes) assert((await n.call<{ positioned: boolean }>("subscribe", { rooms: [room] })).positioned);

    const pubs: Array<Promise<PubResult>> = survivors.map((s) => s.call<PubResult>("publish", { room, tag: `${s.runtime}a`, count: 1200, window: 8 }));
    // The owner publishes too: its own publishes are sequenced without a round trip, so some are always sequenced but
    // not yet written to its socket when it freezes (their acks must wait until they are out while the lease holds).
    pubs.push(victim.call<PubResult>("publish", { room, tag: "victim", count: 1500, window: 16 }));
    await waitUntil(async () => (await survivors[0].call<{ counts: number[] }>("progress", { rooms: [room] })).counts[0] >= 300, "room under way", 60_000, 20);
    victim.child.kill("SIGSTOP");
    const frozenAt = Date.now();
    const at = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms - (Date.now() - frozenAt))));
    // Fresh publishers during the freeze. Group b starts while the others still think the victim is alive: its requests
    // queue in the frozen owner's socket. Group c starts after it was declared dead: the new owner sequences it.
    await at(500);
    pubs.push(...survivors.map((s) => s.call<PubResult>("publish", { room, tag: `${s.runtime}b`, count: 300, window: 32 })));
    await at(1700);
    pubs.push(...survivors.map((s) => s.call<PubResult>("publish", { room, tag: `${s.runtime}c`, count: 300, window: 8 })));
    await at(FREEZE_MS);
    victim.child.kill("SIGCONT");

    const results = await Promise.all(pubs);
    const typed = new Set(["TIMEOUT", "NO_RESPONDERS", "BACKPLANE_UNAVAILABLE"]);
    for (const r of results) for (const code of Object.keys(r.errors)) assert(typed.has(code), `typed failure ${code}`);
    const acked = results.flatMap((r) => r.acked);
    assertGreater(acked.length, 4000, "most publishes were acknowledged");

    // No seq acknowledged to two different messages.
    const bySeq = new Map<number, string>();
    for (const [, seq, id] of acked) {
      const prev = bySeq.get(seq);
      if (!(prev === undefined || prev === id)) {
        const ds = await Promise.all(nodes.map((n) => n.call<Delivered>("delivered", { room })));
        const around = ds.map((d, i) => `${nodes[i].nodeId}: ${JSON.stringify(d.got.filter((g) => Math.abs(g[0] - seq) <= 3))} ${JSON.stringify(d.events.filter((e) => e.type !== "position").slice(0, 5))}`);
        const sts = await Promise.all(nodes.map((n) => n.call<{ counters: Record<string, number> }>("status")));
        assert(false, `seq ${seq} acked for ${prev} and for ${id}\n${around.join("\n")}\n${sts.map((x) => JSON.stringify({ l: x.counters.leaseLapses, w: x.counters.acksWithheld, g: x.counters.gathers, e: x.counters.epochChanges })).join(" ")}`);
      }
      bySeq.set(seq, id);
    }
    const ackedSeq = new Map(acked.map(([, seq, id]) => [id, seq]));
    const maxAck = Math.max(...acked.map((a) => a[1]));
    await waitUntil(async () => {
      const ds = await Promise.all(nodes.map((n) => n.call<Delivered>("delivered", { room })));
      return ds.every((d) => d.got.length > 0 && d.got[d.got.length - 1][0] >= maxAck);
    }, "every node delivered up to the last acked seq", 30_000, 50);

    const seqToId = new Map<number, string>();
    for (const n of nodes) {
      const d = await n.call<Delivered>("delivered", { room });
      const ids = new Set<string>();
      for (let k = 0; k < d.got.length; k++) {
        const [seq, id, , ts] = d.got[k];
        if (k > 0) {
          assert(seq > d.got[k - 1][0], `${n.nodeId}: seqs strictly increase (${d.got[k - 1][0]} then ${seq})`);
          assert(ts >= d.got[k - 1][3], `${n.nodeId}: timestamps never go back (seq ${seq})`);
        }
        assert(!ids.has(id), `${n.nodeId}: ${id} delivered once`);
        ids.add(id);
        const a = ackedSeq.get(id);
        if (a !== undefined) assertEquals(seq, a, `${n.nodeId}: ${id} delivered at its acked seq`);
        const other = seqToId.get(seq);
        assert(other === undefined || other === id, `seq ${seq} is ${other} on one node and ${id} on ${n.nodeId}`);
        seqToId.set(seq, id);
      }
      if (n === victim) continue; // the victim was frozen: it may have missed messages (they come with a discontinuity)
      const discs = d.events.filter((e) => e.type === "discontinuity");
      for (const [, seq, id] of acked) {
        const covered = discs.some((e) => e.afterSeq! < seq && seq < e.nextSeq!);
        assert(ids.has(id) || covered, `acked ${id} (seq ${seq}) delivered on ${n.nodeId} or covered by a discontinuity`);
      }
    }
    const st = await victim.call<{ counters: Record<string, number> }>("status");
    assertGreater(st.counters.leaseLapses, 0, "the victim noticed its lease had lapsed");
    const epochs = new Set((await survivors[0].call<Delivered>("delivered", { room })).got.map((g) => g[2]));
    console.log(`# fencing: acked ${acked.length}, failures ${JSON.stringify(results.map((r) => r.errors))}, epochs ${[...epochs].join(",")}, ` +
      `victim counters ${JSON.stringify({ leaseLapses: st.counters.leaseLapses, leaseWaits: st.counters.leaseWaits, acksWithheld: st.counters.acksWithheld, stepDowns: st.counters.stepDowns, epochChanges: st.counters.epochChanges })}`);
  });
});
