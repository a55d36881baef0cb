// Two server processes with real telefunc `Broadcast` objects share NATS through broadcastTransport:
// a publish on either reaches subscribers on both, in the same order, with identical seqs.
import { after, before, describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import { startNatsServer, type NatsServer } from "./helpers/nats-server.ts";
import { type Child, freePort, start, waitUntil } from "./helpers/process.ts";

type Event = { data: { from: string; i: number }; seq: number; timestamp: number };

/** Read an SSE stream of the example into `events`. */
async function sse(url: string, events: Event[], ready: () => void, signal: AbortSignal): Promise<void> {
  const res = await fetch(url, { signal });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (block.includes("event: ready")) ready();
        const data = block.split("\n").find((l) => l.startsWith("data: "));
        if (data && !block.includes("event: ready")) events.push(JSON.parse(data.slice(6)));
      }
    }
  } catch (err) {
    if (!signal.aborted) throw err;
  }
}

describe("Telefunc example: two processes over NATS", () => {
  let nats: NatsServer;
  const procs: Child[] = [];
  const urls: string[] = [];
  const abort = new AbortController();

  before(async () => {
    nats = await startNatsServer();
    const prefix = `tf${Date.now().toString(36)}`;
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const p = start("node_modules/.bin/tsx", ["examples/telefunc/server.ts"], {
        env: { PORT: String(port), NATS_URL: nats.url, EDGEPLANE_PREFIX: prefix },
      });
      procs.push(p);
      const m = await p.waitFor(/listening on (http:\/\/\S+)/, 30_000);
      urls.push(m[1]);
    }
  });

  after(async () => {
    abort.abort();
    await Promise.all(procs.map((p) => p.stop()));
    await nats?.cleanup();
  });

  it("publishes on A and B reach subscribers on both in one order with identical seqs", async () => {
    const seen: Event[][] = [[], []];
    let readyCount = 0;
    const streams = urls.map((u, i) => sse(`${u}/events?key=room1`, seen[i], () => readyCount++, abort.signal));
    await waitUntil(() => readyCount === 2, "both subscribers ready");
    // The exchange subscription becomes live asynchronously; publish probes until both sides see one.
    await waitUntil(async () => {
      await fetch(`${urls[0]}/publish?key=room1`, { method: "POST", body: JSON.stringify({ from: "probe", i: -1 }) });
      return seen.every((s) => s.length > 0);
    }, "subscriptions live", 15_000, 100);
    const base = seen.map((s) => s.length);
    const N = 60;
    const acks = await Promise.all(Array.from({ length: N }, async (_, i) => {
      const res = await fetch(`${urls[i % 2]}/publish?key=room1`, { method: "POST", body: JSON.stringify({ from: i % 2 ? "B" : "A", i }) });
      assertEquals(res.status, 200);
      return await res.json() as { seq: number; timestamp: number };
    }));
    await waitUntil(() => seen.every((s, k) => s.length - base[k] >= N), "both got everything", 20_000);
    // Drain any probe stragglers: compare only the N real messages.
    const real = seen.map((s) => s.filter((e) => e.data.from !== "probe"));
    assertEquals(real[0].length, N);
    assertEquals(real[0], real[1], "same messages, same order, same seq and timestamp on both processes");
    for (let k = 1; k < real[0].length; k++) assert(real[0][k].seq > real[0][k - 1].seq);
    const bySeq = new Map(real[0].map((e) => [e.seq, e]));
    for (const a of acks) assertEquals(bySeq.get(a.seq)?.timestamp, a.timestamp, "publish() result matches delivery");
    assertEquals(new Set(real[0].map((e) => `${e.data.from}${e.data.i}`)).size, N, "none twice");
    abort.abort();
    await Promise.allSettled(streams);
  });
});
