// NATS exchange as a chain member (docs/design.md §6): the chain extension contract (relay / seed / seal / positions: NATS
// can be migrated to and away from; more seal cases in nats-seal.test.ts), plus the NATS-specific parts: a Redis-sized seeded epoch (≈1.8e9) against
// the (term, owner) ordering, relays across an ownership handoff, a hole that never fills, and publish's epoch.
import { after, describe, it } from "node:test";
import { assert, assertEquals, assertGreater } from "@std/assert";
import type { ExchangeEvent, SequencedMessage } from "../src/exchange/exchange.ts";
import { chainExtensionContract } from "./helpers/chain-extension-contract.ts";
import { type NatsServer, startNatsServer } from "./helpers/nats-server.ts";
import { natsNodes } from "./helpers/nats-nodes.ts";
import { waitUntil } from "./helpers/process.ts";

let server: NatsServer | undefined;
let prefixes = 0;
const shared = async () => (server ??= await startNatsServer());

chainExtensionContract("nats", async () => {
  const s = await shared();
  const set = await natsNodes([s.url], 2, { prefix: `ext${prefixes++}` });
  return { nodes: set.exs, cleanup: () => set.close() };
});

/** An epoch like the one a Redis authority hands over: max(seen + 1, server clock in seconds). */
const REDIS_EPOCH = 1_764_000_000;

const relayed = (room: string, seq: number, epoch = REDIS_EPOCH, id = `r${String(seq).padStart(10, "0")}`): SequencedMessage => ({
  room,
  seq,
  epoch,
  timestamp: 1_700_000_000_000 + seq,
  id,
  origin: "redis-node",
  payload: `m${seq}`,
});

function collect(ex: { subscribe: (room: string, cb: (m: SequencedMessage) => void, o: { onEvent: (e: ExchangeEvent) => void }) => () => void }, room: string) {
  const got: SequencedMessage[] = [];
  const events: ExchangeEvent[] = [];
  const unsub = ex.subscribe(room, (m) => got.push(m), { onEvent: (e) => events.push(e) });
  return { got, events, unsub, positioned: () => events.some((e) => e.type === "position") };
}

