// Redis failure modes: restarted empty mid-stream (rooms continue above the highest seq seen under a new epoch; a
// discontinuity only for what is really gone) and a subscriber that
// Redis disconnects mid-stream (the missed messages are repaired from history, not hidden).
import { after, before, describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import { createClient } from "redis";
import { connectRedis } from "../src/exchange/redis-connect.ts";
import { RedisExchange } from "../src/exchange/redis.ts";
import type { ExchangeEvent, SequencedMessage } from "../src/exchange/exchange.ts";
import { isEdgeplaneError } from "../src/errors.ts";
import { type RedisServer, startRedis } from "./helpers/redis-server.ts";
import { start, waitUntil } from "./helpers/process.ts";
import { runtimeCommand } from "./helpers/migration.ts";
import { tcpProxy } from "./helpers/tcp-proxy.ts";
import { spawnSync } from "node:child_process";

function sink(ex: RedisExchange, room: string) {
  const got: SequencedMessage[] = [];
  const events: ExchangeEvent[] = [];
  const unsub = ex.subscribe(room, (m) => got.push(m), { onEvent: (e) => events.push(e) });
  return { got, events, unsub, positioned: () => events.some((e) => e.type === "position") };
}

describe("redis exchange: failures", () => {
  let server: RedisServer;
  let a: RedisExchange, b: RedisExchange;
  before(async () => {
    server = await startRedis();
    [a, b] = await Promise.all(["ra", "rb"].map((nodeId) => connectRedis(server.url, { nodeId, timeoutMs: 1000, sweepIntervalMs: 500 })));
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await server?.stop();
  });

  it("Redis restarted empty mid-stream: the room continues above the highest seq seen, no seq reused, the subscriber sees one contiguous run", { timeout: 120_000 }, async () => {
    const room = "restart-room";
    const s = sink(b, room);
    await waitUntil(s.positioned, "positioned");
    const acked: Array<{ seq: number; epoch: number; payload: string }> = [];
    let failed = 0;
    let n = 0;
    // a only publishes (it knows the room from its acks), b subscribes and publishes too (it knows it from both).
    const ackedBy = new Map<RedisExchange, number>();
    const publishOne = async (via: RedisExchange) => {
      const payload = `m${n++}`;
      try {
        const info = await via.publish(room, payload);
        acked.push({ seq: info.seq, epoch: info.epoch, payload });
        ackedBy.set(via, (ackedBy.get(via) ?? 0) + 1);
      } catch (err) {
        assert(isEdgeplaneError(err, "BACKPLANE_UNAVAILABLE"), `typed failure, got ${err}`);
        failed++;
      }
    };
    for (let i = 0; i < 100; i++) await publishOne(a);
    const epochBefore = acked[acked.length - 1].epoch;
    await waitUntil(() => s.got.length >= 100, "first 100 delivered");
    await server.restartEmpty();
    ackedBy.clear();
    // Keep publishing through the outage (bounded): failures are typed, then the stream resumes. Until both nodes
    // have published after the restart (one may reconnect later than the other on a loaded machine).
    const deadline = Date.now() + 60_000; // generous: the shared test machine is sometimes heavily loaded
    const bothPublished = () => (ackedBy.get(a) ?? 0) > 0 && (ackedBy.get(b) ?? 0) > 0;
    for (let i = 0; i < 20_000 && (acked.length < 200 || !bothPublished()) && Date.now() < deadline; i++) {
      await publishOne(i % 2 === 0 ? a : b);
      if (acked.length < 101) await new Promise((r) => setTimeout(r, 5));
    }
    assert(acked.length >= 200 && bothPublished(), `resumed after restart on both nodes (acked ${acked.length}, failed ${failed})`);
    const post = acked.slice(100);
    assert(post[0].epoch > epochBefore, `epoch bumped: ${epochBefore} -> ${post[0].epoch}`);
    assertEquals(new Set(acked.map((x) => x.seq)).size, acked.length, "no seq acked twice");
    assert(post[0].seq > 100, `continues above the highest seq seen: first seq after the restart ${post[0].seq}`);
    await waitUntil(() => s.got.some((m) => m.payload === post[post.length - 1].payload), "post-restart messages delivered", 30_000);
    const seqs = s.got.map((m) => m.seq);
    // A publish that timed out in the outage but was applied is one more seq of the run, not a hole.
    assertEquals(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), "contiguous seqs from 1");
    assertEquals(s.events.filter((e) => e.type === "discontinuity"), [], "nothing was lost, so nothing is reported");
    const delivered = new Set(s.got.map((m) => m.payload as string));
    for (const x of acked) assert(delivered.has(x.payload), `acked ${x.payload} delivered`);
    assert(b.status().epoch >= post[0].epoch && a.status().epoch >= post[0].epoch, "both nodes know the new epoch");
    console.log(`[redis restart] acked=${acked.length} failedDuringOutage=${failed} delivered=${s.got.length} epoch ${epochBefore}->${post[0].epoch} first seq after ${post[0].seq}`);
    s.unsub();
  });

  it("Redis restarted empty while a subscriber was cut off: a discontinuity for exactly what is gone, then contiguous", { timeout: 120_000 }, async () => {
    const room = "restart-cut-room";
    // q's pub/sub connection goes through a proxy the test cuts; its commands go straight to Redis.
    const proxy = await tcpProxy(server.port);
    const qClient = createClient({ url: server.url, disableOfflineQueue: true, socket: { reconnectStrategy: () => 50 } });
    const qSub = createClient({ url: `redis://127.0.0.1:${proxy.port}`, socket: { reconnectStrategy: () => 50 } });
    qClient.on("error", () => {});
    qSub.on("error", () => {});
    let q: RedisExchange | undefined;
    try {
      await Promise.all([qClient.connect(), qSub.connect()]);
      q = new RedisExchange({ client: qClient, subscriber: qSub, nodeId: "rq", timeoutMs: 1000 });
      await q.ready();
      const s = sink(q, room);
      await waitUntil(s.positioned, "positioned");
      const first = await a.publish(room, "first");
      await waitUntil(() => s.got.length === 1, "first delivered");
      proxy.outage(true);
      proxy.killAll();
      const missed = [];
      for (let i = 0; i < 10; i++) missed.push(await a.publish(room, `missed${i}`));
      await server.restartEmpty();
      const after = [];
      for (let i = 0; after.length < 10 && i < 2000; i++) {
        try {
          after.push(await a.publish(room, `after${after.length}`));
        } catch (err) {
          assert(isEdgeplaneError(err, "BACKPLANE_UNAVAILABLE"), `typed failure, got ${err}`);
          await new Promise((r) => setTimeout(r, 10));
        }
      }
      assertEquals(after.length, 10, "publishing resumed");
      const last = missed[missed.length - 1].seq;
      assertEquals(after.map((x) => x.seq), Array.from({ length: 10 }, (_, i) => last + 1 + i), "continues above the last acked seq");
      proxy.outage(false);
      await waitUntil(() => s.got.length >= 11, "q caught up after reconnecting", 30_000);
      assertEquals(s.got.map((m) => m.seq), [first.seq, ...after.map((x) => x.seq)]);
      const disc = s.events.filter((e) => e.type === "discontinuity");
      assertEquals(disc.map((e) => e.type === "discontinuity" && [e.afterSeq, e.nextSeq]), [[first.seq, last + 1]], "exactly the messages Redis lost");
      s.unsub();
    } finally {
      await q?.close();
      await proxy.close();
      qClient.destroy();
      qSub.destroy();
    }
  });

  it("a subscriber Redis disconnects mid-stream repairs the missed messages from history", { timeout: 120_000 }, async () => {
    const room = "kill-room";
    const s = sink(b, room);
    await waitUntil(s.positioned, "positioned");
    const admin = createClient({ url: server.url });
    admin.on("error", () => {});
    await admin.connect();
    try {
      const total = 600;
      let killed = 0;
      for (let i = 0; i < total; i++) {
        await a.publish(room, `k${i}`);
        if (i === 200 || i === 400) killed += Number(await admin.sendCommand(["CLIENT", "KILL", "TYPE", "pubsub"]));
      }
      assert(killed >= 2, "pub/sub connections were dropped");
      await waitUntil(() => s.got.length >= total, `all ${total} delivered`, 30_000);
      assertEquals(s.got.map((m) => m.payload), Array.from({ length: total }, (_, i) => `k${i}`), "in order, none missing");
      const base = s.got[0].seq;
      assertEquals(s.got.map((m) => m.seq), Array.from({ length: total }, (_, i) => base + i));
      assertEquals(s.events.filter((e) => e.type === "discontinuity").length, 0, "history covered the gap");
      console.log(`[redis kill] delivered=${s.got.length} gapsRepaired=${b.status().counters.gapsRepaired} reconnects=${b.status().counters.reconnects}`);
    } finally {
      await admin.close();
      s.unsub();
    }
  });

  it("a hung Redis: publish rejects with BACKPLANE_UNAVAILABLE within timeoutMs; a retry with the same id is idempotent", { timeout: 120_000 }, async () => {
    const room = "hang-room";
    const s = sink(b, room);
    await waitUntil(s.positioned, "positioned");
    await a.publish(room, "before");
    const id = "hung0000000000000000000000000001";
    server.child.kill("SIGSTOP");
    try {
      const err = await a.publish(room, "during", { id }).then(() => undefined, (e) => e);
      assert(isEdgeplaneError(err, "BACKPLANE_UNAVAILABLE"), `typed timeout, got ${err}`);
    } finally {
      server.child.kill("SIGCONT");
    }
    // The timed-out command may still have run once Redis woke up; retrying with the same id cannot duplicate it.
    const retry = await a.publish(room, "during", { id });
    const after = await a.publish(room, "after");
    assertEquals(after.seq, retry.seq + 1);
    await waitUntil(() => s.got.some((m) => m.payload === "after"), "delivered after the hang", 30_000);
    assertEquals(s.got.map((m) => m.payload), ["before", "during", "after"]);
    s.unsub();
  });

  it("a reconnected subscriber whose missed messages left history reports a discontinuity, then continues", { timeout: 120_000 }, async () => {
    const p = await connectRedis(server.url, { nodeId: "sp", prefix: "small", historySize: 10 });
    // q brings its own node-redis clients, each logged in as an ACL user that the test switches off while the burst
    // below is sequenced: the subscriber cannot reconnect, and the command client cannot run q's periodic position
    // check (which would repair each hole from history while it is still held), so most of the burst surely left the
    // 10-message history before q is back.
    const admin = createClient({ url: server.url });
    admin.on("error", () => {});
    await admin.connect();
    for (const user of ["qsub", "qcmd"]) await admin.sendCommand(["ACL", "SETUSER", user, "on", ">pw", "~*", "&*", "+@all"]);
    const qClient = createClient({ url: server.url.replace("redis://", "redis://qcmd:pw@"), disableOfflineQueue: true, socket: { reconnectStrategy: () => 50 } });
    const qSub = createClient({ url: server.url.replace("redis://", "redis://qsub:pw@"), socket: { reconnectStrategy: () => 50 } });
    qClient.on("error", () => {});
    qSub.on("error", () => {});
    await Promise.all([qClient.connect(), qSub.connect()]);
    const q = new RedisExchange({ client: qClient, subscriber: qSub, nodeId: "sq", prefix: "small", historySize: 10 });
    await q.ready();
    try {
      const room = "evicted-room";
      const s = sink(q, room);
      await waitUntil(s.positioned, "positioned");
      await p.publish(room, "first");
      await waitUntil(() => s.got.length === 1, "first delivered");
      // Drop q (subscriber and command client), then publish 50: history (10) no longer holds most of them when q is back.
      for (const user of ["qsub", "qcmd"]) {
        await admin.sendCommand(["ACL", "SETUSER", user, "off"]);
        await admin.sendCommand(["CLIENT", "KILL", "USER", user]);
      }
      // Publish the burst only once the server holds no connection of q's any more.
      await waitUntil(async () => !/ user=q(sub|cmd) /.test(String(await admin.sendCommand(["CLIENT", "LIST"]))), "q is disconnected");
      await Promise.all(Array.from({ length: 50 }, (_, i) => p.publish(room, `burst${i}`)));
      await p.publish(room, "last");
      for (const user of ["qsub", "qcmd"]) await admin.sendCommand(["ACL", "SETUSER", user, "on"]);
      await waitUntil(() => s.got.some((m) => m.payload === "last"), "continues after the hole", 30_000);
      const disc = s.events.filter((e) => e.type === "discontinuity");
      assert(disc.length >= 1, "the hole is reported");
      const d = disc[0];
      assert(d.type === "discontinuity" && d.afterSeq >= 1 && d.nextSeq > d.afterSeq + 1, JSON.stringify(d));
      const seqs = s.got.map((m) => m.seq);
      for (let i = 1; i < seqs.length; i++) assert(seqs[i] > seqs[i - 1], "still in order");
      assertEquals(new Set(seqs).size, seqs.length, "no duplicates");
      console.log(`[redis evicted] delivered=${s.got.length}/52 seqs=${seqs.join(",")} events=${JSON.stringify(disc.map((e) => e.type === "discontinuity" ? [e.afterSeq, e.nextSeq] : 0))}`);
      s.unsub();
    } finally {
      for (const user of ["qsub", "qcmd"]) await admin.sendCommand(["ACL", "SETUSER", user, "on"]).catch(() => {});
      await admin.close();
      await Promise.all([p.close(), q.close()]);
      qClient.destroy(); // destroy, not close: never wait on a client that may be mid-reconnect
      qSub.destroy();
    }
  });

  it("a subscriber Redis drops for pub/sub output-buffer overflow repairs the gap from history", { timeout: 120_000 }, async () => {
    const admin = createClient({ url: server.url });
    admin.on("error", () => {});
    await admin.connect();
    await admin.sendCommand(["CONFIG", "SET", "client-output-buffer-limit", "pubsub 256kb 128kb 1"]);
    const qClient = createClient({ url: server.url, disableOfflineQueue: true });
    const qSub = createClient({ url: server.url, name: "slowsub" });
    qClient.on("error", () => {});
    qSub.on("error", () => {});
    await Promise.all([qClient.connect(), qSub.connect()]);
    const q = new RedisExchange({ client: qClient, subscriber: qSub, nodeId: "slow", prefix: "ob" });
    await q.ready();
    const n = 2000;
    try {
      const room = "overflow-room";
      const s = sink(q, room);
      await waitUntil(s.positioned, "positioned");
      const [cmd, args] = runtimeCommand(new URL("./helpers/redis-burst.ts", import.meta.url).pathname);
      const child = start(cmd, args, {
        env: { URL: server.url, PREFIX: "ob", ROOM: room, N: String(n), SIZE: "4096", HISTORY: String(n + 10) },
      });
      await child.waitFor(/STARTED/, 30_000);
      // Be a slow consumer: block this event loop (no reads) until Redis has dropped our subscriber for overflowing
      // its output buffer. Checked with redis-cli from the blocked loop; bounded.
      let dropped = false;
      for (let i = 0; i < 4000 && !dropped; i++) {
        const list = spawnSync("redis-cli", ["-p", String(server.port), "CLIENT", "LIST", "TYPE", "pubsub"]).stdout?.toString() ?? "";
        dropped = !list.includes("name=slowsub");
      }
      assert(dropped, "Redis dropped the slow subscriber");
      await child.waitFor(/DONE sent=\d+ failed=0/, 60_000);
      await child.exited;
      await waitUntil(() => s.got.length >= n, `all ${n} delivered`, 30_000);
      assertEquals(s.got.map((m) => Number(String(m.payload).split(":")[0])), Array.from({ length: n }, (_, i) => i), "in order, none missing");
      assertEquals(s.events.filter((e) => e.type === "discontinuity").length, 0, "history covered the gap");
      const c = q.status().counters;
      assert(c.reconnects >= 1, "the subscriber reconnected");
      console.log(`[redis overflow] delivered=${s.got.length} reconnects=${c.reconnects} gapsRepaired=${c.gapsRepaired}`);
      s.unsub();
    } finally {
      await admin.sendCommand(["CONFIG", "SET", "client-output-buffer-limit", "pubsub 32mb 8mb 60"]);
      await admin.close();
      await q.close();
      qClient.destroy();
      qSub.destroy();
    }
  });
});
