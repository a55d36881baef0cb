// The seal of a NATS backplane (chain extension, docs/design.md §4 "Seal and positions"), beyond the chain extension
// contract: concurrent seals with different authorities converge on one; a node that joins after the seal learns it
// before it is ready and refuses after it took rooms over; a node frozen (SIGSTOP) while the seal spread refuses
// when it wakes up, also for a publish that was queued in its socket; a live node that does not answer makes seal()
// and positions() reject in time (typed), instead of resolving while a node may still sequence.
import { after, describe, it } from "node:test";
import { assert, assertEquals, assertRejects } from "@std/assert";
import { connect } from "nats";
import { EdgeplaneError } from "../src/errors.ts";
import { isGap } from "../src/exchange/exchange.ts";
import { type NatsServer, startNatsServer } from "./helpers/nats-server.ts";
import { converged, FAST, natsNodes } from "./helpers/nats-nodes.ts";
import { spawnNode } from "./helpers/nats-node.ts";
import { waitUntil } from "./helpers/process.ts";

let server: NatsServer | undefined;
const shared = async () => (server ??= await startNatsServer());

async function sealedError(p: Promise<unknown>): Promise<EdgeplaneError> {
  const err = await assertRejects(() => p, EdgeplaneError);
  assertEquals(err.code, "BACKPLANE_UNAVAILABLE");
  return err;
}

