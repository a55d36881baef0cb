// The subscriber rules shared by the Redis exchange and the chain (src/exchange/_room-order.ts), driven directly.
import { describe, it } from "node:test";
import { assertEquals } from "@std/assert";
import { newOrderCounters, RoomOrder } from "../src/exchange/_room-order.ts";
import type { ExchangeEvent, Gap, SequencedMessage } from "../src/exchange/exchange.ts";
import { waitUntil } from "./helpers/process.ts";

const m = (seq: number, epoch = 1, id = `e${epoch}s${seq}`): SequencedMessage => ({ room: "r", seq, timestamp: seq, epoch, id, origin: "o", payload: `p${seq}` });

function harness(history: (after: number) => SequencedMessage[] | Gap, gapTimeoutMs = 200) {
  const got: SequencedMessage[] = [];
  const events: ExchangeEvent[] = [];
  const counters = newOrderCounters();
  const order = new RoomOrder("r", {
    deliver: (x) => got.push(x),
    event: (e) => events.push(e),
    fetch: (after) => Promise.resolve(history(after)),
  }, counters, { gapTimeoutMs, retryMs: 5 });
  return { got, events, counters, order, seqs: () => got.map((x) => x.seq) };
}

describe("room order (subscriber rules)", () => {
  it("buffers messages before the position, drops duplicates by id and by seq", () => {
    const h = harness(() => []);
    h.order.offer(m(5));
    h.order.offer(m(6));
    h.order.position(5, 1);
    h.order.offer(m(6));
    h.order.offer(m(7));
    h.order.offer({ ...m(8), id: "e1s7" }); // same id again under another seq: dropped
    assertEquals(h.seqs(), [6, 7]);
    assertEquals(h.events.map((e) => e.type), ["position"]);
    assertEquals(h.counters.duplicatesDropped, 3);
  });

  it("repairs a gap from history and delivers in order", async () => {
    const store = [1, 2, 3, 4, 5].map((s) => m(s));
    const h = harness((after) => store.filter((x) => x.seq > after));
    h.order.position(0, 1);
    h.order.offer(m(1));
    h.order.offer(m(4));
    h.order.offer(m(5));
    await waitUntil(() => h.got.length === 5, "repaired");
    assertEquals(h.seqs(), [1, 2, 3, 4, 5]);
    assertEquals(h.events.filter((e) => e.type === "discontinuity").length, 0);
  });

  it("reports a discontinuity when history no longer has the gap, then continues", async () => {
    const h = harness((after) => ({ gap: true, room: "r", afterSeq: after, oldestSeq: 8, lastSeq: 9, epoch: 1 }));
    h.order.position(2, 1);
    h.order.offer(m(9));
    await waitUntil(() => h.got.length === 1, "continued");
    const d = h.events.find((e) => e.type === "discontinuity");
    assertEquals(d && d.type === "discontinuity" ? [d.afterSeq, d.nextSeq] : [], [2, 8]);
  });

  it("a hole that never fills is reported after gapTimeoutMs (relays in flight that never land)", async () => {
    const h = harness((after) => [m(5), m(6)].filter((x) => x.seq > after && x.seq !== 3 && x.seq !== 4), 50);
    h.order.position(2, 1);
    h.order.offer(m(5));
    await waitUntil(() => h.got.length === 2, "moved on");
    const d = h.events.find((e) => e.type === "discontinuity");
    assertEquals(d && d.type === "discontinuity" ? [d.afterSeq, d.nextSeq] : [], [2, 5]);
    assertEquals(h.seqs(), [5, 6]);
  });

  it("a newer epoch whose seqs restart is a discontinuity; the old epoch is dropped afterwards", async () => {
    const h = harness((after) => [m(1, 2), m(2, 2)].filter((x) => x.seq > after));
    h.order.position(10, 1);
    h.order.offer(m(11));
    h.order.offer(m(2, 2));
    await waitUntil(() => h.got.length === 3, "new epoch delivered from its start");
    assertEquals(h.got.map((x) => [x.epoch, x.seq]), [[1, 11], [2, 1], [2, 2]]);
    h.order.offer(m(12, 1));
    assertEquals(h.got.length, 3, "late message of the lost generation dropped");
    const d = h.events.find((e) => e.type === "discontinuity");
    assertEquals(d && d.type === "discontinuity" ? [d.afterSeq, d.nextSeq, d.epoch] : [], [11, 1, 2]);
  });

  it("a newer epoch that continues the seqs (authority switch) is not a discontinuity", () => {
    const h = harness(() => []);
    h.order.position(0, 1);
    for (const x of [m(1), m(2), m(3, 2), m(4, 2)]) h.order.offer(x);
    assertEquals(h.got.map((x) => [x.epoch, x.seq]), [[1, 1], [1, 2], [2, 3], [2, 4]]);
    assertEquals(h.events.map((e) => e.type), ["position"]);
  });
});

