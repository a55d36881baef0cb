// The Exchange contract suite (docs/design.md §3), run against every exchange: memory, NATS, Redis, chain.
// Each factory call returns fresh nodes (exchanges on one shared backplane) with a small history so eviction is testable.
import { after, before, describe, it } from "node:test";
import { assert, assertEquals, assertRejects } from "@std/assert";
import { EdgeplaneError } from "../../src/errors.ts";
import { type Exchange, type ExchangeEvent, isGap, type SequencedMessage } from "../../src/exchange/exchange.ts";
import { waitUntil } from "./process.ts";

export interface ContractSetup {
  /** At least two nodes sharing one backplane. */
  nodes: Exchange[];
  /** Stop everything the factory started. */
  cleanup(): Promise<void>;
}

/** History per room the factory must configure (messages). */
export const CONTRACT_HISTORY = 50;

let roomCounter = 0;
const uniqueRoom = (base: string) => `${base}-${Date.now().toString(36)}-${roomCounter++}`;

function collect(ex: Exchange, room: string, opts: { fromSeq?: number } = {}) {
  const got: SequencedMessage[] = [];
  const events: ExchangeEvent[] = [];
  const unsub = ex.subscribe(room, (m) => got.push(m), { ...opts, onEvent: (e) => events.push(e) });
  const positioned = () => events.some((e) => e.type === "position");
  return { got, events, unsub, positioned };
}

/** Per-exchange switches of the suite. */
export interface ContractOptions {
  /**
   * Hold the exchange to "subscribe, then publish in the same tick loses nothing" (issue 17): a publish that starts
   * after `subscribe()` returned on the same node reaches that subscription, with no discontinuity. Every exchange
   * turns it on; NATS does with its subscribe-then-publish fix (until then the case is reported as skipped, never
   * silently absent).
   */
  subscribeThenPublish: boolean;
}

