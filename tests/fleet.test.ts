// Cross-node features over NATS with real processes (Node, Deno and Bun nodes of the chat demo):
// resume on another node, sendTo and ask across processes, presence convergence and dead-node cleanup,
// a rolling drain under steady publishing.
import { after, before, describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import { startNatsServer, type NatsServer } from "./helpers/nats-server.ts";
import { waitUntil } from "./helpers/process.ts";
import { Fleet, fleetClient } from "./helpers/fleet.ts";

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

describe("fleet over NATS (Node, Deno, Bun nodes)", () => {
  let nats: NatsServer;
  let fleet: Fleet;
  const closers: Array<() => void> = [];

  before(async () => {
    nats = await startNatsServer();
    fleet = new Fleet(nats.url);
    await Promise.all([fleet.start("a", "node"), fleet.start("b", "deno"), fleet.start("c", "bun")]);
    await waitUntil(async () => (await fleet.get_json("a", "/cluster/nodes")).json.nodes.length === 3, "cluster formed", 20_000, 100);
  });

  after(async () => {
    for (const c of closers) c();
    await fleet?.stopAll();
    await nats?.cleanup();
  });

  it("a client whose connection drops resumes on another node with no gap and no duplicate", async () => {
    const room = "resume-conn";
    const [a, b] = [fleet.get("a"), fleet.get("b")];
    const r = await fleetClient([a.url, b.url]);
    closers.push(() => r.client.close());
    await r.client.join(room);
    assertEquals(r.client.url, new URL(a.url).href);
    for (let i = 1; i <= 150; i++) {
      await fleet.publish("c", room, `m${i}`);
      if (i === 60) r.client.dropConnection();
    }
    await waitUntil(() => r.seqs(room).length >= 150, "all 150 delivered", 20_000);
    assertEquals(r.seqs(room), range(1, 150), "contiguous, in order, none twice");
    assertEquals(r.messages.map((m) => m.data), range(1, 150).map((i) => `m${i}`));
    assertEquals(r.discontinuities, []);
    assertEquals(r.client.url, new URL(b.url).href, "the client now lives on node b");
    r.client.close();
  });

  it("sendTo and ask cross processes; a dead node's asks reject typed within the timeout", async () => {
    const r = await fleetClient([fleet.get("c").url]);
    closers.push(() => r.client.close());
    await r.client.join("dm");
    const conn = r.client.connectionId!;
    assert(conn.startsWith("c~"), conn);
    const sent = await fleet.get_json("a", `/cluster/send-to?conn=${encodeURIComponent(conn)}`, { method: "POST", body: "hello from a" });
    assertEquals(sent.json, { result: "delivered" });
    await waitUntil(() => r.directs.length === 1, "direct frame on the client");
    assertEquals(r.directs[0], { from: "a", data: "hello from a" });
    assertEquals((await fleet.get_json("b", `/cluster/send-to?conn=c~nobody`, { method: "POST", body: "x" })).json, { result: "not_found" });
    for (const [from, target] of [["a", "b"], ["b", "c"], ["c", "a"]]) {
      const asked = await fleet.get_json(from, `/cluster/ask?target=${target}`, { method: "POST", body: JSON.stringify({ q: from }) });
      assertEquals(asked.json.answer.node, target);
      assertEquals(asked.json.answer.echo, { q: from });
    }
    const viaConn = await fleet.get_json("a", `/cluster/ask?target=${encodeURIComponent(conn)}`, { method: "POST", body: "1" });
    assertEquals(viaConn.json.answer.node, "c");
    const unknown = await fleet.get_json("a", `/cluster/ask?target=zz&timeout=500`, { method: "POST", body: "1" });
    assertEquals(unknown.json.error.code, "NO_RESPONDERS");
    r.client.close();
  });

  it("presence converges on every node; a SIGKILLed node's members vanish within the bound; its clients resume elsewhere", async () => {
    const room = "presence";
    const d = await fleet.start("d", "node");
    await waitUntil(async () => (await fleet.get_json("a", "/cluster/nodes")).json.nodes.includes("d"), "d joined the cluster", 20_000, 100);
    const users = [["a", "ann"], ["b", "bob"], ["c", "cyd"], ["d", "dee"]] as const;
    const clients = [];
    for (const [node, name] of users) {
      const r = await fleetClient([fleet.get(node).url, fleet.get("a").url]);
      closers.push(() => r.client.close());
      await r.client.join(room, { meta: { name } });
      clients.push(r);
    }
    const entries = async (node: string) =>
      (await fleet.get_json(node, `/cluster/presence?room=${room}`)).json as Array<{ node: string; meta?: { name: string } }>;
    const names = async (node: string) => (await entries(node)).map((e) => e.meta?.name).sort();
    for (const node of ["a", "b", "c", "d"]) {
      await waitUntil(async () => (await names(node)).join() === "ann,bob,cyd,dee", `presence on ${node}`, 15_000, 100);
    }
    clients[1].client.leave(room);
    for (const node of ["a", "c", "d"]) await waitUntil(async () => !(await names(node)).includes("bob"), `leave seen on ${node}`, 15_000, 100);
    // SIGKILL d: its member disappears (the NATS node is dead after ~3 s, the cluster view after 3.5 × 250 ms).
    const killedAt = Date.now();
    d.child.kill("SIGKILL");
    await d.child.exited;
    for (const node of ["a", "b", "c"]) {
      await waitUntil(async () => !(await entries(node)).some((e) => e.node === "d"), `d's members gone from ${node}`, 15_000, 50);
    }
    const took = Date.now() - killedAt;
    assert(took < 5000, `dead node's members removed in ${took} ms`);
    fleet.nodes.delete("d");
    // dee's client moves to node a and is counted there again (it rejoins with the same meta).
    for (const node of ["a", "b", "c"]) {
      await waitUntil(async () => (await entries(node)).some((e) => e.node === "a" && e.meta?.name === "dee"), `dee back via a on ${node}`, 20_000, 100);
    }
    for (const r of clients) r.client.close();
  });

  it("a SIGKILLed node's clients resume on another node: every acked message once, in order, or a discontinuity", async () => {
    const room = "resume-kill";
    const e = await fleet.start("e", "bun");
    await waitUntil(async () => (await fleet.get_json("a", "/cluster/nodes")).json.nodes.includes("e"), "e joined", 20_000, 100);
    const r = await fleetClient([e.url, fleet.get("b").url]);
    closers.push(() => r.client.close());
    await r.client.join(room);
    const acked: number[] = [];
    let failed = 0;
    for (let i = 1; i <= 120; i++) {
      try {
        acked.push((await fleet.publish(i % 2 ? "a" : "c", room, `k${i}`)).seq);
      } catch {
        failed++; // only during the owner takeover; typed (checked by the NATS failover tests)
      }
      if (i === 40) {
        e.child.kill("SIGKILL");
        fleet.nodes.delete("e");
      }
    }
    const last = Math.max(...acked);
    await waitUntil(() => (r.client.lastSeq(room) ?? 0) >= last, "client caught up on node b", 30_000);
    const seqs = r.seqs(room);
    for (let i = 1; i < seqs.length; i++) assert(seqs[i] > seqs[i - 1], "strictly increasing");
    assertEquals(new Set(r.messages.map((m) => m.id)).size, r.messages.length, "no id twice");
    const got = new Set(seqs);
    const covered = (s: number) => r.discontinuities.some((d) => d.afterSeq < s && s < d.nextSeq);
    const missing = acked.filter((s) => !got.has(s) && !covered(s));
    assertEquals(missing, [], "every acked message delivered or covered by a discontinuity");
    assertEquals(r.client.url, new URL(fleet.get("b").url).href);
    // Asking the dead node rejects with a typed error within the timeout.
    const started = Date.now();
    const asked = await fleet.get_json("a", `/cluster/ask?target=e&timeout=1500`, { method: "POST", body: "1" });
    assert(["NO_RESPONDERS", "TIMEOUT"].includes(asked.json.error?.code), JSON.stringify(asked.json));
    assert(Date.now() - started < 3000, "bounded by the timeout");
    console.log(`resume after SIGKILL: acked=${acked.length} failed=${failed} delivered=${seqs.length} discontinuities=${r.discontinuities.length}`);
    r.client.close();
  });

  it("rolling drain of every node under steady publishing: 0 publish errors, 0 gaps, every client ends on a live node", async () => {
    const room = "rolling";
    const ids = ["a", "b", "c"];
    const urls = ids.map((id) => fleet.get(id).url);
    const subs = [];
    for (let i = 0; i < 3; i++) {
      const r = await fleetClient([...urls.slice(i), ...urls.slice(0, i)]);
      closers.push(() => r.client.close());
      await r.client.join(room);
      subs.push(r);
    }
    const pub = await fleetClient([urls[2], urls[0], urls[1]]);
    closers.push(() => pub.client.close());
    await pub.client.join(room);
    let stop = false;
    let errors = 0;
    const acked: number[] = [];
    const publishing = (async () => {
      for (let i = 0; !stop && i < 100_000; i++) {
        try {
          acked.push((await pub.client.publish(room, `p${i}`)).seq);
        } catch {
          errors++;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    for (const id of ids) {
      const node = fleet.get(id);
      const before = acked.length;
      await waitUntil(() => acked.length >= before + 20, "publishing flows", 20_000);
      node.child.kill("SIGTERM"); // → hub.drain(): reconnect frames, handoff, exit 0
      assertEquals(await node.child.exited, 0, `${id} drained and exited cleanly`);
      await fleet.start(id, node.runtime, node.port);
      await waitUntil(async () => (await fleet.get_json(id, "/cluster/nodes")).json.nodes.length >= 3, `${id} back in the cluster`, 20_000, 100);
    }
    const before = acked.length;
    await waitUntil(() => acked.length >= before + 20, "publishing continues after the last drain", 20_000);
    stop = true;
    await publishing;
    const last = Math.max(...acked);
    for (const s of subs) await waitUntil(() => (s.client.lastSeq(room) ?? 0) >= last, "subscriber caught up", 20_000);
    assertEquals(errors, 0, "no publish failed");
    for (const s of subs) {
      const seqs = s.seqs(room);
      assertEquals(s.discontinuities, [], "no discontinuity: drains hand rooms off with their history");
      assertEquals(seqs, range(seqs[0], last), "no gap, no duplicate");
      assert(acked.every((a) => seqs.includes(a)), "every acked message delivered");
      assertEquals(s.client.state, "open");
    }
    console.log(`rolling drain: published=${acked.length} errors=${errors} last=${last}`);
    const prom = await (await fetch(`${fleet.get("a").url}/metrics?format=prometheus`)).text();
    assert(/^edgeplane_connections\{node="a"\} \d+$/m.test(prom), prom.slice(0, 300));
    assert(/^edgeplane_cluster_pending_asks\{node="a"\} 0$/m.test(prom), "no pending asks");
    for (const s of [...subs, pub]) s.client.close();
  });
});