describe("room order: a restarted counter that reaches exactly the old position", () => {
  it("is detected by observe() and the new generation is fetched from its start", async () => {
    const delivered: string[] = [];
    const events: string[] = [];
    const gen2 = Array.from({ length: 3 }, (_, i) => ({ room: "r", seq: i + 1, epoch: 2, timestamp: 10 + i, id: `g2-${i + 1}`, origin: "o", payload: "x" }));
    const order = new RoomOrder("r", {
      deliver: (m) => delivered.push(`${m.epoch}:${m.seq}`),
      event: (e) => events.push(e.type === "discontinuity" ? `disc ${e.afterSeq}->${e.nextSeq}` : e.type),
      fetch: (after) => Promise.resolve(gen2.filter((m) => m.seq > after)),
    }, newOrderCounters(), { retryMs: 1, gapTimeoutMs: 1000 });
    order.position(0, 1);
    for (let s = 1; s <= 3; s++) order.offer({ room: "r", seq: s, epoch: 1, timestamp: s, id: `g1-${s}`, origin: "o", payload: "x" });
    order.observe(3, 2); // Redis restarted empty and its new counter is at 3 again; the live messages were missed
    const deadline = Date.now() + 5000;
    while (delivered.length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    if (delivered.join() !== "1:1,1:2,1:3,2:1,2:2,2:3") throw new Error(`delivered ${delivered.join()} events ${events.join()}`);
    if (!events.includes("disc 3->1")) throw new Error(`no reset discontinuity: ${events.join()}`);
    order.close();
  });
});

describe("room order: a lineage that continues from exactly our position (Redis rebased after losing its data)", () => {
  it("observe() with base = our position is no restart; the next seqs are delivered as a continuation", async () => {
    const next = [m(4, 2), m(5, 2)];
    const h = harness((after) => next.filter((x) => x.seq > after));
    h.order.position(0, 1);
    for (const x of [m(1), m(2), m(3)]) h.order.offer(x);
    h.order.observe(3, 2, 3); // new epoch, counter at 3, and its lineage continued from 3: nothing new, nothing lost
    h.order.observe(5, 2, 3);
    await waitUntil(() => h.got.length === 5, "continued");
    assertEquals(h.got.map((x) => [x.epoch, x.seq]), [[1, 1], [1, 2], [1, 3], [2, 4], [2, 5]]);
    assertEquals(h.events.map((e) => e.type), ["position"]);
    // A lineage that started below our position (base 0) at the same counter is still a restart.
    const r = harness(() => []);
    r.order.position(0, 1);
    for (const x of [m(1), m(2), m(3)]) r.order.offer(x);
    r.order.observe(3, 2, 0);
    assertEquals(r.events.filter((e) => e.type === "discontinuity").map((e) => e.type === "discontinuity" && [e.afterSeq, e.nextSeq]), [[3, 1]]);
    h.order.close();
    r.order.close();
  });
});
