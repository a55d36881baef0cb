import { describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import { OutboundQueue } from "../src/local/queue.ts";
import { frame, messageFrame } from "../src/protocol.ts";
import { nextTurn, RecordingSink } from "./helpers/sinks.ts";
import { waitUntil } from "./helpers/process.ts";

const msg = (room: string, seq: number, body = "x") =>
  messageFrame({ room, seq, timestamp: 0, epoch: 1, id: `id${seq}`, origin: "n", payload: body });

describe("outbound queue", () => {
  it("writes everything queued in one turn as one batch, in order, at the start of the next turn", async () => {
    const sink = new RecordingSink();
    const q = new OutboundQueue(sink);
    for (let i = 1; i <= 3; i++) assertEquals(q.send(msg("r", i)), "accepted");
    assertEquals(sink.batches, 0, "nothing written synchronously");
    await Promise.resolve();
    for (let i = 4; i <= 5; i++) assertEquals(q.send(msg("r", i)), "accepted");
    assertEquals(sink.batches, 0, "microtasks of the same turn join the batch");
    await nextTurn();
    assertEquals(sink.batches, 1);
    assertEquals(sink.messages().map((m) => m.seq), [1, 2, 3, 4, 5]);
  });

  it("reports stale, coalesced and closed outcomes", async () => {
    const sink = new RecordingSink();
    const q = new OutboundQueue(sink);
    q.send(msg("r", 5));
    assertEquals(q.send(msg("r", 5)), "stale");
    assertEquals(q.send(msg("r", 3)), "stale");
    assertEquals(q.send(msg("other", 1)), "accepted");
    assertEquals(q.send(frame({ t: "presence", room: "r", count: 1 }, "presence:r")), "accepted");
    assertEquals(q.send(frame({ t: "presence", room: "r", count: 2 }, "presence:r")), "coalesced");
    await nextTurn();
    assertEquals(sink.ofType("presence").map((p) => p.count), [2]);
    q.close(1000, "bye");
    assertEquals(q.send(msg("r", 6)), "closed");
    assertEquals(sink.closed, { code: 1000, reason: "bye" });
  });

  it("drops over the UTF-8 byte budget, then closes a slow consumer after slowConsumerMs", async () => {
    const sink = new RecordingSink();
    sink.stalled = true;
    let closedWith: number | undefined;
    const q = new OutboundQueue(sink, { budgetBytes: 2000, slowConsumerMs: 40 });
    q.onClose = (code) => (closedWith = code);
    const outcomes: string[] = [];
    for (let i = 1; i <= 40; i++) {
      outcomes.push(q.send(msg("r", i, "é".repeat(50)))); // 100 bytes of payload, > 100 bytes per frame
      await nextTurn();
    }
    assert(outcomes.includes("accepted") && outcomes.includes("dropped"), outcomes.join());
    assert(q.bufferedBytes <= 2000, `bounded: ${q.bufferedBytes}`);
    await waitUntil(() => sink.closed !== undefined, "slow consumer closed", 5000);
    assertEquals(sink.closed, { code: 4008, reason: "slow consumer" });
    assertEquals(closedWith, 4008);
    assertEquals(q.send(msg("r", 99)), "closed");
  });

  it("a consumer that catches up before the deadline is not closed", async () => {
    const sink = new RecordingSink();
    sink.stalled = true;
    const q = new OutboundQueue(sink, { budgetBytes: 500, slowConsumerMs: 30 });
    for (let i = 1; i <= 20; i++) {
      q.send(msg("r", i, "y".repeat(60)));
      await nextTurn();
    }
    let buffered = sink.bufferedAmount();
    assert(buffered > 0);
    sink.bufferedAmount = () => buffered; // the socket drains
    buffered = 0;
    await new Promise((r) => setTimeout(r, 60)); // let the slow-consumer deadline pass (asserting a non-event)
    assertEquals(sink.closed, undefined);
    assertEquals(q.send(msg("r", 100)), "accepted");
  });
});

describe("outbound queue: batching never costs a consumer that keeps up", () => {
  it("a turn's batch larger than the budget is written early instead of dropped", async () => {
    const sink = new RecordingSink(); // reads everything at once
    const q = new OutboundQueue(sink, { budgetBytes: 1000, slowConsumerMs: 10_000 });
    const outcomes = Array.from({ length: 100 }, (_, i) => q.send(msg("r", i + 1, "z".repeat(80))));
    assertEquals(outcomes.filter((o) => o !== "accepted"), [], "a fast consumer gets every frame");
    assert(sink.batches >= 10, `written in budget-sized batches: ${sink.batches}`);
    await nextTurn();
    assertEquals(sink.messages().map((m) => m.seq), Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it("a stalled consumer still gets drops past the budget", () => {
    const sink = new RecordingSink();
    sink.stalled = true;
    const q = new OutboundQueue(sink, { budgetBytes: 1000, slowConsumerMs: 10_000 });
    const outcomes = Array.from({ length: 100 }, (_, i) => q.send(msg("r", i + 1, "z".repeat(80))));
    assert(outcomes.includes("dropped"));
    assert(q.bufferedBytes <= 1000, `bounded: ${q.bufferedBytes}`);
    q.close();
  });
});

describe("outbound queue: a stalled consumer near its budget", () => {
  it("is closed even while small frames keep fitting under the budget", async () => {
    const sink = new RecordingSink();
    sink.stalled = true;
    const q = new OutboundQueue(sink, { budgetBytes: 64 * 1024, slowConsumerMs: 60 });
    let rounds = 0;
    while (!sink.closed && rounds < 400) {
      rounds++;
      q.send(msg("r", rounds * 2, "b".repeat(8 * 1024))); // large frames get dropped once near the budget
      q.send(frame({ t: "pong" })); // tiny frames still fit
      await new Promise((r) => setTimeout(r, 1));
    }
    assertEquals(sink.closed?.code, 4008, `closed after ${rounds} rounds`);
  });
});
