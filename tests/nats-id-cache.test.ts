// The owner's id cache (idempotent publishes): every id among the last `max` inserted is found with its SeqInfo (the
// Bloom prefilter never hides one), per room, after generation flips; deleted ids are gone; older ones are dropped.
import { describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import { IdCache } from "../src/exchange/nats/_sequencer.ts";

describe("nats id cache", () => {
  it("finds every one of the last max ids with its info, per room, across generation flips", () => {
    const max = 1000;
    const c = new IdCache(max);
    const info = (i: number) => ({ seq: i, timestamp: i, epoch: 1 });
    const total = 5500;
    for (let i = 0; i < total; i++) c.set(i % 2 ? "roomA" : "roomB", `id-${i}`, info(i));
    for (let i = total - max; i < total; i++) assertEquals(c.get(i % 2 ? "roomA" : "roomB", `id-${i}`), info(i), `id-${i}`);
    for (let i = total - max; i < total; i++) assertEquals(c.get(i % 2 ? "roomB" : "roomA", `id-${i}`), undefined, "another room's id");
    let old = 0;
    for (let i = 0; i < total - 2 * max; i++) if (c.get(i % 2 ? "roomA" : "roomB", `id-${i}`)) old++;
    assertEquals(old, 0, "at most two generations are held");
    let fresh = 0;
    for (let i = 0; i < 10_000; i++) if (c.get("roomA", `never-${i}`)) fresh++;
    assertEquals(fresh, 0);
  });

  it("the same id in two rooms is two entries; delete removes one", () => {
    const c = new IdCache(10);
    c.set("a", "x", { seq: 1, timestamp: 1, epoch: 1 });
    c.set("b", "x", { seq: 2, timestamp: 2, epoch: 1 });
    assertEquals(c.get("a", "x")?.seq, 1);
    assertEquals(c.get("b", "x")?.seq, 2);
    c.delete("a", "x");
    assertEquals(c.get("a", "x"), undefined);
    assert(c.get("b", "x"));
  });
});
