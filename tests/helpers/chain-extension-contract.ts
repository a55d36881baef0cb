// The chain extension contract (optional Exchange methods relay / seed / seal / positions, see src/exchange/exchange.ts)
// that an exchange must pass to be a member of chain([...]) in a migration. Run for memory, Redis and NATS: each can be
// migrated to (relay, seed) and away from (seal, positions).
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
      // relay + seed make an exchange a migration target; seal + positions make it one that can be migrated away from.
      assert(a.relay && a.seed, `${name} implements relay and seed`);
      assert(a.seal && a.positions, `${name} implements seal and positions`);
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

    it("seal rejects a bad authority with BAD_OPTION and seals nothing", { timeout: 120_000 }, () =>
      withNodes(async (a, b) => {
        for (const bad of ["", "x".repeat(129), "line\nbreak", 42, null]) {
          const err = await assertRejects(() => a.seal!(bad as unknown as string), EdgeplaneError);
          assertEquals(err.code, "BAD_OPTION", `seal(${JSON.stringify(bad)})`);
        }
        const p = await b.publish("not-sealed", "still sequenced");
        assertEquals(p.seq, 1);
      }));

    it("a publish sequenced before the seal keeps its seq when retried with its id after the seal", { timeout: 120_000 }, () =>
      withNodes(async (a, b) => {
        const first = await a.publish("retried", "x", { id: "retry-before-seal" });
        const second = await b.publish("retried", "y", { id: "retry-other-node" });
        await b.seal!("next-broker");
        assertEquals((await a.publish("retried", "x", { id: "retry-before-seal" })).seq, first.seq);
        assertEquals((await b.publish("retried", "y", { id: "retry-other-node" })).seq, second.seq);
        const err = await assertRejects(() => a.publish("retried", "z", { id: "retry-after-seal" }), EdgeplaneError);
        assertEquals(err.details?.sealedBy, "next-broker");
      }));

    it("positions lists every room with a counter, whichever node sequenced it, with its seq and epoch", { timeout: 120_000 }, () =>
      withNodes(async (a, b) => {
        const want = new Map<string, { seq: number; epoch: number }>();
        for (let i = 0; i < 12; i++) {
          const room = `pos-${i}`;
          let info;
          for (let k = 0; k <= i % 3; k++) info = await (k % 2 ? a : b).publish(room, `m${k}`);
          want.set(room, { seq: info!.seq, epoch: info!.epoch ?? 0 });
        }
        for (const ex of [a, b]) {
          const got = new Map<string, { seq: number; epoch: number }>();
          for await (const p of ex.positions!()) got.set(p.room, { seq: p.seq, epoch: p.epoch });
          for (const [room, w] of want) {
            assertEquals(got.get(room)?.seq, w.seq, `${room} listed with its seq`);
            if (w.epoch) assert(got.get(room)!.epoch >= w.epoch, `${room}: epoch ${got.get(room)!.epoch} >= ${w.epoch}`);
          }
        }
      }));
  });
}
