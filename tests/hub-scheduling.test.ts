// The hub's delivery scheduling (issue 14): bursts are fanned out in budgeted slices so the event loop keeps running,
// frames to a connection are batched across messages (one write per turn), a lone message still leaves at once, and a
// member that joins mid-burst sees contiguous seqs.
import { describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import { Hub } from "../src/hub.ts";
import type { FrameSink } from "../src/local/queue.ts";
import type { Frame } from "../src/protocol.ts";
import { nextTurn } from "./helpers/sinks.ts";
import { waitUntil } from "./helpers/process.ts";

/** A sink that keeps what the tests need without parsing frames: msg seqs per room, number of writes. */
class SeqSink implements FrameSink {
  writes = 0;
  msgs = 0;
  seqs: number[] = [];
  other: string[] = [];
  constructor(readonly keepSeqs = false) {}
  write(frames: readonly Frame[]): void {
    this.writes++;
    for (const f of frames) {
      if (f.seq !== undefined) {
        this.msgs++;
        if (this.keepSeqs) this.seqs.push(f.seq);
      } else this.other.push(f.text);
    }
  }
  close(): void {}
}

const quiet = { log: () => {} };

async function members(hub: Hub, room: string, n: number, keepSeqs = false): Promise<SeqSink[]> {
  const sinks: SeqSink[] = [];
  for (let i = 0; i < n; i++) {
    const sink = new SeqSink(keepSeqs);
    const conn = hub.connect(sink);
    await hub.join(conn.id, room);
    sinks.push(sink);
  }
  return sinks;
}

/** Publish `count` messages without awaiting (a burst in one turn); a timer is set as the burst starts. */
function burst(hub: Hub, rooms: string[], count: number): { timer: Promise<number>; acks: Promise<unknown[]> } {
  let delivered = 0;
  for (const r of rooms) hub.subscribe(r, () => delivered++);
  const timer = new Promise<number>((resolve) => setTimeout(() => resolve(delivered), 0));
  const acks: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) acks.push(hub.publish(rooms[i % rooms.length], `m${i}`));
  return { timer, acks: Promise.all(acks) };
}

