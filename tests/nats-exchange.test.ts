// NATS exchange: the Exchange contract on our own nats-server with 3 nodes (separate connections), plus NATS-specific
// behaviour: max_payload, hostile subjects, malformed traffic, gap repair, tail repair, discontinuity, idempotency.
import { after, before, describe, it } from "node:test";
import { assert, assertEquals, assertGreater, assertRejects } from "@std/assert";
import { connect } from "nats";
import { EdgeplaneError } from "../src/errors.ts";
import type { ExchangeEvent, SequencedMessage } from "../src/exchange/exchange.ts";
import { NatsExchange, type NatsExchangeOptions } from "../src/exchange/nats/nats-exchange.ts";
import { connectNats } from "../src/exchange/nats/connect.ts";
import { CONTRACT_HISTORY, exchangeContract } from "./helpers/exchange-contract.ts";
import { type NatsServer, startNatsServer } from "./helpers/nats-server.ts";
import { waitUntil } from "./helpers/process.ts";
import { converged, FAST, natsNodes } from "./helpers/nats-nodes.ts";

function nodes(server: NatsServer, n: number, opts: NatsExchangeOptions = {}) {
  return natsNodes([server.url], n, opts);
}

let contractServer: NatsServer | undefined;
exchangeContract("nats", async () => {
  contractServer = await startNatsServer();
  const set = await nodes(contractServer, 3, { history: { maxMessages: CONTRACT_HISTORY } });
  return {
    nodes: set.exs,
    cleanup: async () => {
      await set.close();
      await contractServer?.cleanup();
    },
  };
}, { subscribeThenPublish: true });

