// Contract suite of the Telefunc-compatible BroadcastTransport, run against every exchange.
import { after, before, describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import { broadcastTransport } from "../../src/broadcast-transport.ts";
import type { Exchange } from "../../src/exchange/exchange.ts";
import { waitUntil } from "./process.ts";

type Info = { seq: number; timestamp: number };

let n = 0;
const key = (base: string) => `${base}-${Date.now().toString(36)}-${n++}`;

/** Per-exchange switches of the suite (like the exchange contract's). */
export interface BroadcastContractOptions {
  /** `listen` then `send` in the same tick delivers (the exchange holds subscribe-then-publish; issue 17). */
  subscribeThenPublish: boolean;
}

export function broadcastContract(
  name: string,
  make: () => Promise<{ nodes: Exchange[]; cleanup(): Promise<void> }>,
  opts: BroadcastContractOptions = { subscribeThenPublish: false },
): void {
  describe(`broadcast transport contract: ${name}`, () => {
    let nodes: Exchange[];
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ nodes, cleanup } = await make());
      await Promise.all(nodes.map((x) => x.ready()));
    });
    after(async () => await cleanup?.());

    const sameTick = opts.subscribeThenPublish ? {} : { skip: "subscribeThenPublish not enabled for this exchange yet" };

    it("listen, then send in the same tick (text and binary): the listener gets it; after `ready`, other processes' sends too", sameTick, async () => {
      const [a, b] = nodes.map((x) => broadcastTransport(x));
      const k = key("sametick");
      for (let i = 0; i < 3; i++) await b.send(k, `old${i}`);
      const text: Array<[string, Info]> = [];
      const bin: Array<[Uint8Array, Info]> = [];
      const u1 = a.listen(k, (p, info) => text.push([p, info]));
      const u2 = a.listenBinary(k, (p, info) => bin.push([p, info]));
      const [t, bi] = await Promise.all([a.send(k, "hello"), a.sendBinary(k, new Uint8Array([1, 2, 3]))]);
      await waitUntil(() => text.length >= 1 && bin.length >= 1, "same-tick sends delivered", 20_000);
      assertEquals(text, [["hello", t]]);
      assertEquals(bin.map(([p, info]) => [Array.from(p), info]), [[[1, 2, 3], bi]]);
      await Promise.all([u1.ready, u2.ready]);
      const fromB = await b.send(k, "from another process");
      await waitUntil(() => text.length >= 2, "other process's send delivered after ready");
      assertEquals(text[1], ["from another process", fromB]);
      u1();
      u2();
    });

    it("one order per key on every process, echo to the sender, identical {seq,timestamp}, unicode intact", async () => {
      const ts = nodes.map((x) => broadcastTransport(x));
      const k = key("order");
      const seen = ts.map(() => [] as Array<[string, Info]>);
      const unsubs = ts.map((t, i) => t.listen(k, (p, info) => seen[i].push([p, info])));
      await Promise.all(unsubs.map((u) => u.ready));
      const base = seen.map((s) => s.length);
      const text = (i: number, j: number) => `{"from":${i},"j":${j},"s":"héllo 👋 \\u0000 ✓"}`;
      const acks = await Promise.all(ts.flatMap((t, i) => Array.from({ length: 50 }, (_, j) => t.send(k, text(i, j)))));
      const total = acks.length;
      await waitUntil(() => seen.every((s, i) => s.length - base[i] === total), "everyone got everything", 20_000);
      const ref = seen[0].slice(base[0]);
      for (let i = 0; i < seen.length; i++) {
        const mine = seen[i].slice(base[i]);
        assertEquals(mine, ref, "same payloads, seqs and timestamps in the same order everywhere");
        for (let j = 1; j < mine.length; j++) assert(mine[j][1].seq > mine[j - 1][1].seq, "seq strictly increasing");
      }
      const bySeq = new Map(ref.map(([p, info]) => [info.seq, { p, info }]));
      for (const a of acks) assertEquals(bySeq.get(a.seq)?.info, a, "send() resolves with the delivered {seq,timestamp}");
      assertEquals(new Set(ref.map(([p]) => p)).size, total, "byte-identical, none twice");
      unsubs.forEach((u) => u());
    });

    it("binary round-trips exactly (0 bytes, 1 MiB minus headers) on its own stream", async () => {
      const [a, b] = nodes.map((x) => broadcastTransport(x));
      const k = key("bin");
      const gotB: Array<[Uint8Array, Info]> = [];
      const gotText: string[] = [];
      const u1 = b.listenBinary(k, (p, info) => gotB.push([p, info]));
      const u2 = b.listen(k, (p) => gotText.push(p));
      await Promise.all([u1.ready, u2.ready]);
      const max = Math.min(...nodes.map((x) => x.maxPayloadBytes)) - 4096;
      const big = new Uint8Array(max).map((_, i) => (i * 7 + 3) & 255);
      const payloads = [new Uint8Array(0), new Uint8Array([0, 255, 128]), big];
      const before = gotB.length;
      for (const p of payloads) await a.sendBinary(k, p);
      await waitUntil(() => gotB.length - before === payloads.length, "binary delivered", 20_000);
      const got = gotB.slice(before);
      for (let i = 0; i < payloads.length; i++) {
        assertEquals(got[i][0].byteLength, payloads[i].byteLength);
        assert(got[i][0].every((v, j) => v === payloads[i][j]), `payload ${i} identical`);
      }
      assertEquals(gotText, [], "binary does not leak into the text stream");
      assertEquals(got.map(([, info]) => info.seq), [1, 2, 3], "binary has its own seq");
      u1();
      u2();
    });

    it("listen after send does not replay old messages; unsubscribe stops delivery", async () => {
      const [a, b] = nodes.map((x) => broadcastTransport(x));
      const k = key("late");
      for (let i = 0; i < 5; i++) await a.send(k, `old${i}`);
      const got: string[] = [];
      const unsub = b.listen(k, (p) => got.push(p));
      await unsub.ready;
      await a.send(k, "new");
      await waitUntil(() => got.includes("new"), "new delivered");
      assertEquals(got.filter((p) => p.startsWith("old")), []);
      unsub();
      const watcher: string[] = [];
      const u2 = a.listen(k, (p) => watcher.push(p));
      await u2.ready;
      await a.send(k, "after-unsub");
      await waitUntil(() => watcher.includes("after-unsub"), "still flowing for others");
      assert(!got.includes("after-unsub"), "unsubscribed listener got nothing");
      u2();
    });

    it("a throwing listener does not stall its key", async () => {
      const errors: unknown[] = [];
      const [a] = nodes.map((x) => broadcastTransport(x, { onListenerError: (_k, e) => errors.push(e) }));
      const k = key("throw");
      const got: string[] = [];
      const unsub = a.listen(k, (p) => {
        got.push(p);
        if (p === "boom") throw new Error("listener bug");
      });
      await unsub.ready;
      await a.send(k, "boom");
      await a.send(k, "after");
      await waitUntil(() => got.includes("after"), "delivery continued");
      assertEquals(errors.length, 1);
      unsub();
    });
  });
}
