// An owner crash loses no history a live node delivered (issue 17, NATS). Three node processes (Node, Deno, Bun): the
// Bun process owns a room (a SIGKILL reaches it directly; the Node process runs under a tsx wrapper, whose death
// would only close the inner process's stdin and make it leave gracefully), the Node process subscribes and publishes
// 300 messages into it, then the owner is SIGKILLed. The Deno process, which never subscribed, is the next-ranked
// node: it takes the room over and rebuilds the room's history and idempotency ids from the Node process's tail. A subscription resuming from seq 101 on
// the new owner gets 101..300 with no discontinuity, and retries of the 300 acked ids sent to it get their original
// seqs (no second seq, nothing delivered twice).
import { after, before, describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import { natsProcs } from "./helpers/nats-node.ts";
import { type NatsServer, startNatsServer } from "./helpers/nats-server.ts";
import { FAST } from "./helpers/nats-nodes.ts";
import { NatsExchange } from "../src/exchange/nats/nats-exchange.ts";
import { connectNats } from "../src/exchange/nats/connect.ts";
import type { ExchangeEvent, SequencedMessage } from "../src/exchange/exchange.ts";
import { waitUntil } from "./helpers/process.ts";
import { top } from "../src/exchange/nats/_rendezvous.ts";
import { roomKey } from "../src/exchange/nats/_subjects.ts";

type PubResult = { acked: Array<[number, number, string]>; errors: Record<string, number> };
type Delivered = { got: Array<[number, string, number]>; events: Array<{ type: string; afterSeq?: number; nextSeq?: number }> };

describe("nats exchange: owner crash without history loss", () => {
  const fleet = natsProcs("h", "och", { heartbeatMs: 250, missedBeats: 4, settleBeats: 2, sendTimeout: 3000 });

  it("the successor seeds history and ids from a live node's tail: resume from seq 101 and retries of acked ids", async () => {
    const [holder, fresh, owner] = fleet.nodes;
    const all = new Set(fleet.nodes.map((n) => n.nodeId));
    // A room the Bun process owns and the Deno process (which never subscribes before the crash) takes over.
    let room = "";
    for (let i = 0; i < 500 && !room; i++) {
      const r = `crash-${i}`;
      if (top(all, roomKey(r)) === owner.nodeId && top(new Set([holder.nodeId, fresh.nodeId]), roomKey(r)) === fresh.nodeId) room = r;
    }
    assert(room, "found a room with the wanted ranking");
    assertEquals((await holder.call<{ owners: string[] }>("owners", { rooms: [room] })).owners, [owner.nodeId]);

    assert((await holder.call<{ positioned: boolean }>("subscribe", { rooms: [room] })).positioned);
    const pub = await holder.call<PubResult>("publish", { room, tag: "c", count: 300, window: 16 });
    assertEquals(pub.errors, {});
    assertEquals(pub.acked.map((a) => a[1]).sort((a, b) => a - b), Array.from({ length: 300 }, (_, i) => i + 1));
    await waitUntil(async () => (await holder.call<Delivered>("delivered", { room })).got.length >= 300, "the holder delivered all 300", 20_000, 20);

    owner.kill();
    await owner.child.exited;
    for (const n of [holder, fresh]) {
      await waitUntil(async () => (await n.call<{ members: string[] }>("members")).members.length === 2, `${n.runtime} saw the owner die`, 20_000, 50);
    }
    assertEquals((await fresh.call<{ owners: string[] }>("owners", { rooms: [room] })).owners, [fresh.nodeId]);

    // A client resuming from seq 101 on the new owner (which never subscribed) gets the messages, not a discontinuity.
    assert((await fresh.call<{ positioned: boolean }>("subscribe", { rooms: [room], fromSeq: 101 })).positioned);
    await waitUntil(async () => (await fresh.call<Delivered>("delivered", { room })).got.length >= 200, "resumed subscription repaired 101..300", 20_000, 20);
    const resumed = await fresh.call<Delivered>("delivered", { room });
    assertEquals(resumed.events.filter((e) => e.type === "discontinuity"), [], "no discontinuity");
    assertEquals(resumed.got.map((g) => g[0]), Array.from({ length: 200 }, (_, i) => i + 101));
    const held = await holder.call<Delivered>("delivered", { room });
    assertEquals(resumed.got.map((g) => g[1]), held.got.slice(100).map((g) => g[1]), "the same ids at the same seqs");

    // Retries of the acked ids, sent to the node that never subscribed before the crash, get their original seqs.
    const retry = await fresh.call<PubResult>("publish", { room, tag: "c", count: 300, window: 16 });
    assertEquals(retry.errors, {});
    const original = new Map(pub.acked.map(([k, seq]) => [k, seq]));
    for (const [k, seq] of retry.acked) assertEquals(seq, original.get(k), `retry of c-${k} got its original seq`);
    // Nothing was sequenced twice: the next new message continues at 301 on both fleet.nodes.
    const next = await fresh.call<PubResult>("publish", { room, tag: "after", count: 1, window: 1 });
    assertEquals(next.acked[0][1], 301);
    await waitUntil(async () => (await holder.call<Delivered>("delivered", { room })).got.length >= 301, "the holder got seq 301", 20_000, 20);
    const final = await holder.call<Delivered>("delivered", { room });
    assertEquals(final.got.map((g) => g[0]), Array.from({ length: 301 }, (_, i) => i + 1), "contiguous, each once");
    assertEquals(final.events.filter((e) => e.type === "discontinuity"), []);
  });
});

describe("nats exchange: a subscriber cut off before the owner crashed repairs from the successor", () => {
  let server: NatsServer;
  before(async () => {
    server = await startNatsServer();
  });
  after(async () => {
    await server?.cleanup();
  });

  it("the last 50 messages never reached one subscriber; the owner's connection dies; it repairs them, no discontinuity", async () => {
    const ids = ["xa", "xb", "xc"]; // xa owns the room, xb holds a full tail, xc is cut off for seqs 151..200
    let room = "";
    for (let i = 0; i < 500 && !room; i++) if (top(new Set(ids), roomKey(`cut-${i}`)) === "xa") room = `cut-${i}`;
    const conns = await Promise.all(ids.map((id) => connectNats({ servers: server.url, name: id })));
    const exs = ids.map((id, i) =>
      new NatsExchange(conns[i], { ...FAST, nodeId: id, prefix: "cut", ...(id === "xc" ? { faults: { dropIncoming: (_r: string, seq: number) => seq > 150 } } : {}) })
    );
    try {
      await Promise.all(exs.map((e) => e.ready()));
      await waitUntil(() => exs.every((e) => e.ownerOf(room) === "xa"), "every node sees xa as the owner");
      const got = exs.map(() => [] as SequencedMessage[]);
      const events = exs.map(() => [] as ExchangeEvent[]);
      const positioned = exs.map(() => false);
      for (const i of [1, 2]) {
        exs[i].subscribe(room, (m) => void got[i].push(m), { onEvent: (e) => void (events[i].push(e), positioned[i] ||= e.type === "position") });
      }
      await waitUntil(() => positioned[1] && positioned[2], "subscriptions positioned");
      const acks = await Promise.all(Array.from({ length: 200 }, (_, k) => exs[0].publish(room, `m${k}`, { id: `cut-${k}` })));
      assertEquals(acks.map((a) => a.seq), Array.from({ length: 200 }, (_, k) => k + 1));
      // The owner "crashes": its connection goes away without a handoff or a bye.
      await conns[0].close();
      await waitUntil(() => got[1].length >= 200, "the full subscriber got all 200", 20_000);
      await waitUntil(() => exs.slice(1).every((e) => e.members().length === 2), "the survivors declared the owner dead", 20_000);
      // The cut-off subscriber's node retries the last acked id: a survivor takes the room over (seeding history and
      // ids from a live tail), the retry gets its original seq, and the takeover's epoch notice (at seq 200) shows the
      // cut-off subscriber what it missed.
      const again = await exs[2].publish(room, "m199", { id: "cut-199" });
      assertEquals(again.seq, 200);
      await waitUntil(() => got[2].length >= 200, () => `the cut-off subscriber repaired (has ${got[2].length}, events ${JSON.stringify(events[2])})`, 20_000);
      assertEquals(got[2].map((m) => m.seq), Array.from({ length: 200 }, (_, k) => k + 1));
      assertEquals(got[2].map((m) => m.id), acks.map((_, k) => `cut-${k}`));
      assertEquals(events[2].filter((e) => e.type === "discontinuity"), [], "no discontinuity");
    } finally {
      await Promise.all(exs.slice(1).map((e) => e.close()));
      await Promise.all(conns.slice(1).map((c) => c.close()));
      await exs[0].close().catch(() => {});
    }
  });
});
