// The seal race of a migration away from NATS (NATS → Redis, docs/design.md §6): two nodes run the phase-2 chain
// (NATS sequences, Redis gets relays) and a third publishes on plain NATS (phase 1) — all of them publishing hard into
// the same rooms — while a fourth node starts the phase-3 chain, which seals NATS and seeds Redis. Publishes are in
// flight at the NATS owners while the seal spreads. Checked per room: every seq was assigned once (acks and both
// brokers' histories agree on its id), the seqs are contiguous, every message NATS sequenced lies below every message
// Redis sequenced (the handoff), every publish that started after the seal resolved was sequenced by Redis, the
// phase-2 chains never failed (they followed the seal) and the plain NATS publisher got only typed `sealedBy` refusals.
import { after, before, describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import { chain, type ChainExchange } from "../src/exchange/chain.ts";
import { connectRedis } from "../src/exchange/redis-connect.ts";
import type { RedisExchange } from "../src/exchange/redis.ts";
import { type Exchange, isGap, type SequencedMessage } from "../src/exchange/exchange.ts";
import { isEdgeplaneError } from "../src/errors.ts";
import { type NatsServer, startNatsServer } from "./helpers/nats-server.ts";
import { type RedisServer, startRedis } from "./helpers/redis-server.ts";
import { natsNodes } from "./helpers/nats-nodes.ts";
import { waitUntil } from "./helpers/process.ts";

interface Ack {
  room: string;
  seq: number;
  id: string;
  startedAfterSeal: boolean;
}

/** Publish round-robin into `rooms` with `window` in flight until `stop()`; acks and errors are recorded. */
function publisher(ex: Exchange, tag: string, rooms: string[], window: number, sealedAt: () => number | undefined) {
  const acks: Ack[] = [];
  const errors: Array<{ code: string; sealedBy: unknown }> = [];
  let running = true, n = 0, inflight = 0;
  let idle: () => void = () => {};
  const done = new Promise<void>((resolve) => idle = resolve);
  const pump = () => {
    while (running && inflight < window) {
      const k = n++;
      const room = rooms[k % rooms.length];
      const id = `${tag}-${k}`;
      const startedAfterSeal = sealedAt() !== undefined;
      inflight++;
      ex.publish(room, `${tag}:${k}`, { id }).then(
        (info) => void acks.push({ room, seq: info.seq, id, startedAfterSeal }),
        (err) => void errors.push({ code: isEdgeplaneError(err) ? err.code : `UNTYPED:${String(err)}`, sealedBy: isEdgeplaneError(err) ? err.details?.sealedBy : undefined }),
      ).finally(() => {
        inflight--;
        if (running) queueMicrotask(pump);
        else if (inflight === 0) idle();
      });
    }
  };
  pump();
  return {
    acks,
    errors,
    async stop() {
      running = false;
      if (inflight > 0) await done;
    },
  };
}

describe("chain: sealing NATS while it sequences (NATS → Redis)", () => {
  let nats: NatsServer, redis: RedisServer;
  before(async () => {
    [nats, redis] = await Promise.all([startNatsServer(), startRedis()]);
  });
  after(async () => {
    await Promise.all([nats?.cleanup(), redis?.stop()]);
  });

  it("publishes concurrent with the seal: NATS seqs below the handoff, later ones by Redis, no seq assigned twice, no loss", { timeout: 180_000 }, async () => {
    const set = await natsNodes([nats.url], 4, { prefix: "race", sendTimeout: 5000, history: { maxMessages: 20_000, maxBytes: 64 << 20 } });
    const reds: RedisExchange[] = await Promise.all([0, 1, 2, 3].map((i) =>
      connectRedis(redis.url, { nodeId: `redis-${i}`, prefix: "race", historySize: 20_000, timeoutMs: 5000, gapTimeoutMs: 5000 })
    ));
    const member = (i: number) => [{ name: "nats", exchange: set.exs[i] }, { name: "redis", exchange: reds[i] }];
    const phase2 = [chain(member(0), { authority: "nats" }), chain(member(1), { authority: "nats" })];
    let phase3: ChainExchange | undefined;
    const rooms = Array.from({ length: 8 }, (_, i) => `race-${i}`);
    let sealedAt: number | undefined;
    try {
      await Promise.all([...phase2.map((c) => c.ready()), ...reds.map((r) => r.ready())]);
      const pubs = [
        publisher(phase2[0], "c0", rooms, 32, () => sealedAt),
        publisher(phase2[1], "c1", rooms, 32, () => sealedAt),
        publisher(set.exs[2], "plain", rooms, 16, () => sealedAt), // a phase-1 node: plain NATS
      ];
      await waitUntil(() => pubs.every((p) => p.acks.length >= 200), "traffic before the seal", 60_000);
      // Phase 3 on a fourth node: ready() seals NATS (every live node acknowledged) and starts seeding Redis.
      phase3 = chain(member(3), { authority: "redis" });
      await phase3.ready();
      sealedAt = Date.now();
      assertEquals(set.exs.map((e) => e.sealedBy), ["redis", "redis", "redis", "redis"]);
      const atSeal = pubs.map((p) => p.acks.length);
      await waitUntil(() => pubs.slice(0, 2).every((p, i) => p.acks.length >= atSeal[i] + 200), "the phase-2 chains publish on after the seal", 60_000);
      await Promise.all(pubs.map((p) => p.stop()));
      await phase3.seeded();

      assertEquals(pubs[0].errors, [], "a phase-2 chain never fails: it follows the seal");
      assertEquals(pubs[1].errors, []);
      assert(pubs[2].errors.length > 0, "the plain NATS publisher was refused after the seal");
      for (const e of pubs[2].errors) assertEquals(e, { code: "BACKPLANE_UNAVAILABLE", sealedBy: "redis" });
      assertEquals(pubs.reduce((a, p) => a + p.acks.filter((x) => x.startedAfterSeal).length, 0) > 0, true);

      const origins = { nats: 0, redis: 0 };
      for (const room of rooms) {
        // NATS holds every message (its own seqs, and Redis' ones relayed to it by the chains); Redis holds its own
        // from the handoff on (the plain NATS publisher's messages were never relayed to it).
        const bySeq = new Map<number, SequencedMessage>();
        const h = await set.exs[0].history(room, 0);
        assert(!isGap(h), `${room}: history held on NATS`);
        for (const m of h) bySeq.set(m.seq, m);
        const max = Math.max(...bySeq.keys());
        for (let s = 1; s <= max; s++) assert(bySeq.has(s), `${room}: seq ${s} missing (loss)`);
        const natsSeqs = [...bySeq.values()].filter((m) => m.origin.startsWith("node")).map((m) => m.seq);
        const redisSeqs = [...bySeq.values()].filter((m) => m.origin.startsWith("redis-")).map((m) => m.seq);
        assertEquals(natsSeqs.length + redisSeqs.length, max, `${room}: every message sequenced by one of the two`);
        assert(natsSeqs.length > 0 && redisSeqs.length > 0, `${room}: both sequenced`);
        const handoff = Math.max(...natsSeqs);
        assert(handoff < Math.min(...redisSeqs), `${room}: NATS seqs up to ${handoff}, Redis from ${Math.min(...redisSeqs)}`);
        const onRedis = await reds[0].history(room, handoff);
        assert(!isGap(onRedis) && onRedis.length === redisSeqs.length, `${room}: Redis holds what it sequenced`);
        for (const m of onRedis) assertEquals(bySeq.get(m.seq)?.id, m.id, `${room}#${m.seq}: one id on both brokers`);
        origins.nats += natsSeqs.length;
        origins.redis += redisSeqs.length;
        const seen = new Map<number, string>();
        for (const p of pubs) {
          for (const a of p.acks.filter((x) => x.room === room)) {
            assert(!seen.has(a.seq), `${room}#${a.seq} acked twice (${seen.get(a.seq)}, ${a.id})`);
            seen.set(a.seq, a.id);
            assertEquals(bySeq.get(a.seq)?.id, a.id, `${room}#${a.seq}: the acked id is the one held`);
            if (a.startedAfterSeal) assert(a.seq > handoff, `${room}#${a.seq} (${a.id}) started after the seal but NATS sequenced it`);
          }
        }
      }
      console.log(`[seal race] acks ${pubs.map((p) => p.acks.length).join("/")}, refused ${pubs[2].errors.length}, sequenced by NATS ${origins.nats}, by Redis ${origins.redis}`);
    } finally {
      await Promise.all([...phase2, ...(phase3 ? [phase3] : [])].map((c) => c.close()));
      await Promise.all(reds.map((r) => r.close()));
      await set.close();
    }
  });
});
