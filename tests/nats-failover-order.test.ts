// A publisher's own order across owner failovers (issue 16). Three node processes (Node, Deno, Bun). The Node process
// publishes a paced, numbered stream into a room owned by another process while (1) that owner is SIGKILLed, and
// (2) into a room owned by the other survivor while that one is SIGSTOPped for 2 s (longer than it takes to be
// declared dead) and then resumed. In both: the acked seqs increase with the publish order, every publish settles
// within sendTimeout + one heartbeat, rejections are typed and say whether the message may still appear, and the
// publisher's subscription delivers every acked message once, in seq order.
import { describe, it } from "node:test";
import { assert, assertEquals, assertGreater, assertLessOrEqual } from "@std/assert";
import { natsProcs, type NodeProc } from "./helpers/nats-node.ts";
import { waitUntil } from "./helpers/process.ts";

type PubResult = { acked: Array<[number, number, string]>; errors: Record<string, number>; failedKs: number[]; maxSettleMs: number; maybeSequenced: number };
type Delivered = { got: Array<[number, string, number]>; events: Array<{ type: string; afterSeq?: number; nextSeq?: number }> };

const HB = 250, SEND_TIMEOUT = 2000;
const TYPED = new Set(["TIMEOUT", "NO_RESPONDERS", "BACKPLANE_UNAVAILABLE"]);

describe("nats exchange: a publisher's order across owner failover (SIGKILL, SIGSTOP)", () => {
  const fleet = natsProcs("fo", "ford", { heartbeatMs: HB, missedBeats: 4, settleBeats: 2, sendTimeout: SEND_TIMEOUT });

  /** A room of `candidates` whose owner (in `asker`'s view) is `owner`. */
  async function roomOwnedBy(asker: NodeProc, owner: NodeProc, prefix: string): Promise<string> {
    const candidates = Array.from({ length: 200 }, (_, i) => `${prefix}-${i}`);
    const { owners } = await asker.call<{ owners: string[] }>("owners", { rooms: candidates });
    const room = candidates[owners.indexOf(owner.nodeId)];
    assert(room, `a room owned by ${owner.nodeId}`);
    return room;
  }

  /** Stream `count` publishes into `room` from `pub`; run `fault` once the stream is under way; check order and settle times. */
  async function streamThrough(pub: NodeProc, room: string, count: number, fault: () => Promise<void>): Promise<PubResult> {
    assert((await pub.call<{ positioned: boolean }>("subscribe", { rooms: [room] })).positioned);
    const running = pub.call<PubResult>("publish", { room, tag: `s-${room}`, count, window: 8, paceMs: 2 });
    await waitUntil(async () => (await pub.call<{ counts: number[] }>("progress", { rooms: [room] })).counts[0] >= 300, "stream under way", 30_000, 20);
    await fault();
    const r = await running;
    assertEquals(r.acked.length + r.failedKs.length, count, "every publish settled");
    for (const code of Object.keys(r.errors)) assert(TYPED.has(code), `typed rejection ${code}`);
    const byK = [...r.acked].sort((a, b) => a[0] - b[0]);
    let inversions = 0;
    for (let i = 1; i < byK.length; i++) if (byK[i][1] <= byK[i - 1][1]) inversions++;
    assertEquals(inversions, 0, "acked seqs increase with the publish order");
    assertLessOrEqual(r.maxSettleMs, SEND_TIMEOUT + HB, "every publish settles within sendTimeout + one heartbeat");
    assertGreater(r.acked.length, count / 2, "most of the stream was acked");
    const maxAck = Math.max(...r.acked.map((a) => a[1]));
    await waitUntil(async () => {
      const d = await pub.call<Delivered>("delivered", { room });
      return d.got.length > 0 && d.got[d.got.length - 1][0] >= maxAck;
    }, "the publisher delivered up to its last acked seq", 30_000, 50);
    const d = await pub.call<Delivered>("delivered", { room });
    for (let k = 1; k < d.got.length; k++) assert(d.got[k][0] > d.got[k - 1][0], "delivered seqs strictly increase");
    const ids = new Set(d.got.map((g) => g[1]));
    assertEquals(ids.size, d.got.length, "each id delivered once");
    const discs = d.events.filter((e) => e.type === "discontinuity");
    for (const [, seq, id] of r.acked) {
      assert(ids.has(id) || discs.some((e) => e.afterSeq! < seq && seq < e.nextSeq!), `acked ${id} (seq ${seq}) delivered or reported lost`);
    }
    return r;
  }

  it("SIGKILL of the owner, then SIGSTOP of the next one: acked seqs follow the publish order, settles bounded", async () => {
    const [pub, stopped, killed] = fleet.nodes;
    const room1 = await roomOwnedBy(pub, killed, "k");
    const r1 = await streamThrough(pub, room1, 2500, async () => {
      killed.kill();
      await killed.child.exited;
    });
    await waitUntil(async () => (await pub.call<{ members: string[] }>("members")).members.length === 2, "the killed node left the view", 20_000, 50);
    const room2 = await roomOwnedBy(pub, stopped, "s");
    const r2 = await streamThrough(pub, room2, 2500, async () => {
      stopped.child.kill("SIGSTOP");
      try {
        // The freeze itself (a fault of a given length, not a wait for a condition): 2 s > missedBeats × heartbeat.
        await new Promise((r) => setTimeout(r, 2000));
      } finally {
        stopped.child.kill("SIGCONT");
      }
    });
    const st = await pub.call<{ counters: Record<string, number> }>("status");
    console.log(`# failover order: SIGKILL acked ${r1.acked.length}/2500, rejected ${JSON.stringify(r1.errors)} (maybeSequenced ${r1.maybeSequenced}), ` +
      `longest settle ${r1.maxSettleMs} ms; SIGSTOP acked ${r2.acked.length}/2500, rejected ${JSON.stringify(r2.errors)} (maybeSequenced ${r2.maybeSequenced}), ` +
      `longest settle ${r2.maxSettleMs} ms; publisher retries ${st.counters.retries}, redirects ${st.counters.redirects}, timeouts ${st.counters.requestTimeouts}`);
  });
});