describe("nats exchange", () => {
  let server: NatsServer;
  before(async () => {
    server = await startNatsServer({ maxPayload: 256 * 1024 });
  });
  after(async () => {
    await server?.cleanup();
  });

  it("maxPayloadBytes follows the server's max_payload; oversize rejects before anything is sent", async () => {
    const set = await nodes(server, 1, { prefix: "mp" });
    const [a] = set.exs;
    try {
      assert(a.maxPayloadBytes < 256 * 1024 && a.maxPayloadBytes > 250 * 1024, `maxPayloadBytes ${a.maxPayloadBytes}`);
      const before = a.status().counters.sequenced;
      const err = await assertRejects(() => a.publish("big", new Uint8Array(a.maxPayloadBytes + 1)), EdgeplaneError);
      assertEquals(err.code, "PAYLOAD_TOO_LARGE");
      const err2 = await assertRejects(() => a.publish("big", "é".repeat(a.maxPayloadBytes / 2 + 1)), EdgeplaneError);
      assertEquals(err2.code, "PAYLOAD_TOO_LARGE");
      assertEquals(a.status().counters.sequenced, before);
      const ok = await a.publish("big", new Uint8Array(a.maxPayloadBytes));
      assertEquals(ok.seq, 1, "exactly max_payload minus header room still goes through");
    } finally {
      await set.close();
    }
  });

  it("room names never reach subjects raw; wildcard rooms cannot subscribe to other rooms", async () => {
    const set = await nodes(server, 2, { prefix: "hostile" });
    const [a, b] = set.exs;
    const spy = await connect({ servers: server.url });
    const subjects: string[] = [];
    const sub = spy.subscribe("hostile.>", { callback: (_e, m) => subjects.push(m.subject) });
    try {
      const rooms = ["*", ">", "a.b", "hostile.>", "x y", "ünï"];
      const got = new Map<string, string[]>(rooms.map((r) => [r, []]));
      let positioned = 0;
      const unsubs = rooms.map((r) => b.subscribe(r, (m) => got.get(r)!.push(String(m.payload)), { onEvent: (e) => void (e.type === "position" && positioned++) }));
      await waitUntil(() => positioned === rooms.length, "positioned");
      for (const r of rooms) await a.publish(r, `for ${r}`);
      await waitUntil(() => rooms.every((r) => got.get(r)!.length === 1), "each room got its message");
      for (const r of rooms) assertEquals(got.get(r), [`for ${r}`]);
      await spy.flush();
      const roomSubjects = subjects.filter((s) => s.startsWith("hostile.m."));
      assertGreater(roomSubjects.length, 0);
      for (const s of roomSubjects) assert(/^hostile\.m\.[a-z2-7]{26}$/.test(s), `subject ${s} is a fixed-length token`);
      for (const s of subjects) assert(!s.includes("*") && !s.endsWith(">") && !s.includes(" ") && !/[^\x21-\x7e]/.test(s), `subject ${s}`);
      unsubs.forEach((u) => u());
    } finally {
      sub.unsubscribe();
      await spy.close();
      await set.close();
    }
  });

  it("10,000 malformed messages on every subject are counted and dropped; the nodes keep working", async () => {
    const set = await nodes(server, 2, { prefix: "junk" });
    const [a, b] = set.exs;
    const room = "junk-room";
    const seen: SequencedMessage[] = [];
    let positioned = false;
    const unsub = b.subscribe(room, (m) => seen.push(m), { onEvent: () => positioned = true });
    await waitUntil(() => positioned, "positioned");
    await a.publish(room, "before");
    await waitUntil(() => seen.length === 1, "first delivered");
    const { roomKey } = await import("../src/exchange/nats/_subjects.ts");
    const token = roomKey(room).token;
    const evil = await connect({ servers: server.url });
    const { headers } = await import("nats");
    const subjects = ["junk.hb", "junk.ctl", `junk.own.${a.nodeId}`, `junk.hist.${a.nodeId}`, `junk.m.${token}`];
    const bodies = [new Uint8Array([0xff, 0xfe]), new TextEncoder().encode("{\"n\":5}"), new TextEncoder().encode("[1,2]"), new Uint8Array(0)];
    try {
      for (let i = 0; i < 10_000; i++) {
        const subject = subjects[i % subjects.length];
        const body = bodies[i % bodies.length];
        if (i % 3 === 0) {
          const h = headers();
          const variants = [
            `1 t ../../etc node0 ${encodeURIComponent(room)} 1 node0 1 1`, // bad id
            `1 t id1 node0 %E0%A4%A 1 node0 1 1`, // bad percent-encoding
            `1 t id1 node0 ${encodeURIComponent(room)} x node0 -1 1e9`, // bad numbers
            `1 t id1 node0 ${encodeURIComponent("other room")} 1 node0 1 1`, // room does not match the subject
            `2 t id1 node0 ${encodeURIComponent(room)} 1 node0 1 1`, // unknown version
            `1 z id1 node0 ${encodeURIComponent(room)} 1 node0 1 1`, // unknown kind
          ];
          h.set("ep", variants[i % variants.length]);
          evil.publish(subject, body, { headers: h });
        } else if (i % 3 === 1) evil.publish(subject, body, { reply: `junk.evil.${i}` });
        else evil.publish(subject, body);
        if (i % 1000 === 999) await evil.flush();
      }
      await evil.flush();
      const total = () => a.status().counters.malformedDropped + b.status().counters.malformedDropped;
      // hb, ctl and m.<token> reach both nodes; own/hist only a. Every one of the 10,000 is counted at least once.
      await waitUntil(() => total() >= 10_000, `malformed counted (${total()})`, 20_000);
      const after = await a.publish(room, "after");
      await waitUntil(() => seen.length === 2, "still delivering");
      assertEquals(after.seq, 2);
      assertEquals(seen.map((m) => m.payload), ["before", "after"]);
      assertEquals(a.status().state, "ready");
      assertEquals(b.status().state, "ready");
    } finally {
      unsub();
      await evil.close();
      await set.close();
    }
  });

  it("publishes to a remote owner travel in batches: acks in call order, one order for every subscriber", async () => {
    const set = await nodes(server, 3, { prefix: "batch" });
    try {
      const [a, b, c] = set.exs;
      const room = Array.from({ length: 30 }, (_, i) => `bt${i}`).find((r) => a.ownerOf(r) === "node0")!;
      const got: string[] = [];
      let positioned = false;
      const unsub = c.subscribe(room, (m) => got.push(String(m.payload)), { onEvent: (e) => void (e.type === "position" && (positioned = true)) });
      await waitUntil(() => positioned, "positioned");
      const n = 3000;
      // Two non-owners, each issuing everything in one turn: the requests leave as batches per owner.
      const acks = await Promise.all([b, c].flatMap((x, j) => Array.from({ length: n }, (_, i) => x.publish(room, `${j}-${i}`))));
      assertEquals(acks.map((x) => x.seq).sort((p, q) => p - q), Array.from({ length: 2 * n }, (_, i) => i + 1), "seqs 1..2n");
      for (const part of [acks.slice(0, n), acks.slice(n)]) {
        for (let i = 1; i < n; i++) assert(part[i].seq > part[i - 1].seq, "each publisher's acks follow its call order");
      }
      await waitUntil(() => got.length === 2 * n, "all delivered");
      for (const j of [0, 1]) {
        const mine = got.filter((p) => p.startsWith(`${j}-`));
        assertEquals(mine, Array.from({ length: n }, (_, i) => `${j}-${i}`), "per-publisher order kept");
      }
      const st = b.status().counters;
      assertGreater(st.batchesSent, 0, "batched");
      assert(st.batchesSent * 10 < n, `few requests for ${n} publishes (${st.batchesSent} batches)`);
      unsub();
    } finally {
      await set.close();
    }
  });

  it("a malformed batch is refused, a batch with bad records answers each record; the owner lives", async () => {
    const set = await nodes(server, 2, { prefix: "badbatch" });
    const evil = await connect({ servers: server.url });
    try {
      const [a] = set.exs;
      const room = Array.from({ length: 30 }, (_, i) => `bb${i}`).find((r) => a.ownerOf(r) === "node0")!;
      const { encodeRequests } = await import("../src/exchange/nats/_codec.ts");
      const ask = async (body: Uint8Array) => {
        const res = await evil.request(`badbatch.own.${a.nodeId}`, body, { timeout: 2000 });
        return JSON.parse(new TextDecoder().decode(res.data));
      };
      const enc = (s: string) => new TextEncoder().encode(s);
      const rb = enc(room);
      const good = { id: "good1", origin: "evil", room, kind: "text" as const };
      const bad = { id: "../x", origin: "evil", room, kind: "text" as const };
      const one = encodeRequests("evil", [{ req: good, roomBytes: rb, raw: enc("x") }]);
      const withCount = (n: number) => {
        const b = one.slice();
        new DataView(b.buffer).setUint16(2 + 1 + 4, n); // after version, type and the origin "evil"
        return b;
      };
      const before = a.status().counters.malformedDropped;
      assertEquals((await ask(new Uint8Array([2, 0x52, 4, 0x65, 0x76, 0x69, 0x6c, 0, 3, 0, 0, 9, 1]))).err, "BAD_ENVELOPE", "broken framing");
      assertEquals((await ask(withCount(0))).err, "BAD_ENVELOPE", "empty batch");
      assertEquals((await ask(withCount(9999))).err, "BAD_ENVELOPE", "oversized count");
      const body = encodeRequests("evil", [
        { req: good, roomBytes: rb, raw: enc("hello") },
        { req: bad, roomBytes: rb, raw: enc("nope") },
        { req: { ...good, id: "good2" }, roomBytes: rb, raw: enc("world") },
      ]);
      const mixed = await ask(body);
      assert(Array.isArray(mixed.r) && mixed.r.length === 3, JSON.stringify(mixed));
      assertEquals(mixed.r[0][0], 1, "first good record sequenced");
      assertEquals(mixed.r[1].err, "BAD_ENVELOPE", "bad record refused on its own");
      assertEquals(mixed.r[2][0], 2, "the record after it still sequenced");
      assertGreater(a.status().counters.malformedDropped, before + 3);
      const h = await a.history(room, 0);
      assert(Array.isArray(h));
      assertEquals(h.map((m) => m.payload), ["hello", "world"]);
      assertEquals(a.status().state, "ready");
    } finally {
      await evil.close();
      await set.close();
    }
  });

  it("a lost message is repaired from the owner's history; a lost tail via the heartbeat announcement", async () => {
    const drop = new Set<number>();
    const set = await nodes(server, 2, { prefix: "gap" });
    const [a] = set.exs;
    await set.close();
    void a;
    // Node b drops some incoming seqs before its ordering logic sees them.
    const nc1 = await connectNats({ servers: server.url }), nc2 = await connectNats({ servers: server.url });
    const owner = new NatsExchange(nc1, { ...FAST, nodeId: "gapA", prefix: "gap2" });
    const lossy = new NatsExchange(nc2, { ...FAST, nodeId: "gapB", prefix: "gap2", faults: { dropIncoming: (_r, seq) => drop.delete(seq) } });
    await Promise.all([owner.ready(), lossy.ready()]);
    await converged([owner, lossy]);
    try {
      const room = ["r1", "r2", "r3", "r4", "r5"].find((r) => owner.ownerOf(r) === "gapA")!;
      const got: number[] = [];
      const events: ExchangeEvent[] = [];
      const unsub = lossy.subscribe(room, (m) => got.push(m.seq), { onEvent: (e) => events.push(e) });
      await waitUntil(() => events.some((e) => e.type === "position"), "positioned");
      drop.add(3);
      for (let i = 1; i <= 5; i++) await owner.publish(room, `m${i}`);
      await waitUntil(() => got.length === 5, "all five delivered");
      assertEquals(got, [1, 2, 3, 4, 5]);
      assertGreater(lossy.status().counters.gapsRepaired, 0);
      drop.add(6);
      await owner.publish(room, "m6"); // the last message is lost: only the heartbeat announcement reveals it
      await waitUntil(() => got.length === 6, "tail repaired via heartbeat", 10_000);
      assertEquals(got, [1, 2, 3, 4, 5, 6]);
      assertEquals(events.filter((e) => e.type === "discontinuity").length, 0);
      unsub();
    } finally {
      await Promise.all([owner.close(), lossy.close()]);
      await Promise.all([nc1.close(), nc2.close()]);
    }
  });

  it("when history cannot cover a gap the subscriber gets a discontinuity, then continues in order", async () => {
    const nc1 = await connectNats({ servers: server.url }), nc2 = await connectNats({ servers: server.url });
    const owner = new NatsExchange(nc1, { ...FAST, nodeId: "dA", prefix: "disc", history: { maxMessages: 5 } });
    const lossy = new NatsExchange(nc2, { ...FAST, nodeId: "dB", prefix: "disc", faults: { dropIncoming: (_r, seq) => seq >= 2 && seq <= 20 } });
    await Promise.all([owner.ready(), lossy.ready()]);
    await converged([owner, lossy]);
    try {
      const room = ["q1", "q2", "q3", "q4", "q5"].find((r) => owner.ownerOf(r) === "dA")!;
      const got: number[] = [];
      const events: ExchangeEvent[] = [];
      const unsub = lossy.subscribe(room, (m) => got.push(m.seq), { onEvent: (e) => events.push(e) });
      await waitUntil(() => events.some((e) => e.type === "position"), "positioned");
      await owner.publish(room, "1");
      await waitUntil(() => got.length === 1, "first");
      for (let i = 2; i <= 20; i++) await owner.publish(room, String(i)); // all lost on the way to the subscriber
      await owner.publish(room, "21");
      await waitUntil(() => got.includes(21), "continues after the discontinuity");
      // Heartbeat announcements may repair part of the loss while it is still in history; whatever history no
      // longer covers must be reported: every seq 1..21 is delivered or inside a discontinuity, in order.
      const disc = events.filter((e) => e.type === "discontinuity");
      assertGreater(disc.length, 0, `history (5 messages) cannot cover 19 lost ones: got ${got} ${JSON.stringify(lossy.status().counters)}`);
      for (let i = 1; i < got.length; i++) assert(got[i] > got[i - 1], "strictly increasing");
      assertEquals(got.slice(-5), [17, 18, 19, 20, 21], "what history still holds is delivered");
      for (let seq = 1; seq <= 21; seq++) {
        const covered = disc.some((e) => e.type === "discontinuity" && e.afterSeq < seq && seq < e.nextSeq);
        assert(got.includes(seq) !== covered, `seq ${seq} delivered xor reported lost`);
      }
      assertEquals(lossy.status().counters.discontinuities, disc.length);
      unsub();
    } finally {
      await Promise.all([owner.close(), lossy.close()]);
      await Promise.all([nc1.close(), nc2.close()]);
    }
  });

  it("a stalled event loop does not declare live nodes dead (no ownership churn)", async () => {
    const set = await nodes(server, 2, { prefix: "stall", heartbeatMs: 100, missedBeats: 3 });
    try {
      const [a] = set.exs;
      const owners = Array.from({ length: 20 }, (_, i) => a.ownerOf(`s${i}`));
      const before = a.status().counters.heartbeatsReceived;
      const until = Date.now() + 1000; // 10 heartbeats, 3× the dead-after window, without yielding once
      let spins = 0;
      while (Date.now() < until) spins++;
      assertGreater(spins, 0);
      await waitUntil(() => a.status().counters.heartbeatsReceived >= before + 3, "heartbeats flow again");
      assertEquals(a.status().counters.membersDied, 0, "nobody was declared dead");
      assertEquals(Array.from({ length: 20 }, (_, i) => a.ownerOf(`s${i}`)), owners);
    } finally {
      await set.close();
    }
  });

  it("a graceful close hands rooms to the next owner: higher epoch, seq continues, history kept", async () => {
    const set = await nodes(server, 3, { prefix: "drain" });
    try {
      const [a, b, c] = set.exs;
      const room = Array.from({ length: 30 }, (_, i) => `d${i}`).find((r) => a.ownerOf(r) === "node0")!;
      const got: SequencedMessage[] = [];
      const events: ExchangeEvent[] = [];
      const unsub = c.subscribe(room, (m) => got.push(m), { onEvent: (e) => events.push(e) });
      await waitUntil(() => events.length > 0, "positioned");
      for (let i = 1; i <= 10; i++) await b.publish(room, `m${i}`);
      const epochBefore = got.length ? got[got.length - 1].epoch : 0;
      await a.close();
      await waitUntil(() => b.ownerOf(room) !== "node0" && c.ownerOf(room) !== "node0", "a left");
      const next = await b.publish(room, "after");
      assertEquals(next.seq, 11);
      await waitUntil(() => got.length === 11, "delivered");
      assertGreater(got[10].epoch, epochBefore);
      const h = await c.history(room, 5);
      assert(Array.isArray(h), "history moved with the room");
      assertEquals(h.map((m) => m.seq), [6, 7, 8, 9, 10, 11]);
      assertEquals(events.filter((e) => e.type === "discontinuity").length, 0);
      unsub();
    } finally {
      await set.close();
    }
  });
});
