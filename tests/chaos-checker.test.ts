// The chaos checker must pass clean histories and catch every kind of violation (a checker that cannot fail proves nothing).
import { describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import { checkHistory, type HistoryEvent } from "./chaos/checker.ts";

function clean(): HistoryEvent[] {
  const h: HistoryEvent[] = [
    { ev: "sub", sub: "A", room: "r", t: 0 },
    { ev: "sub", sub: "B", room: "r", t: 0 },
  ];
  for (let s = 1; s <= 10; s++) {
    const id = `id${s}`;
    h.push({ ev: "pub", node: "n1", room: "r", id, t: s * 10 });
    h.push({ ev: "ack", node: "n1", room: "r", id, seq: s, ts: 1000 + s, t: s * 10 + 1 });
    for (const sub of ["A", "B"]) h.push({ ev: "deliver", sub, room: "r", seq: s, epoch: 1, id, ts: 1000 + s, t: s * 10 + 2 });
  }
  h.push({ ev: "fault", kind: "end", target: "-", t: 10_000 });
  return h;
}

const rules = (h: HistoryEvent[]) => checkHistory(h, { graceMs: 100 }).violations.map((v) => v.rule);

describe("chaos history checker", () => {
  it("accepts a clean history", () => {
    const r = checkHistory(clean(), { graceMs: 100 });
    assert(r.ok, JSON.stringify(r.violations));
    assertEquals(r.counts.checkedObligations, 20);
  });

  it("catches a lost acknowledged message, unless a discontinuity covers it", () => {
    const h = clean().filter((e) => !(e.ev === "deliver" && e.sub === "B" && e.seq === 5));
    assertEquals(rules(h), ["lost"]);
    h.push({ ev: "disc", sub: "B", room: "r", afterSeq: 4, nextSeq: 6, t: 55 });
    assertEquals(rules(h), []);
  });

  it("does not owe messages to subscribers that joined late or left early", () => {
    const h = clean().filter((e) => !(e.ev === "deliver" && e.sub === "B" && e.seq <= 3));
    h.push({ ev: "sub", sub: "C", room: "r", t: 45 });
    h.push({ ev: "unsub", sub: "C", room: "r", t: 46 });
    assertEquals(rules(h), ["lost", "lost", "lost"]);
    const late = clean().map((e) => (e.ev === "sub" && e.sub === "B" ? { ...e, t: 35 } : e)).filter((e) => !(e.ev === "deliver" && e.sub === "B" && e.seq <= 3));
    assertEquals(rules(late), []);
  });

  it("catches duplicates, reorders, time going back and a seq reused with another id", () => {
    const dup = clean();
    dup.push({ ev: "deliver", sub: "A", room: "r", seq: 3, epoch: 1, id: "id3", ts: 1003, t: 200 });
    assert(rules(dup).includes("duplicate") && rules(dup).includes("order"));
    const back = clean().map((e) => (e.ev === "deliver" && e.sub === "A" && e.seq === 7 ? { ...e, ts: 1 } : e));
    assertEquals(rules(back), ["timestamp"]);
    const reused = clean();
    reused.push({ ev: "ack", node: "n2", room: "r", id: "other", seq: 4, ts: 2000, t: 300 });
    assertEquals(rules(reused), ["seq-reused", "lost", "lost"], "the second id at seq 4 also never reached A or B");
  });

  it("catches a stalled consumer that was never closed as a slow consumer", () => {
    const h = clean();
    h.push({ ev: "stall", node: "n1", room: "r", closed: true, t: 50 });
    assertEquals(rules(h), []);
    h.push({ ev: "stall", node: "n2", room: "r", closed: false, t: 60 });
    assertEquals(rules(h), ["slow-consumer"]);
  });

  it("catches unbounded memory", () => {
    const h = clean();
    h.push({ ev: "mem", node: "n1", rss: 900e6, t: 5 });
    assertEquals(checkHistory(h, { graceMs: 100, maxRss: 500e6 }).violations.map((v) => v.rule), ["memory"]);
  });
});