export function exchangeContract(name: string, make: () => Promise<ContractSetup>, opts: ContractOptions = { subscribeThenPublish: false }): void {
  describe(`exchange contract: ${name}`, () => {
    let setup: ContractSetup;
    before(async () => {
      setup = await make();
      await Promise.all(setup.nodes.map((n) => n.ready()));
    });
    after(async () => {
      await setup?.cleanup();
    });

    it("concurrent publishes from every node get contiguous seqs, one order everywhere, echo included", async () => {
      const room = uniqueRoom("order");
      const subs = setup.nodes.map((n) => collect(n, room));
      await waitUntil(() => subs.every((s) => s.positioned()), "subscriptions positioned");
      const perNode = 200;
      const acks = await Promise.all(setup.nodes.flatMap((n, i) =>
        Array.from({ length: perNode }, (_, k) => n.publish(room, `n${i}-${k}`))
      ));
      const total = perNode * setup.nodes.length;
      const seqs = acks.map((a) => a.seq).sort((a, b) => a - b);
      assertEquals(seqs, Array.from({ length: total }, (_, i) => i + 1), "acked seqs are exactly 1..N");
      await waitUntil(() => subs.every((s) => s.got.length >= total), `every node delivered ${total}`, 20_000);
      const reference = subs[0].got.map((m) => m.id);
      for (const s of subs) {
        assertEquals(s.got.length, total, "no duplicate deliveries");
        assertEquals(s.got.map((m) => m.seq), Array.from({ length: total }, (_, i) => i + 1));
        assertEquals(s.got.map((m) => m.id), reference, "same message at the same seq on every node");
        for (let i = 1; i < s.got.length; i++) assert(s.got[i].timestamp >= s.got[i - 1].timestamp, "timestamps never decrease");
        // per-publisher order is kept
        for (let n = 0; n < setup.nodes.length; n++) {
          const mine = s.got.filter((m) => (m.payload as string).startsWith(`n${n}-`)).map((m) => Number((m.payload as string).split("-")[1]));
          assertEquals(mine, Array.from({ length: perNode }, (_, k) => k));
        }
      }
      const bySeq = new Map(subs[0].got.map((m) => [m.seq, m]));
      for (const a of acks) assertEquals(bySeq.get(a.seq)!.timestamp, a.timestamp, "ack timestamp matches delivery");
      subs.forEach((s) => s.unsub());
    });

    const sameTick = opts.subscribeThenPublish ? {} : { skip: "subscribeThenPublish not enabled for this exchange yet" };

    it("subscribe, then publish on the same node in the same tick: the subscription gets it (text and binary), no discontinuity", sameTick, async () => {
      const room = uniqueRoom("sametick");
      const [a, b] = setup.nodes;
      for (let i = 0; i < 3; i++) await a.publish(room, `old${i}`); // a position above 0, so a late position read would show
      const s = collect(b, room);
      const bytes = new Uint8Array([0, 7, 255]);
      // Both publishes start after subscribe() returned, without awaiting anything in between.
      const acks = await Promise.all([b.publish(room, "first"), b.publish(room, bytes)]);
      await waitUntil(() => s.got.length >= 2, "both delivered to the new subscription", 20_000);
      assertEquals(s.got.map((m) => m.seq), acks.map((x) => x.seq));
      assertEquals(s.got[0].payload, "first");
      assertEquals(Array.from(s.got[1].payload as Uint8Array), [0, 7, 255]);
      assertEquals(s.events.filter((e) => e.type === "discontinuity"), []);
      const pos = s.events.find((e) => e.type === "position");
      assert(pos && pos.type === "position" && pos.seq < acks[0].seq, `position ${JSON.stringify(pos)} is below the first publish`);
      // Once `position` was reported, publishes from every other node are covered too.
      const other = await a.publish(room, "from another node");
      await waitUntil(() => s.got.some((m) => m.seq === other.seq), "other node's publish delivered");
      assertEquals(s.got.map((m) => m.seq), [...acks.map((x) => x.seq), other.seq]);
      s.unsub();
    });

    it("subscribe, then publish from inside another subscription's callback: covered too", sameTick, async () => {
      const outerRoom = uniqueRoom("outer");
      const innerRoom = uniqueRoom("inner");
      const [a, b] = setup.nodes;
      for (let i = 0; i < 3; i++) await b.publish(innerRoom, `old${i}`);
      let inner: ReturnType<typeof collect> | undefined;
      let ack: Promise<{ seq: number }> | undefined;
      let outerLive = false;
      const outer = b.subscribe(outerRoom, () => {
        if (inner) return;
        inner = collect(b, innerRoom);
        ack = b.publish(innerRoom, "nested");
      }, { onEvent: (e) => void (outerLive ||= e.type === "position") });
      await waitUntil(() => outerLive, "outer positioned");
      const outerPub = await a.publish(outerRoom, "go");
      await waitUntil(() => inner !== undefined, `outer delivered seq ${outerPub.seq}`, 20_000);
      const { seq } = await ack!;
      await waitUntil(() => inner!.got.length >= 1, "nested publish delivered to the nested subscription", 20_000);
      assertEquals(inner!.got.map((m) => [m.seq, m.payload]), [[seq, "nested"]]);
      assertEquals(inner!.events.filter((e) => e.type === "discontinuity"), []);
      outer();
      inner!.unsub();
    });

    it("history returns exactly the missing tail, or a typed gap once evicted", async () => {
      const room = uniqueRoom("hist");
      const [a, b] = setup.nodes;
      for (let i = 1; i <= CONTRACT_HISTORY * 2; i++) await a.publish(room, `m${i}`);
      const tail = await b.history(room, CONTRACT_HISTORY * 2 - 10);
      assert(!isGap(tail), "recent tail is held");
      assertEquals(tail.map((m) => m.seq), Array.from({ length: 10 }, (_, i) => CONTRACT_HISTORY * 2 - 9 + i));
      assertEquals(tail.map((m) => m.payload), Array.from({ length: 10 }, (_, i) => `m${CONTRACT_HISTORY * 2 - 9 + i}`));
      assertEquals(await b.history(room, CONTRACT_HISTORY * 2), [], "nothing after the last seq");
      const old = await b.history(room, 1);
      assert(isGap(old), "evicted history is a gap");
      assertEquals(old.afterSeq, 1);
      assertEquals(old.lastSeq, CONTRACT_HISTORY * 2);
      assert(old.oldestSeq > 2 && old.oldestSeq <= CONTRACT_HISTORY + 1, `oldestSeq ${old.oldestSeq}`);
      const ahead = await b.history(room, CONTRACT_HISTORY * 10);
      assert(isGap(ahead), "asking from beyond the last seq is a gap (a lost generation), not an empty list");
    });

    it("subscribe with fromSeq replays held history then continues live, no gap, no duplicate", async () => {
      const room = uniqueRoom("from");
      const [a, b] = setup.nodes;
      for (let i = 1; i <= 20; i++) await a.publish(room, `m${i}`);
      const s = collect(b, room, { fromSeq: 11 });
      await waitUntil(() => s.positioned(), "positioned");
      for (let i = 21; i <= 30; i++) await a.publish(room, `m${i}`);
      await waitUntil(() => s.got.length >= 20, "replay + live delivered");
      assertEquals(s.got.map((m) => m.seq), Array.from({ length: 20 }, (_, i) => i + 11));
      s.unsub();
    });

    it("a publish with a known id is idempotent: same seq, delivered once", async () => {
      const room = uniqueRoom("idem");
      const [a, b] = setup.nodes;
      const s = collect(b, room);
      await waitUntil(() => s.positioned(), "positioned");
      const id = "retry0000000000000000000000000001";
      const first = await a.publish(room, "once", { id });
      const again = await b.publish(room, "once", { id });
      assertEquals(again.seq, first.seq);
      const marker = await a.publish(room, "marker");
      await waitUntil(() => s.got.some((m) => m.seq === marker.seq), "marker delivered");
      assertEquals(s.got.filter((m) => m.id === id).length, 1);
      s.unsub();
    });

    it("binary and text payloads round-trip exactly (empty, unicode, 64 KiB)", async () => {
      const room = uniqueRoom("bin");
      const [a, b] = setup.nodes;
      const s = collect(b, room);
      await waitUntil(() => s.positioned(), "positioned");
      const big = new Uint8Array(64 * 1024).map((_, i) => (i * 31) & 255);
      const sent: Array<string | Uint8Array> = [new Uint8Array(0), "", "héllo 👋 ✓ \u0000 \"q\"", big, new Uint8Array([0, 255, 1])];
      for (const p of sent) await a.publish(room, p);
      await waitUntil(() => s.got.length >= sent.length, "all delivered");
      for (let i = 0; i < sent.length; i++) {
        const got = s.got[i].payload;
        if (typeof sent[i] === "string") assertEquals(got, sent[i]);
        else {
          assert(got instanceof Uint8Array, `payload ${i} is binary`);
          assertEquals(Array.from(got), Array.from(sent[i] as Uint8Array));
        }
      }
      s.unsub();
    });

    it("hostile room names are isolated or rejected with BAD_ROOM; oversize payload rejects with PAYLOAD_TOO_LARGE", async () => {
      const [a, b] = setup.nodes;
      const hostile = ["*", ">", "a b", "a..b", "a.*", "__proto__", "constructor", "ünï©ødé 🚀", "x".repeat(200)];
      const suffix = uniqueRoom("");
      const rooms = hostile.map((r) => r + suffix);
      const sinks = rooms.map((r) => collect(b, r));
      const plain = collect(b, uniqueRoom("plain"));
      await waitUntil(() => [...sinks, plain].every((s) => s.positioned()), "positioned");
      for (let i = 0; i < rooms.length; i++) await a.publish(rooms[i], `to ${i}`);
      await waitUntil(() => sinks.every((s) => s.got.length >= 1), "each hostile room delivered");
      for (let i = 0; i < hostile.length; i++) {
        assertEquals(sinks[i].got.map((m) => m.payload), [`to ${i}`], `room ${hostile[i]} got only its own message`);
        assertEquals(sinks[i].got[0].room, rooms[i]);
      }
      assertEquals(plain.got.length, 0, "wildcard-looking rooms never reach other rooms");
      for (const bad of ["", "x".repeat(10 * 1024), "a\nb", "\ud800"]) {
        const err = await assertRejects(() => a.publish(bad, "x"), EdgeplaneError);
        assertEquals(err.code, "BAD_ROOM");
      }
      const err = await assertRejects(() => a.publish(uniqueRoom("big"), new Uint8Array(a.maxPayloadBytes + 1)), EdgeplaneError);
      assertEquals(err.code, "PAYLOAD_TOO_LARGE");
      [...sinks, plain].forEach((s) => s.unsub());
    });

    it("unsubscribe stops delivery; a throwing subscriber does not stall the others", async () => {
      const room = uniqueRoom("unsub");
      const [a, b] = setup.nodes;
      const gone = collect(b, room);
      const good = collect(b, room);
      let thrown = 0;
      const bad = b.subscribe(room, () => {
        thrown++;
        throw new Error("subscriber bug");
      });
      await waitUntil(() => gone.positioned() && good.positioned(), "positioned");
      await a.publish(room, "1");
      await waitUntil(() => gone.got.length === 1 && good.got.length === 1, "first delivered");
      gone.unsub();
      await a.publish(room, "2");
      await a.publish(room, "3");
      await waitUntil(() => good.got.length === 3, "good subscriber keeps receiving");
      assertEquals(gone.got.length, 1);
      assert(thrown >= 1);
      good.unsub();
      bad();
    });
  });
}
