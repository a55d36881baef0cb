import { describe, it } from "node:test";
import { assert, assertEquals, assertRejects } from "@std/assert";
import { Hub } from "../src/hub.ts";
import { EdgeplaneError } from "../src/errors.ts";
import { MemoryBus, MemoryExchange } from "../src/exchange/memory.ts";
import type { Exchange, ExchangeEvent, ExchangeStatus, SeqInfo, SequencedMessage, SubscribeOptions } from "../src/exchange/exchange.ts";
import { RecordingSink } from "./helpers/sinks.ts";
import { waitUntil } from "./helpers/process.ts";

const quiet = { log: () => {} };

function client(hub: Hub, opts: Parameters<Hub["connect"]>[1] = {}) {
  const sink = new RecordingSink();
  const conn = hub.connect(sink, opts);
  return { sink, conn };
}

describe("hub", () => {
  it("publishes through the exchange to every member in seq order; leave and close clean up", async () => {
    const hub = new Hub(quiet);
    const a = client(hub), b = client(hub);
    await hub.join(a.conn.id, "lobby");
    await hub.join(b.conn.id, "lobby");
    await hub.join(b.conn.id, "lobby"); // idempotent
    for (let i = 0; i < 100; i++) await hub.publish("lobby", `m${i}`);
    await waitUntil(() => a.sink.messages().length === 100 && b.sink.messages().length === 100, "delivered");
    for (const c of [a, b]) {
      assertEquals(c.sink.messages().map((m) => m.seq), Array.from({ length: 100 }, (_, i) => i + 1));
      assertEquals(c.sink.messages().map((m) => m.data), Array.from({ length: 100 }, (_, i) => `m${i}`));
    }
    assertEquals(a.sink.ofType("welcome").length, 1);
    await hub.leave(a.conn.id, "lobby");
    await hub.leave(a.conn.id, "lobby");
    hub.disconnect(b.conn.id);
    hub.disconnect(b.conn.id);
    assertEquals(hub.metrics().rooms, 0);
    assertEquals(hub.metrics().subscribedRooms, 0, "exchange subscription released with the last member");
    hub.disconnect(a.conn.id);
    assertEquals(hub.metrics().connections, 0);
    await hub.close();
  });

  it("a connection over budget is dropped then closed as slow consumer; the others get every message in order", async () => {
    const hub = new Hub({ ...quiet, queue: { budgetBytes: 4096, slowConsumerMs: 50 } });
    const slow = client(hub);
    slow.sink.stalled = true;
    const fast = [client(hub), client(hub)];
    for (const c of [slow, ...fast]) await hub.join(c.conn.id, "room");
    const N = 500;
    for (let i = 0; i < N; i++) {
      await hub.publish("room", `payload-${i}-${"z".repeat(80)}`);
      if (i % 50 === 0) await new Promise((r) => setTimeout(r, 5)); // let time pass so the deadline can expire mid-stream
    }
    await waitUntil(() => fast.every((c) => c.sink.messages().length === N), "fast clients got all");
    for (const c of fast) assertEquals(c.sink.messages().map((m) => m.seq), Array.from({ length: N }, (_, i) => i + 1));
    await waitUntil(() => slow.sink.closed !== undefined, "slow consumer closed");
    assertEquals(slow.sink.closed?.code, 4008);
    const m = hub.metrics();
    assert(m.outcomes.dropped > 0, "some frames were dropped for the slow client");
    assertEquals(m.slowConsumerCloses, 1);
    assertEquals(m.connections, 2);
    assert(slow.sink.messages().length < N);
    await hub.close();
  });

  it("a 10,000-member fanout yields between chunks and serializes each message once", async () => {
    const lines: string[] = [];
    const hub = new Hub({ log: (l) => lines.push(l), fanout: { chunkSize: 512 } });
    const sinks: RecordingSink[] = [];
    for (let i = 0; i < 10_000; i++) {
      const c = client(hub);
      sinks.push(c.sink);
      await hub.join(c.conn.id, "huge");
    }
    let timerFired = false;
    let fanoutDone = false;
    let timerBeforeEnd = false;
    setTimeout(() => {
      timerFired = true;
      timerBeforeEnd = !fanoutDone;
    }, 0);
    const before = hub.metrics().framesSerialized;
    await hub.publish("huge", "hello everyone");
    await waitUntil(() => sinks.every((s) => s.messages().length === 1), "all 10,000 received", 20_000);
    fanoutDone = true;
    assert(timerFired, "the timer ran");
    assert(timerBeforeEnd, "a timer scheduled before the fanout fired before it ended");
    assertEquals(hub.metrics().framesSerialized - before, 1, "one serialization for 10,000 members");
    assertEquals(new Set(sinks.map((s) => s.texts.find((t) => t.startsWith(`{"t":"msg"`)))).size, 1, "every member got the identical frame");
    assertEquals(lines.filter((l) => l.includes("fanout") && l.includes("members=10000")).length, 1, "one log line");
    await hub.close();
  });

  it("resumes a connection from lastSeq with exactly the missed tail, or a discontinuity when history is gone", async () => {
    const hub = new Hub({ ...quiet, exchange: new MemoryExchange({ history: { maxMessages: 20 } }) });
    const watcher = client(hub);
    await hub.join(watcher.conn.id, "r");
    for (let i = 1; i <= 30; i++) await hub.publish("r", `m${i}`);
    const resumed = client(hub);
    const res = await hub.join(resumed.conn.id, "r", { lastSeq: 25 });
    assertEquals(res.replayed, 5);
    await hub.publish("r", "m31");
    await waitUntil(() => resumed.sink.messages().length === 6, "tail + live");
    assertEquals(resumed.sink.messages().map((m) => m.seq), [26, 27, 28, 29, 30, 31]);
    const late = client(hub);
    const gap = await hub.join(late.conn.id, "r", { lastSeq: 2 });
    assert(gap.discontinuity);
    await waitUntil(() => late.sink.ofType("discontinuity").length === 1, "discontinuity frame");
    assertEquals(late.sink.ofType("discontinuity")[0].afterSeq, 2);
    assertEquals(late.sink.ofType("discontinuity")[0].nextSeq, 32);
    await hub.close();
  });

  it("delivers across hubs sharing a backplane, and drops duplicates by id", async () => {
    const bus = new MemoryBus();
    // An exchange that delivers every message twice (as a chain over two brokers might).
    class Twice extends MemoryExchange {
      override subscribe(room: string, on: (m: SequencedMessage) => void, o?: Parameters<Exchange["subscribe"]>[2]) {
        return super.subscribe(room, (m) => (on(m), on({ ...m })), o);
      }
    }
    const twice = new Twice({ bus, nodeId: "dup" });
    const hubA = new Hub({ ...quiet, exchange: new MemoryExchange({ bus, nodeId: "a" }) });
    const hubB = new Hub({ ...quiet, exchange: twice });
    const onB = client(hubB);
    await hubB.join(onB.conn.id, "x");
    for (let i = 0; i < 50; i++) await hubA.publish("x", `a${i}`);
    await waitUntil(() => onB.sink.messages().length >= 50, "B received");
    await hubA.publish("x", "end");
    await waitUntil(() => onB.sink.messages().some((m) => m.data === "end"), "end received");
    assertEquals(onB.sink.messages().length, 51);
    assert(hubB.metrics().duplicatesDropped >= 51);
    await hubA.close();
    await hubB.close();
  });

  it("bad frames, hostile rooms and denied joins get error frames; the hub and other clients carry on", async () => {
    const hub = new Hub({ ...quiet, authorize: (_c, room) => !room.startsWith("private:") });
    const bad = client(hub), good = client(hub);
    await hub.join(good.conn.id, "lobby");
    const frames = [
      "not json", "[]", '{"t":"teleport"}', '{"t":"join"}', JSON.stringify({ t: "join", room: "" }),
      JSON.stringify({ t: "join", room: "x".repeat(10 * 1024) }), JSON.stringify({ t: "join", room: "a\u0000b" }),
      JSON.stringify({ t: "join", room: "private:ceo", ref: "r1" }), JSON.stringify({ t: "pub", room: "private:ceo", data: "leak" }),
      JSON.stringify({ t: "pub", room: "lobby", b64: "%%%" }), "x".repeat(3 * 1024 * 1024),
      JSON.stringify({ t: "pub", room: "lobby", data: "y".repeat(1024 * 1024 + 10) }),
    ];
    for (const f of frames) await hub.receive(bad.conn.id, f);
    await waitUntil(() => bad.sink.ofType("error").length >= frames.length, "error frames written");
    const errors = bad.sink.ofType("error");
    assertEquals(errors.length, frames.length, "one error frame per bad frame");
    assertEquals(errors.map((e) => e.code), [
      "BAD_FRAME", "BAD_FRAME", "BAD_FRAME", "BAD_FRAME", "BAD_ROOM", "BAD_ROOM", "BAD_ROOM", "FORBIDDEN", "FORBIDDEN", "BAD_FRAME",
      "PAYLOAD_TOO_LARGE", "PAYLOAD_TOO_LARGE",
    ]);
    assertEquals(errors[7].ref, "r1");
    // hostile-but-valid names are just rooms
    for (const room of ["*", ">", "a b", "a..b", "__proto__", "ünï 🚀"]) {
      await hub.receive(bad.conn.id, JSON.stringify({ t: "join", room }));
      await hub.receive(bad.conn.id, JSON.stringify({ t: "pub", room, data: `to ${room}`, ref: room }));
    }
    await waitUntil(() => bad.sink.messages().length === 6, "hostile rooms delivered to their own members");
    await hub.receive(good.conn.id, JSON.stringify({ t: "pub", room: "lobby", data: "still fine", ref: "g" }));
    await waitUntil(() => good.sink.messages().length === 1, "good client delivered");
    assertEquals(good.sink.messages()[0].data, "still fine");
    assertEquals(good.sink.ofType("error").length, 0, "other clients see nothing odd");
    assertEquals(good.sink.ofType("ack")[0].seq, 1);
    await hub.receive("ghost", "{}"); // unknown connection: ignored, no throw
    await assertRejects(() => hub.join("ghost", "lobby"), EdgeplaneError, "unknown connection");
    await assertRejects(() => hub.publish("", "x"), EdgeplaneError);
    await hub.close();
  });

  it("errors of malformed frames echo the frame's ref; single-node presence carries join meta", async () => {
    const hub = new Hub({ ...quiet, presence: { intervalMs: 5 } });
    const a = client(hub), b = client(hub);
    await hub.receive(a.conn.id, JSON.stringify({ t: "join", room: "r", lastSeq: -1, ref: "x9" }));
    await hub.receive(a.conn.id, JSON.stringify({ t: "pub", room: "r", ref: "x10" }));
    await waitUntil(() => a.sink.ofType("error").length === 2, "error frames written");
    assertEquals(a.sink.ofType("error").map((e) => [e.code, e.ref]), [["BAD_FRAME", "x9"], ["BAD_FRAME", "x10"]]);
    await hub.receive(a.conn.id, JSON.stringify({ t: "join", room: "r", meta: { name: "ada" } }));
    await hub.receive(b.conn.id, JSON.stringify({ t: "join", room: "r", meta: { name: "bob" } }));
    await waitUntil(() => b.sink.ofType("presence").at(-1)?.count === 2, "presence frame");
    assertEquals(b.sink.ofType("presence").at(-1)?.members?.map((m) => m.meta), [{ name: "ada" }, { name: "bob" }]);
    hub.disconnect(a.conn.id);
    await waitUntil(() => b.sink.ofType("presence").at(-1)?.count === 1, "leave reflected");
    assertEquals(hub.presence("r").map((e) => e.meta), [{ name: "bob" }]);
    await hub.close();
  });

  it("server-side listeners get ordered messages and a throwing listener does not stall the room", async () => {
    const hub = new Hub(quiet);
    const seen: number[] = [];
    hub.subscribe("r", () => {
      throw new Error("listener bug");
    });
    const unsub = hub.subscribe("r", (m) => seen.push(m.seq));
    await hub.roomReady("r");
    for (let i = 0; i < 10; i++) await hub.publish("r", String(i));
    await waitUntil(() => seen.length === 10, "listener got all");
    assertEquals(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assertEquals(hub.metrics().listenerErrors, 10);
    unsub();
    await hub.close();
    await assertRejects(() => hub.publish("r", "x"), EdgeplaneError, "closed");
  });
});

/** An exchange whose deliveries and events the test drives by hand. */
class ScriptedExchange implements Exchange {
  readonly nodeId = "scripted";
  readonly maxPayloadBytes = 1024 * 1024;
  on: ((m: SequencedMessage) => void) | undefined;
  event: ((e: ExchangeEvent) => void) | undefined;
  held: SequencedMessage[] = [];
  publish(): Promise<SeqInfo> {
    return Promise.reject(new EdgeplaneError("BACKPLANE_UNAVAILABLE", "scripted"));
  }
  subscribe(room: string, on: (m: SequencedMessage) => void, o?: SubscribeOptions): () => void {
    this.on = on;
    this.event = o?.onEvent;
    queueMicrotask(() => this.event?.({ type: "position", room, seq: 0, epoch: 1 }));
    return () => {};
  }
  history(_room: string, afterSeq: number): Promise<SequencedMessage[]> {
    return Promise.resolve(this.held.filter((m) => m.seq > afterSeq));
  }
  ready(): Promise<void> {
    return Promise.resolve();
  }
  status(): ExchangeStatus {
    return { kind: "scripted", state: "ready", nodeId: this.nodeId, epoch: 1, counters: {} };
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  msg(seq: number, epoch: number, id = `e${epoch}s${seq}`): SequencedMessage {
    return { room: "r", seq, epoch, timestamp: seq, id, origin: "o", payload: id };
  }
}

describe("hub: generations and re-sequenced ids", () => {
  it("follows a newer generation that restarts below its position (no silent loss after a reset)", async () => {
    const ex = new ScriptedExchange();
    const hub = new Hub({ ...quiet, exchange: ex });
    const c = client(hub);
    await hub.join(c.conn.id, "r");
    for (let s = 1; s <= 5; s++) ex.on!(ex.msg(s, 1));
    ex.event!({ type: "discontinuity", room: "r", afterSeq: 5, nextSeq: 1, epoch: 2, reason: "reset" });
    for (let s = 1; s <= 7; s++) ex.on!(ex.msg(s, 2));
    await waitUntil(() => c.sink.messages().length === 12, "all 12 delivered");
    assertEquals(c.sink.messages().map((m) => `${m.epoch}:${m.seq}`), [
      "1:1", "1:2", "1:3", "1:4", "1:5", "2:1", "2:2", "2:3", "2:4", "2:5", "2:6", "2:7",
    ]);
    assertEquals(c.sink.ofType("discontinuity").length, 1);
    await hub.close();
  });

  it("drops a late message of the older generation, so it cannot shadow the new generation's seqs", async () => {
    const ex = new ScriptedExchange();
    const hub = new Hub({ ...quiet, exchange: ex });
    const c = client(hub);
    await hub.join(c.conn.id, "r");
    for (let s = 1; s <= 3; s++) ex.on!(ex.msg(s, 1));
    ex.event!({ type: "discontinuity", room: "r", afterSeq: 3, nextSeq: 1, epoch: 2, reason: "reset" });
    ex.on!(ex.msg(1, 2));
    ex.on!(ex.msg(4, 1)); // late copy from the lost generation, above the new generation's position
    ex.on!(ex.msg(2, 2));
    await waitUntil(() => c.sink.messages().length >= 5, "five delivered");
    assertEquals(c.sink.messages().map((m) => `${m.epoch}:${m.seq}`), ["1:1", "1:2", "1:3", "2:1", "2:2"]);
    await hub.close();
  });

  it("a resume never replays an id again under a second seq", async () => {
    const ex = new ScriptedExchange();
    const hub = new Hub({ ...quiet, exchange: ex });
    const live = client(hub);
    await hub.join(live.conn.id, "r");
    // seq 3 carries the same id as seq 2 (a retried publish sequenced again by a new owner).
    ex.held = [ex.msg(1, 1), ex.msg(2, 1, "retried"), ex.msg(3, 2, "retried"), ex.msg(4, 2)];
    for (const m of ex.held) ex.on!(m);
    await waitUntil(() => live.sink.messages().length === 3, "live path dropped the second copy");
    const resumed = client(hub);
    await hub.join(resumed.conn.id, "r", { lastSeq: 1 });
    await waitUntil(() => resumed.sink.messages().length === 2, "replayed");
    assertEquals(resumed.sink.messages().map((m) => m.seq), [2, 4]);
    assertEquals(resumed.sink.messages().map((m) => m.id), live.sink.messages().slice(1).map((m) => m.id));
    await hub.close();
  });
});
