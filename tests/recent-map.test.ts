// RecentMap (src/_recent-map.ts), the bounded map behind dedupe windows and idempotency caches: the last `max`
// inserted keys are always found with their values, older ones are forgotten a generation at a time.
import { describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import { RecentMap } from "../src/_recent-map.ts";

describe("RecentMap", () => {
  it("keeps at least the last max entries and forgets whole generations beyond 2 × max", () => {
    const m = new RecentMap<string, number>(100);
    for (let i = 0; i < 1000; i++) {
      m.set(`k${i}`, i);
      for (let j = Math.max(0, i - 99); j <= i; j += 7) assertEquals(m.get(`k${j}`), j, `k${j} after inserting k${i}`);
    }
    assert(!m.has("k0") && m.get("k799") === undefined, "old generations are gone");
    assertEquals(m.get("k999"), 999);
    let held = 0;
    for (let i = 0; i < 1000; i++) if (m.has(`k${i}`)) held++;
    assert(held >= 100 && held <= 200, `held ${held}`);
  });

  it("overwrites in place and keeps undefined-free semantics for missing keys", () => {
    const m = new RecentMap<string, number>(2);
    m.set("a", 1);
    m.set("a", 2);
    m.set("b", 3);
    assertEquals(m.get("a"), 2);
    m.set("c", 4); // "a", "b" move to the previous generation
    assertEquals([m.get("a"), m.get("b"), m.get("c")], [2, 3, 4]);
    assertEquals(m.get("zzz"), undefined);
  });

  it("calls onRotate once each time the current generation becomes the previous one", () => {
    let rotations = 0;
    const m = new RecentMap<string, number>(3, () => rotations++);
    for (let i = 0; i < 3; i++) m.set(`k${i}`, i);
    m.set("k0", 10); // an overwrite of a held key never rotates
    assertEquals(rotations, 0);
    m.set("k3", 3);
    assertEquals(rotations, 1);
    for (let i = 4; i < 9; i++) m.set(`k${i}`, i);
    assertEquals(rotations, 2, "9 distinct keys with max 3: generations flipped at the 4th and the 7th");
  });
});
