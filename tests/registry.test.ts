import { describe, it } from "node:test";
import { assertEquals, assertThrows } from "@std/assert";
import { Registry } from "../src/local/registry.ts";
import { EdgeplaneError } from "../src/errors.ts";

describe("registry", () => {
  it("join/leave twice is harmless; both directions stay consistent", () => {
    const reg = new Registry<string>();
    reg.add("c1", "conn1");
    reg.add("c2", "conn2");
    assertEquals(reg.join("c1", "a"), true);
    assertEquals(reg.join("c1", "a"), false);
    reg.join("c2", "a");
    reg.join("c1", "__proto__");
    assertEquals(reg.memberCount("a"), 2);
    assertEquals([...reg.roomsOf("c1")], ["a", "__proto__"]);
    assertEquals(reg.leave("c1", "a"), true);
    assertEquals(reg.leave("c1", "a"), false);
    assertEquals([...reg.members("a").keys()], ["c2"]);
    assertEquals(reg.leave("nobody", "a"), false);
  });

  it("closing a connection removes it from every room and sizes return to 0", () => {
    const reg = new Registry<number>();
    for (let i = 0; i < 100; i++) {
      reg.add(`c${i}`, i);
      for (let r = 0; r < 10; r++) reg.join(`c${i}`, `room${(i + r) % 20}`);
    }
    assertEquals(reg.connectionCount, 100);
    assertEquals(reg.roomCount, 20);
    for (let i = 0; i < 100; i++) assertEquals(reg.remove(`c${i}`).length, 10);
    assertEquals(reg.remove("c0"), []);
    assertEquals(reg.connectionCount, 0);
    assertEquals(reg.roomCount, 0);
  });

  it("unknown connections and duplicate ids get typed errors", () => {
    const reg = new Registry<number>();
    assertEquals(assertThrows(() => reg.join("ghost", "a"), EdgeplaneError).code, "UNKNOWN_CONNECTION");
    reg.add("c", 1);
    assertEquals(assertThrows(() => reg.add("c", 2), EdgeplaneError).code, "BAD_OPTION");
  });
});