describe("nats exchange: chain member", () => {
  after(async () => {
    await server?.cleanup();
  });

  it("relays under a Redis-sized epoch survive an ownership handoff; the switch continues at seq + 1, epoch above, no discontinuity", { timeout: 120_000 }, async () => {
    const s = await shared();
    const set = await natsNodes([s.url], 3, { prefix: "switch" });
    const room = "switch-room";
    try {
      const owner = set.exs.find((e) => e.ownerOf(room) === e.nodeId)!;
      const others = set.exs.filter((e) => e !== owner);
      const subs = others.map((e) => collect(e, room));
      await waitUntil(() => subs.every((x) => x.positioned()), "positioned");
      // Phase 2: the other broker sequences, NATS only relays (out of order, from both non-owners).
      for (let seq = 1; seq <= 20; seq += 2) {
        await Promise.all([others[0].relay(relayed(room, seq + 1)), others[1].relay(relayed(room, seq))]);
      }
      await waitUntil(() => subs.every((x) => x.got.length >= 20), "first relays delivered");
      // A node restart moves the room: the new owner continues under a term above the relayed epoch.
      await owner.close();
      await waitUntil(() => others.every((e) => e.ownerOf(room) === others[0].ownerOf(room) && e.ownerOf(room) !== owner.nodeId), "handoff");
      for (let seq = 21; seq <= 30; seq++) assertEquals(await others[seq % 2].relay(relayed(room, seq)), "ok");
      assertEquals(await others[0].relay(relayed(room, 30)), "dup");
      assertEquals(await others[1].relay(relayed(room, 30, REDIS_EPOCH, "another")), "conflict");
      // Phase 3: the chain seeds NATS from the old counter (no-op here: the relays already raised it), then publishes.
      await others[1].seed(room, { seq: 30, epoch: REDIS_EPOCH, timestamp: 1_700_000_000_030 });
      const p1 = await others[0].publish(room, "nats-1");
      const p2 = await others[1].publish(room, "nats-2");
      assertEquals([p1.seq, p2.seq], [31, 32]);
      assert(p1.epoch! > REDIS_EPOCH, `epoch ${p1.epoch} above the relayed ${REDIS_EPOCH}`);
      assertEquals(p2.epoch, p1.epoch, "one new epoch, not one per publish");
      await waitUntil(() => subs.every((x) => x.got.length >= 32), "everything delivered");
      for (const x of subs) {
        assertEquals(x.got.map((m) => m.seq), Array.from({ length: 32 }, (_, i) => i + 1));
        assertEquals(x.got.slice(0, 30).map((m) => m.epoch), Array(30).fill(REDIS_EPOCH), "relayed epochs unchanged");
        assertEquals(x.got.slice(0, 30).map((m) => m.id), Array.from({ length: 30 }, (_, i) => relayed(room, i + 1).id));
        assertEquals(x.got[30].epoch, p1.epoch);
        for (let i = 1; i < x.got.length; i++) assert(x.got[i].timestamp >= x.got[i - 1].timestamp, "timestamps never decrease");
        assertEquals(x.events.filter((e) => e.type === "discontinuity"), [], "no discontinuity across the switch");
      }
      subs.forEach((x) => x.unsub());
    } finally {
      await set.close();
    }
  });

  it("a seed alone (no relays) with a Redis-sized epoch: next publish continues at seq + 1 above it; subscribers see the seeded part as a gap", { timeout: 120_000 }, async () => {
    const s = await shared();
    const set = await natsNodes([s.url], 2, { prefix: "seedonly" });
    const [a, b] = set.exs;
    const room = "seed-room";
    try {
      const sub = collect(b, room);
      await waitUntil(() => sub.positioned(), "positioned");
      await a.seed(room, { seq: 500, epoch: REDIS_EPOCH, timestamp: 1 });
      await b.seed(room, { seq: 499, epoch: REDIS_EPOCH + 5, timestamp: 1 }); // lower seq: kept
      const p = await b.publish(room, "after-seed");
      assertEquals(p.seq, 501);
      assertGreater(p.epoch!, REDIS_EPOCH);
      await waitUntil(() => sub.got.length === 1, "delivered");
      assertEquals([sub.got[0].seq, sub.got[0].epoch], [501, p.epoch]);
      assertEquals(sub.events.filter((e) => e.type === "discontinuity").map((e) => [e.type === "discontinuity" && e.afterSeq, e.type === "discontinuity" && e.nextSeq]), [[0, 501]]);
      assertEquals(a.status().counters.seeded + b.status().counters.seeded, 1);
      sub.unsub();
    } finally {
      await set.close();
    }
  });

  it("a hole that never fills is skipped after relayHoleMs and reported; a late relay below it is a dup", { timeout: 120_000 }, async () => {
    const s = await shared();
    const set = await natsNodes([s.url], 2, { prefix: "hole", relayHoleMs: 300 });
    const [a, b] = set.exs;
    const room = "hole-room";
    try {
      const sub = collect(b, room);
      await waitUntil(() => sub.positioned(), "positioned");
      await a.relay(relayed(room, 1));
      await a.relay(relayed(room, 3));
      await a.relay(relayed(room, 4));
      await waitUntil(() => sub.got.length >= 3, "skipped past the hole", 20_000);
      assertEquals(sub.got.map((m) => m.seq), [1, 3, 4]);
      const d = sub.events.filter((e) => e.type === "discontinuity");
      assertEquals(d.length, 1);
      assert(d[0].type === "discontinuity" && d[0].afterSeq === 1 && d[0].nextSeq === 3, JSON.stringify(d[0]));
      assertEquals(await b.relay(relayed(room, 2)), "dup");
      const skipped = a.status().counters.relayHolesSkipped + b.status().counters.relayHolesSkipped;
      assertEquals(skipped, 1);
      sub.unsub();
    } finally {
      await set.close();
    }
  });

  it("publish resolves with the epoch its seq was assigned under (owner and non-owner)", { timeout: 60_000 }, async () => {
    const s = await shared();
    const set = await natsNodes([s.url], 2, { prefix: "epochinfo" });
    const room = "epoch-room";
    try {
      const sub = collect(set.exs[0], room);
      await waitUntil(() => sub.positioned(), "positioned");
      const infos = [await set.exs[0].publish(room, "x"), await set.exs[1].publish(room, "y")];
      await waitUntil(() => sub.got.length === 2, "delivered");
      assertEquals(infos.map((i) => i.epoch), sub.got.map((m) => m.epoch));
      assert(infos.every((i) => typeof i.epoch === "number" && i.epoch >= 1));
      sub.unsub();
    } finally {
      await set.close();
    }
  });
});
