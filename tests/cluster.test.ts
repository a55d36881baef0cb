// Cluster features over a shared backplane (memory bus here; the same code runs over NATS/Redis):
// liveness, sendTo, ask, presence convergence, dead-node cleanup, drain.
import { afterEach, describe, it } from "node:test";
import { assert, assertEquals, assertRejects } from "@std/assert";
import { Hub } from "../src/hub.ts";
import { MemoryBus, MemoryExchange } from "../src/exchange/memory.ts";
import { EdgeplaneError } from "../src/errors.ts";
import { RecordingSink } from "./helpers/sinks.ts";
import { waitUntil } from "./helpers/process.ts";

const HB = 40;
let hubs: Hub[] = [];

async function fleet(n: number, onAsk?: (i: number) => ConstructorParameters<typeof Hub>[0] extends infer O ? O extends { onAsk?: infer F } ? F : never : never) {
  const bus = new MemoryBus();
  hubs = Array.from({ length: n }, (_, i) =>
    new Hub({
      exchange: new MemoryExchange({ bus, nodeId: `node${i}` }),
      cluster: { heartbeatMs: HB },
      presence: { intervalMs: 10, listMax: 3 },
      onAsk: onAsk?.(i),
      log: () => {},
    }));
  await Promise.all(hubs.map((h) => h.ready()));
  await waitUntil(() => hubs.every((h) => h.cluster!.nodes().length === n), "every node sees every node");
  return hubs;
}

/** Simulate a crash: the node's backplane goes silent (no bye), its timers keep failing to publish. */
const crash = (hub: Hub) => hub.exchange.close();

afterEach(async () => {
  await Promise.all(hubs.map((h) => h.close()));
  hubs = [];
});

describe("cluster: sendTo and ask", () => {
  it("sendTo reaches a connection on another node; unknown connections are not_found", async () => {
    const [a, b, c] = await fleet(3);
    const sink = new RecordingSink();
    const conn = c.connect(sink);
    assertEquals(await a.sendTo(conn.id, "hello from a"), "delivered");
    assertEquals(await b.sendTo(conn.id, "hello from b"), "delivered");
    assertEquals(await c.sendTo(conn.id, "local"), "delivered");
    await waitUntil(() => sink.ofType("direct").length === 3, "direct frames");
    assertEquals(sink.ofType("direct").map((d) => [d.from, d.data]), [["node0", "hello from a"], ["node1", "hello from b"], ["node2", "local"]]);
    assertEquals(await a.sendTo("node2~nobody", "x"), "not_found");
    assertEquals(await a.sendTo("node9~ghost", "x"), "not_found", "a node that does not exist");
    assertEquals(await a.sendTo("no-node-part", "x"), "not_found");
  });

  it("ask gets the other node's answer, by node id or by connection id; errors keep their codes", async () => {
    const [a, b] = await fleet(3, (i) => (data, ctx) => {
      if ((data as { fail?: boolean }).fail) throw new EdgeplaneError("FORBIDDEN", "no");
      return { node: i, echo: data, from: ctx.from, conn: ctx.connection?.id ?? null };
    });
    assertEquals(await a.ask("node1", { q: 1 }), { node: 1, echo: { q: 1 }, from: "node0", conn: null });
    const conn = b.connect(new RecordingSink());
    assertEquals(await a.ask(conn.id, "hi"), { node: 1, echo: "hi", from: "node0", conn: conn.id });
    const err = await assertRejects(() => a.ask("node1", { fail: true }), EdgeplaneError);
    assertEquals(err.code, "FORBIDDEN");
    assertEquals((await assertRejects(() => a.ask("node1~gone", 1), EdgeplaneError)).code, "UNKNOWN_CONNECTION");
    assertEquals((await assertRejects(() => a.ask("node7", 1), EdgeplaneError)).code, "NO_RESPONDERS");
  });

  it("asking a node that dies rejects within the timeout, and 10,000 asks with peer deaths leave 0 pending", async () => {
    const [a, b, c, d] = await fleet(4, (i) => async (data) => {
      await new Promise((r) => setTimeout(r, (data as number) % 3)); // small async work
      return i;
    });
    const targets = ["node1", "node2", "node3"];
    const results = { ok: 0, noResponders: 0, timeout: 0, other: 0 };
    const asks: Promise<void>[] = [];
    for (let k = 0; k < 10_000; k++) {
      asks.push(a.ask(targets[k % 3], k, { timeout: 1500 }).then(
        () => void results.ok++,
        (e) => void (e instanceof EdgeplaneError && e.code === "NO_RESPONDERS" ? results.noResponders++ : e instanceof EdgeplaneError && e.code === "TIMEOUT" ? results.timeout++ : results.other++),
      ));
      if (k === 3000) crash(c); // node2 dies without a word
      if (k === 6000) await d.close(); // node3 leaves politely
    }
    await Promise.all(asks);
    assertEquals(results.other, 0, JSON.stringify(results));
    assertEquals(results.ok + results.noResponders + results.timeout, 10_000);
    assert(results.ok >= 3000, JSON.stringify(results));
    assert(results.noResponders + results.timeout > 0, "asks to dead nodes failed with typed errors");
    assertEquals(a.metrics().cluster!.pendingAsks, 0, "no pending request leaks");
    const started = Date.now();
    const err = await assertRejects(() => a.ask("node2", 1, { timeout: 300 }), EdgeplaneError);
    assert(["NO_RESPONDERS", "TIMEOUT"].includes(err.code));
    assert(Date.now() - started < 2000, "bounded");
    assertEquals(await b.ask("node1", 5), 1, "live nodes keep answering");
  });
});

