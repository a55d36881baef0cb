// Test helper: NATS exchange nodes in this process (separate connections) with fast timings.
import type { NatsConnection } from "nats";
import { NatsExchange, type NatsExchangeOptions } from "../../src/exchange/nats/nats-exchange.ts";
import { connectNats } from "../../src/exchange/nats/connect.ts";
import { waitUntil } from "./process.ts";

/** Fast timings for tests (a 2-core machine runs each runtime's suite): 200 ms heartbeats, dead after 4 missed. */
export const FAST: NatsExchangeOptions = { heartbeatMs: 200, missedBeats: 4, settleBeats: 2, sendTimeout: 3000 };

/** Wait until every node computes the same owner for a set of probe rooms (membership views have converged). */
export async function converged(exs: Array<{ ownerOf(room: string): string | undefined }>): Promise<void> {
  const probes = Array.from({ length: 32 }, (_, i) => `probe-${i}`);
  await waitUntil(() => probes.every((r) => exs.every((e) => e.ownerOf(r) === exs[0].ownerOf(r))), "membership views converged");
}

/** `n` exchanges, one NATS connection each (`urls[i % urls.length]`), ready and converged. */
export async function natsNodes(urls: string[], n: number, opts: NatsExchangeOptions = {}) {
  const conns: NatsConnection[] = [];
  const exs: NatsExchange[] = [];
  for (let i = 0; i < n; i++) {
    const nc = await connectNats({ servers: urls[i % urls.length], name: `test-${i}` });
    conns.push(nc);
    exs.push(new NatsExchange(nc, { ...FAST, nodeId: `node${i}`, ...opts }));
  }
  await Promise.all(exs.map((e) => e.ready()));
  await converged(exs);
  return {
    exs,
    conns,
    async close(): Promise<void> {
      await Promise.all(exs.map((e) => e.close()));
      await Promise.all(conns.map((c) => c.close()));
    },
  };
}
