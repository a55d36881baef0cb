// The chain extension contract (optional Exchange methods relay / seed / seal / positions, see src/exchange/exchange.ts)
// that an exchange must pass to be a member of chain([...]) in a migration. Run for memory, Redis and NATS (which has
// relay and seed only: it can be migrated to, not away from).
// `make` is called once per test and must return fresh nodes on a fresh backplane (a seal is permanent).
import { describe, it } from "node:test";
import { assert, assertEquals, assertRejects } from "@std/assert";
import { EdgeplaneError } from "../../src/errors.ts";
import { type Exchange, type ExchangeEvent, isGap, type SequencedMessage } from "../../src/exchange/exchange.ts";
import type { ContractSetup } from "./exchange-contract.ts";
import { waitUntil } from "./process.ts";

export function chainExtensionContract(name: string, make: () => Promise<ContractSetup>): void {
  const withNodes = async (fn: (a: Exchange, b: Exchange) => Promise<void>) => {
    const setup = await make();
    try {
      await Promise.all(setup.nodes.map((n) => n.ready()));
      const [a, b] = setup.nodes;
      // relay + seed make an exchange a migration target; seal + positions are needed only to migrate away from it.
      assert(a.relay && a.seed, `${name} implements relay and seed`);
      await fn(a, b);
    } finally {
      await setup.cleanup();
    }
  };
  // Epochs above whatever generation the backplane already uses.
  const base = (a: Exchange, b: Exchange) => Math.max(a.status().epoch, b.status().epoch, 1);
  const msg = (room: string, seq: number, epoch: number, id = `relay${String(seq).padStart(8, "0")}`): SequencedMessage => ({
    room,
    seq,
    timestamp: 1_000 + seq,
    epoch,
    id,
    origin: "elsewhere",
    payload: seq % 2 ? `p${seq}` : new Uint8Array([seq, 0, 255]),
  });

  describe(`chain extension contract: ${name}`, () => {
    it("relay keeps every field; out-of-order relays reach subscribers once, in order; dup and conflict are reported", { timeout: 120_000 }, () =>
      withNodes(async (a, b) => {
        const E = base(a, b) + 7;
        const got: SequencedMessage[] = [];
        const events: ExchangeEvent[] = [];
        const unsub = b.subscribe("rel", (m) => got.push(m), { onEvent: (e) => events.push(e) });
        await waitUntil(() => events.some((e) => e.type === "position"), "positioned");
        for (const s of [1, 3, 2, 5, 4, 4]) await a.relay!(msg("rel", s, E));
        assertEquals(await a.relay!(msg("rel", 3, E)), "dup");
        assertEquals(await a.relay!(msg("rel", 3, E, "someoneelse")), "conflict");
        await waitUntil(() => got.length >= 5, "relays delivered", 30_000);
        assertEquals(got.map((m) => m.seq), [1, 2, 3, 4, 5]);
        for (const m of got) {
          const want = msg("rel", m.seq, E);
          assertEquals([m.room, m.epoch, m.timestamp, m.id, m.origin], [want.room, want.epoch, want.timestamp, want.id, want.origin]);
          assertEquals(m.payload, want.payload);
        }
        assertEquals(events.filter((e) => e.type === "discontinuity").length, 0);
        const h = await b.history("rel", 0);
        assert(!isGap(h));
        assertEquals(h.map((m) => [m.seq, m.id]), got.map((m) => [m.seq, m.id]), "relays are in history");
        unsub();
      }));

    it("after relays, the next local publish continues at the relayed seq + 1 under a higher epoch (once)", { timeout: 120_000 }, () =>
      withNodes(async (a, b) => {
        const E = base(a, b) + 3;
        for (const s of [1, 2, 3]) await a.relay!(msg("cont", s, E));
        const p = await b.publish("cont", "local-1");
        const q = await a.publish("cont", "local-2");
        assertEquals([p.seq, q.seq], [4, 5]);
        const h = await a.history("cont", 3);
        assert(!isGap(h));
        assert(h[0].epoch > E, `epoch ${h[0].epoch} > relayed ${E}`);
        assertEquals(h[1].epoch, h[0].epoch, "epoch + 1 once, not per publish");
        assert(h[0].timestamp >= 1_003, "timestamps never decrease across the switch");
      }));

    it("seed raises the counter (max-merge, never lowers it); the next publish continues above it", { timeout: 120_000 }, () =>
      withNodes(async (a, b) => {
        const E = base(a, b) + 9;
        await a.seed!("seeded", { seq: 41, epoch: E, timestamp: 5 });
        await b.seed!("seeded", { seq: 12, epoch: E - 5, timestamp: 1 });
        const p = await b.publish("seeded", "x");
        assertEquals(p.seq, 42);
        const h = await a.history("seeded", 41);
        assert(!isGap(h) && h.length === 1 && h[0].epoch > E, "under a higher epoch");
        if (a.positions) {
          const rooms: string[] = [];
          for await (const pos of a.positions()) rooms.push(`${pos.room}@${pos.seq}`);
          assert(rooms.includes("seeded@42"), `positions lists the room: ${rooms.join(" ")}`);
        }
      }));

    it("seal refuses publishes on every node (first seal wins) while relay, history and subscriptions keep working", { timeout: 120_000 }, () =>
      withNodes(async (a, b) => {
        if (!a.seal) return console.log(`[chain extension ${name}] no seal(): it can be migrated to, not away from`);
        await a.publish("sealed-room", "before");
        assertEquals(await a.seal!("next-broker"), "next-broker");
        assertEquals(await b.seal!("other"), "next-broker", "the first seal wins");
        const err = await assertRejects(() => b.publish("sealed-room", "after"), EdgeplaneError);
        assertEquals(err.code, "BACKPLANE_UNAVAILABLE");
        assertEquals(err.details?.sealedBy, "next-broker");
        const got: SequencedMessage[] = [];
        let positioned = false;
        const unsub = b.subscribe("sealed-room", (m) => got.push(m), { onEvent: (e) => void (positioned ||= e.type === "position") });
        await waitUntil(() => positioned, "positioned");
        assertEquals(await a.relay!(msg("sealed-room", 2, base(a, b) + 1)), "ok");
        await waitUntil(() => got.some((m) => m.seq === 2), "relay delivered on a sealed backplane", 30_000);
        const h = await b.history("sealed-room", 0);
        assert(!isGap(h) && h.length === 2);
        unsub();
      }));
  });
}