describe("hub scheduling: bursts never freeze the event loop", () => {
  it("a 1,000-message burst into a 400-member room: a timer set as it starts fires before it is delivered", async () => {
    const hub = new Hub(quiet);
    const sinks = await members(hub, "big", 400);
    const b = burst(hub, ["big"], 1000);
    await b.acks;
    const deliveredWhenTimerFired = await b.timer;
    await waitUntil(() => sinks.every((s) => s.msgs === 1000), "400 × 1,000 frames written", 30_000);
    // messages the hub had taken when the timer ran
    assert(deliveredWhenTimerFired < 1000, `the timer ran while the burst was being fanned out (at message ${deliveredWhenTimerFired})`);
    // Batched across messages: far fewer writes than frames (one write per connection per turn).
    const writes = sinks.reduce((n, s) => n + s.writes, 0);
    assert(writes < 400 * 1000 / 10, `400,000 frames in ${writes} writes`);
    await hub.close();
  });

  it("a burst of 5,000 messages over 1,000 rooms of one member each yields too", async () => {
    const hub = new Hub(quiet);
    const rooms = Array.from({ length: 1000 }, (_, i) => `room-${i}`);
    const sinks: SeqSink[] = [];
    for (const r of rooms) sinks.push(...await members(hub, r, 1));
    // Only messages are counted here (one delivery each), so a budget of deliveries per message alone would not yield.
    let delivered = 0;
    for (const r of rooms) hub.subscribe(r, () => delivered++);
    const timer = new Promise<number>((resolve) => setTimeout(() => resolve(delivered), 0));
    const acks: Promise<unknown>[] = [];
    for (let i = 0; i < 5000; i++) acks.push(hub.publish(rooms[i % rooms.length], `m${i}`));
    await Promise.all(acks);
    const atTimer = await timer;
    await waitUntil(() => sinks.every((s) => s.msgs === 5), "every room got its 5 messages", 30_000);
    assert(atTimer < 5000, `the timer ran mid-burst (after ${atTimer} of 5,000 messages)`);
    await hub.close();
  });

  it("a large room takes a burst in batches: every member gets every message in order, in few writes", async () => {
    const lines: string[] = [];
    const hub = new Hub({ log: (l) => lines.push(l) });
    const sinks = await members(hub, "huge", 2000, true);
    const b = burst(hub, ["huge"], 300);
    await b.acks;
    const atTimer = await b.timer;
    await waitUntil(() => sinks.every((s) => s.msgs === 300), "2,000 × 300 frames written", 30_000);
    assert(atTimer < 300, `the timer ran mid-burst (after ${atTimer} of 300 messages)`);
    for (const s of [sinks[0], sinks[999], sinks[1999]]) assertEquals(s.seqs, Array.from({ length: 300 }, (_, i) => i + 1));
    const writes = sinks.reduce((n, s) => n + s.writes, 0);
    assert(writes <= 2000 * 300 / 20, `600,000 frames in ${writes} writes (messages batched per member)`);
    const logged = lines.filter((l) => l.includes("edgeplane fanout") && l.includes("members=2000"));
    assertEquals(logged.reduce((n, l) => n + Number(/messages=(\d+)/.exec(l)![1]), 0), 300, "every message logged once, in batches");
    await hub.close();
  });

  it("a connection that joins mid-burst gets exactly the messages after its join position, in order", async () => {
    const hub = new Hub(quiet);
    const sinks = await members(hub, "big", 400);
    let taken = 0;
    hub.subscribe("big", () => taken++);
    const late = new SeqSink(true);
    let joining: Promise<{ seq: number }> | undefined;
    let takenAtJoin = -1;
    const acks: Promise<unknown>[] = [];
    // 2,000 messages published 100 per turn while the hub is still fanning out earlier ones; the join is requested
    // halfway, behind the messages already published.
    for (let turn = 0; turn < 20; turn++) {
      for (let i = 0; i < 100; i++) acks.push(hub.publish("big", `m${turn * 100 + i}`));
      if (turn === 10) {
        takenAtJoin = taken;
        joining = hub.join(hub.connect(late).id, "big");
      }
      await nextTurn();
    }
    await Promise.all(acks);
    const joined = await joining!;
    await waitUntil(() => sinks.every((s) => s.msgs === 2000), "the burst is delivered", 30_000);
    await waitUntil(() => late.seqs.length === 2000 - joined.seq, "the late member got the rest");
    assert(takenAtJoin < 1100, `the join was requested while the fanout lagged behind (${takenAtJoin} of 1,100 taken)`);
    assertEquals(joined.seq, 1100, "the join took its place behind the messages published before it");
    assertEquals(late.seqs, Array.from({ length: 2000 - joined.seq }, (_, i) => joined.seq + 1 + i));
    await hub.close();
  });

  it("a lone message into an idle room is written by the next turn, not after a timer", async () => {
    const hub = new Hub(quiet);
    const [sink] = await members(hub, "quiet", 1, true);
    await nextTurn();
    const writesBefore = sink.writes;
    void hub.publish("quiet", "hello");
    // The publish is delivered in this turn and its write is scheduled for the start of the next one (after the
    // test's own first `nextTurn`, scheduled just before it): once that turn has run, the frame is out.
    await nextTurn();
    await nextTurn();
    assertEquals(sink.seqs, [1]);
    assertEquals(sink.writes, writesBefore + 1);
    await hub.close();
  });

  it("messages of one turn reach a connection in one write, in seq order", async () => {
    const hub = new Hub(quiet);
    const [sink] = await members(hub, "r", 1, true);
    await nextTurn();
    const writesBefore = sink.writes;
    await Promise.all(Array.from({ length: 50 }, (_, i) => hub.publish("r", `m${i}`)));
    await nextTurn();
    assertEquals(sink.seqs, Array.from({ length: 50 }, (_, i) => i + 1));
    assertEquals(sink.writes, writesBefore + 1, "50 messages, one write");
    await hub.close();
  });
});
