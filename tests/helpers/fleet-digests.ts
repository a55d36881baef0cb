// What the multi-process NATS tests check after a burst: the acks (no rejection, seqs exactly 1..N, each
// publisher's order) and the deliveries (every node holds every room's whole burst once, contiguous, in each
// publisher's order, identical on every node). The node processes answer `digest` (tests/helpers/nats-node-main.ts).
import { assert, assertEquals } from "@std/assert";
import type { NodeProc } from "./nats-node.ts";
import { waitUntil } from "./process.ts";

/** One room as a node delivered it. */
export type Digest = { count: number; first: number; last: number; contiguous: boolean; uniqueIds: number; hash: string; orderOk: boolean; discontinuities: number };
/** A node's answer to `publish` into one room: `[k, seq, id]` per acked publish, rejections by code. */
export type PubResult = { acked: Array<[number, number, string]>; errors: Record<string, number>; maxSettleMs?: number };

/** Each publisher got `per` acks and no rejection; together the seqs are exactly 1..n; each publisher's order holds. */
export function assertAckedInOrder(results: PubResult[], per: number, labels: string[]): void {
  for (const [i, r] of results.entries()) {
    assertEquals(r.errors, {}, `${labels[i]}: no publish rejected`);
    assertEquals(r.acked.length, per, `${labels[i]}: every publish acked`);
  }
  const n = results.length * per;
  const seqs = results.flatMap((r) => r.acked.map((a) => a[1])).sort((a, b) => a - b);
  assertEquals(seqs, Array.from({ length: n }, (_, i) => i + 1), `acked seqs are exactly 1..${n}`);
  for (const [i, r] of results.entries()) {
    const byK = [...r.acked].sort((a, b) => a[0] - b[0]);
    for (let k = 1; k < byK.length; k++) assert(byK[k][1] > byK[k - 1][1], `${labels[i]}: its k-th publish got a lower seq than its (k+1)-th`);
  }
}

/** Waits until every node delivered `count` messages in each of `rooms`; returns each node's digests. */
export async function digestsWhenDelivered(nodes: NodeProc[], rooms: string[], count: number, timeoutMs = 60_000): Promise<Digest[][]> {
  let all: Digest[][] = [];
  await waitUntil(async () => {
    all = (await Promise.all(nodes.map((n) => n.call<{ digests: Digest[] }>("digest", { rooms })))).map((d) => d.digests);
    return all.every((ds) => ds.every((d) => d.count >= count));
  }, () => `every node delivered ${count} messages in each of ${rooms.length} rooms: ${JSON.stringify(all.map((ds) => ds.map((d) => d.count).slice(0, 5)))}`, timeoutMs, 100);
  return all;
}

/** Every room of every node holds `count` messages once each, contiguous, in each publisher's order, identical everywhere. */
export function assertRoomsIdentical(all: Digest[][], rooms: string[], count: number): void {
  for (let i = 0; i < rooms.length; i++) {
    for (const ds of all) {
      const d = ds[i];
      assertEquals(d.count, count, `room ${rooms[i]}: each message once, none lost`);
      assertEquals(d.uniqueIds, count, `room ${rooms[i]}: no duplicate id`);
      assert(d.contiguous, `room ${rooms[i]}: seqs contiguous in delivery order`);
      assert(d.orderOk, `room ${rooms[i]}: each publisher's order kept in delivery`);
      assertEquals(d.discontinuities, 0, `room ${rooms[i]}: no discontinuity`);
      assertEquals(d.hash, all[0][i].hash, `room ${rooms[i]}: same id at the same seq on every node`);
    }
  }
}