describe("cluster: presence", () => {
  it("every node's view converges; leave and close update it; a dead node's members vanish within deadAfterMs", async () => {
    const [a, b, c] = await fleet(3);
    const sinks: RecordingSink[] = [];
    const ids: string[] = [];
    for (const [i, hub] of [a, b, c, a].entries()) {
      const s = new RecordingSink();
      const conn = hub.connect(s);
      await hub.join(conn.id, "room", { meta: { name: `user${i}` } });
      sinks.push(s);
      ids.push(conn.id);
    }
    const view = (h: Hub) => h.presence("room").map((e) => `${e.node}/${(e.meta as { name: string }).name}`).sort();
    const expected = ["node0/user0", "node0/user3", "node1/user1", "node2/user2"];
    await waitUntil(() => [a, b, c].every((h) => JSON.stringify(view(h)) === JSON.stringify(expected)), "views converge");
    // presence frames: 4 members > listMax 3 → counts only
    await waitUntil(() => sinks[1].ofType("presence").at(-1)?.count === 4, "presence count frame");
    assertEquals(sinks[1].ofType("presence").at(-1)?.members, undefined, "huge rooms get counts, not lists");
    await a.leave(ids[3], "room");
    await waitUntil(() => [a, b, c].every((h) => h.presence("room").length === 3), "leave converges");
    await waitUntil(() => sinks[1].ofType("presence").at(-1)?.members?.length === 3, "list frame again");
    const started = Date.now();
    crash(c);
    await waitUntil(() => [a, b].every((h) => !view(h).includes("node2/user2")), "dead node's members removed", 3000);
    const took = Date.now() - started;
    assert(took <= HB * 3.5 + 4 * HB, `removed within the bound (${took} ms)`);
    b.disconnect(ids[1]);
    await waitUntil(() => view(a).join() === "node0/user0", "disconnect converges");
  });

  it("a node that starts later learns existing presence without waiting for a snapshot period", async () => {
    const bus = new MemoryBus();
    const a = new Hub({ exchange: new MemoryExchange({ bus, nodeId: "early" }), cluster: { heartbeatMs: HB, snapshotEvery: 1000 }, log: () => {} });
    hubs.push(a);
    await a.ready();
    const conn = a.connect(new RecordingSink());
    await a.join(conn.id, "r", { meta: { name: "first" } });
    const b = new Hub({ exchange: new MemoryExchange({ bus, nodeId: "late" }), cluster: { heartbeatMs: HB, snapshotEvery: 1000 }, log: () => {} });
    hubs.push(b);
    await b.ready();
    await waitUntil(() => b.presence("r").length === 1, "late node sees the early member", 2000);
  });
});

describe("drain", () => {
  it("tells clients to reconnect, closes them with 1012, refuses new connections, leaves the cluster at once", async () => {
    const [a, b] = await fleet(2);
    const sinks = Array.from({ length: 5 }, () => new RecordingSink());
    for (const s of sinks) {
      const conn = a.connect(s);
      await a.join(conn.id, "r");
    }
    const res = await a.drain();
    assertEquals(res.connections, 5);
    assertEquals(res.unflushedBytes, 0);
    for (const s of sinks) {
      assertEquals(s.frames.at(-1), { t: "reconnect", reason: "draining" });
      assertEquals(s.closed?.code, 1012);
    }
    assertEquals(assertRejectsSync(() => a.connect(new RecordingSink())), "CLOSED");
    await waitUntil(() => !b.cluster!.nodes().includes("node0"), "bye removes the node immediately", HB * 2);
  });
});

function assertRejectsSync(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof EdgeplaneError) return e.code;
    throw e;
  }
  throw new Error("expected a throw");
}