describe("nats exchange: seal", () => {
  after(async () => {
    await server?.cleanup();
  });

  it("concurrent seals with different authorities converge on one, returned by every call and refused everywhere", { timeout: 60_000 }, async () => {
    const s = await shared();
    const set = await natsNodes([s.url], 3, { prefix: "seal-race" });
    try {
      const rooms = Array.from({ length: 6 }, (_, i) => `conc-${i}`);
      for (const room of rooms) await set.exs[0].publish(room, "before");
      const results = await Promise.all(set.exs.map((ex, i) => ex.seal(`authority-${i}`)));
      assertEquals(new Set(results).size, 1, `one seal in force: ${results.join(" ")}`);
      const inForce = results[0];
      assert(["authority-0", "authority-1", "authority-2"].includes(inForce));
      for (const ex of set.exs) assertEquals(ex.sealedBy, inForce);
      // Later seals return the one in force.
      assertEquals(await set.exs[2].seal("latecomer"), inForce);
      for (const ex of set.exs) {
        for (const room of rooms) assertEquals((await sealedError(ex.publish(room, "after"))).details?.sealedBy, inForce);
      }
    } finally {
      await set.close();
    }
  });

  it("a node that joins after the seal knows it once ready, and refuses in the rooms it takes over", { timeout: 60_000 }, async () => {
    const s = await shared();
    const set = await natsNodes([s.url], 2, { prefix: "seal-late" });
    let setClosed = false;
    try {
      const rooms = Array.from({ length: 8 }, (_, i) => `late-${i}`);
      const before = new Map<string, number>();
      for (const room of rooms) before.set(room, (await set.exs[0].publish(room, "before")).seq);
      assertEquals(await set.exs[1].seal("redis"), "redis");
      // A new node on the sealed backplane.
      const again = await natsNodes([s.url], 1, { prefix: "seal-late", nodeId: "joiner" });
      try {
        const joiner = again.exs[0];
        assertEquals(joiner.sealedBy, "redis", "learned from heartbeats before it was ready");
        await converged([...set.exs, joiner]);
        // Rooms whose owner is the joiner now have not been used since it joined (ownership moves lazily): the old owners'
        // close() hands them over too, so their names, positions and history survive.
        // The sealed nodes leave one after the other (handoff): the joiner owns every room now.
        for (const ex of set.exs) await ex.close();
        setClosed = true;
        await set.close();
        await waitUntil(() => joiner.members().length === 1, "the others left");
        for (const room of rooms) {
          assertEquals(joiner.ownerOf(room), joiner.nodeId);
          assertEquals((await sealedError(joiner.publish(room, "after"))).details?.sealedBy, "redis");
          const h = await joiner.history(room, 0);
          assert(!isGap(h) && h.length === 1 && h[0].seq === before.get(room), `${room}: history kept across the handoff: ${JSON.stringify(h)}`);
        }
        const listed = new Map<string, number>();
        for await (const p of joiner.positions()) listed.set(p.room, p.seq);
        for (const room of rooms) assertEquals(listed.get(room), before.get(room), `${room} in positions()`);
      } finally {
        await again.close();
      }
    } finally {
      if (!setClosed) await set.close();
    }
  });

  it("a live node that does not answer makes seal() and positions() reject within sendTimeout; once it is gone, seal resolves", { timeout: 60_000 }, async () => {
    const s = await shared();
    const sendTimeout = 1500;
    const set = await natsNodes([s.url], 2, { prefix: "seal-ghost", sendTimeout });
    // A "node" that heartbeats but never answers anything (not eligible: it owns no room).
    const nc = await connect({ servers: s.url });
    const beat = () => nc.publish("seal-ghost.hb", new TextEncoder().encode(JSON.stringify({ n: "ghost", e: 0, k: 1 })));
    beat();
    const timer = setInterval(beat, FAST.heartbeatMs! / 2);
    try {
      await waitUntil(() => set.exs.every((e) => e.members().includes("ghost")), "ghost is a member");
      let t0 = Date.now();
      const err = await assertRejects(() => set.exs[0].seal("redis"), EdgeplaneError);
      assertEquals(err.code, "TIMEOUT");
      assertEquals(err.details?.pending, ["ghost"]);
      assert(Date.now() - t0 < sendTimeout + 1000, `bounded: ${Date.now() - t0} ms`);
      // The seal holds where it arrived, though: publishes are refused already.
      assertEquals((await sealedError(set.exs[1].publish("ghost-room", "x"))).details?.sealedBy, "redis");
      t0 = Date.now();
      const perr = await assertRejects(async () => {
        for await (const _ of set.exs[1].positions()) { /* drain */ }
      }, EdgeplaneError);
      assertEquals([perr.code, perr.details?.pending], ["TIMEOUT", ["ghost"]]);
      assert(Date.now() - t0 < sendTimeout + 1000, `bounded: ${Date.now() - t0} ms`);
      clearInterval(timer);
      await waitUntil(() => set.exs.every((e) => !e.members().includes("ghost")), "ghost declared dead", 20_000);
      assertEquals(await set.exs[0].seal("redis"), "redis");
    } finally {
      clearInterval(timer);
      await nc.close();
      await set.close();
    }
  });

  it("an owner frozen (SIGSTOP) while the seal spreads refuses when it wakes up, also the publish queued in its socket", { timeout: 120_000 }, async () => {
    const s = await shared();
    const opts = { ...FAST, sendTimeout: 3000 };
    const set = await natsNodes([s.url], 2, { ...opts, prefix: "seal-frozen" });
    // The victim runs directly under Deno, so SIGSTOP freezes the process that holds the connection.
    const victim = await spawnNode("deno", { url: s.url, nodeId: "victim", prefix: "seal-frozen", opts });
    try {
      const candidates = Array.from({ length: 64 }, (_, i) => `frozen-${i}`);
      let room = "";
      await waitUntil(async () => {
        const { owners } = await victim.call<{ owners: string[] }>("owners", { rooms: candidates });
        const i = owners.findIndex((o, k) => o === "victim" && set.exs.every((e) => e.ownerOf(candidates[k]) === "victim"));
        room = candidates[i] ?? "";
        return i >= 0;
      }, "a room the victim owns in every view", 20_000);
      for (let i = 1; i <= 3; i++) assertEquals((await victim.call<{ seq: number }>("publishOne", { room, id: `pre-${i}` })).seq, i);
      victim.child.kill("SIGSTOP");
      // Sent to the frozen owner (still live in the others' views): it waits in the victim's socket.
      const queued = set.exs[1].publish(room, "queued", { id: "queued-1" }).then((i) => ({ seq: i.seq }), (e: EdgeplaneError) => ({ code: e.code, sealedBy: e.details?.sealedBy }));
      const inForce = await set.exs[0].seal("redis");
      assertEquals(inForce, "redis");
      assert(!set.exs[0].members().includes("victim"), "seal resolved only once the frozen node was no live member any more");
      victim.child.kill("SIGCONT");
      assertEquals(await queued, { code: "BACKPLANE_UNAVAILABLE", sealedBy: "redis" });
      await waitUntil(async () => (await victim.call<{ sealedBy: string }>("sealedBy")).sealedBy === "redis", "the victim learned the seal", 20_000);
      const after = await victim.call<{ error?: string; sealedBy?: string }>("publishOne", { room, id: "after-wake" });
      assertEquals(after, { error: "BACKPLANE_UNAVAILABLE", sealedBy: "redis" });
      const h = await set.exs[0].history(room, 0);
      assert(!isGap(h));
      assertEquals(h.map((m) => m.id), ["pre-1", "pre-2", "pre-3"], "nothing sequenced after the seal");
      const st = await victim.call<{ counters: Record<string, number> }>("status");
      assert(st.counters.leaseLapses >= 1, "the victim was fenced (its lease lapsed)");
    } finally {
      victim.child.kill("SIGCONT");
      await victim.stop();
      await set.close();
    }
  });
});
