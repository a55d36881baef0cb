// Stop nats-server for ~5 s and restart it on the same port: publishes during the outage reject promptly with
// BACKPLANE_UNAVAILABLE (within sendTimeout, not after minutes), nodes reconnect and resume on their own, and a message
// a subscriber lost around the outage is repaired on reconnect (or reported) — never silently lost.
import { after, before, describe, it } from "node:test";
import { assert, assertEquals, assertLess, assertRejects } from "@std/assert";
import { EdgeplaneError } from "../src/errors.ts";
import type { ExchangeEvent, SequencedMessage } from "../src/exchange/exchange.ts";
import { NatsExchange } from "../src/exchange/nats/nats-exchange.ts";
import { connectNats } from "../src/exchange/nats/connect.ts";
import { type NatsServer, startNatsServer } from "./helpers/nats-server.ts";
import { converged, FAST } from "./helpers/nats-nodes.ts";
import { waitUntil } from "./helpers/process.ts";

describe("nats exchange: nats-server outage", () => {
  let server: NatsServer;
  before(async () => {
    server = await startNatsServer();
  });
  after(async () => {
    await server?.cleanup();
  });

  it("rejects promptly during the outage, reconnects by itself, repairs what a subscriber lost", async () => {
    const sendTimeout = 1000;
    const nc1 = await connectNats({ servers: server.url, name: "outage-a" });
    const nc2 = await connectNats({ servers: server.url, name: "outage-b" });
    let lost = 0; // the seq node b loses on the way in (set below)
    const a = new NatsExchange(nc1, { ...FAST, sendTimeout, nodeId: "oa", prefix: "out" });
    const b = new NatsExchange(nc2, { ...FAST, sendTimeout, nodeId: "ob", prefix: "out", faults: { dropIncoming: (_r, seq) => seq === lost } });
    try {
      await Promise.all([a.ready(), b.ready()]);
      await converged([a, b]);
      const room = "outage-room";
      const got = { a: [] as SequencedMessage[], b: [] as SequencedMessage[] };
      const events: ExchangeEvent[] = [];
      a.subscribe(room, (m) => got.a.push(m));
      b.subscribe(room, (m) => got.b.push(m), { onEvent: (e) => events.push(e) });
      await waitUntil(() => events.some((e) => e.type === "position"), "b positioned");
      const acked: string[] = [];
      for (let i = 0; i < 10; i++) acked.push(`pre-${i}`), await a.publish(room, `pre-${i}`, { id: `pre-${i}` });
      lost = 11; // node b never receives seq 11 live: the owner's heartbeat announcement or its reconnect resync repairs it
      await a.publish(room, "pre-10", { id: "pre-10" });
      acked.push("pre-10");
      await waitUntil(() => got.a.length === 11 && got.b.length === 10, "pre-outage delivered");

      await server.stop();
      await waitUntil(() => a.status().state === "degraded" && b.status().state === "degraded", "both notice the outage");
      // About five seconds of outage, measured by the publishes themselves: each must fail within sendTimeout.
      for (let i = 0; i < 5; i++) {
        const t0 = Date.now();
        const err = await assertRejects(() => (i % 2 ? b : a).publish(room, `during-${i}`), EdgeplaneError);
        assertEquals(err.code, "BACKPLANE_UNAVAILABLE");
        assertLess(Date.now() - t0, sendTimeout + 2000, "rejected within sendTimeout, not after minutes");
      }
      await server.restart();
      await waitUntil(() => a.status().state === "ready" && b.status().state === "ready", "both reconnected by themselves", 20_000);
      await waitUntil(() => got.b.length === 11, "b repaired the message it lost", 10_000);
      for (let i = 0; i < 10; i++) {
        await (i % 2 ? b : a).publish(room, `post-${i}`, { id: `post-${i}` });
        acked.push(`post-${i}`);
      }
      await waitUntil(() => got.a.length === 21 && got.b.length === 21, "post-outage delivered everywhere", 10_000);
      for (const list of [got.a, got.b]) {
        assertEquals(list.map((m) => m.id), acked, "every acked publish delivered once, in order; nothing from the outage");
        for (let i = 1; i < list.length; i++) assert(list[i].seq > list[i - 1].seq);
      }
      assertEquals(events.filter((e) => e.type === "discontinuity").length, 0, "the lost message was repaired, not skipped");
      assert(b.status().counters.gapsRepaired >= 1);
    } finally {
      await Promise.all([a.close(), b.close()]);
      await Promise.all([nc1.close(), nc2.close()]);
    }
  });
});
