// EXPERIMENT: scenario 1 on Node, three servers side by side — raw `ws` (corked), the shipped edgeplane server
// (adapters/node.ts + hono routes), and the same hub behind a batching/corking sink (batched-sink-server.ts).
//   tsx bench/experiments/batched-sink.ts [clients=1000] [rounds=2]
import { join } from "node:path";
import { ROOT, runLoad, spawnTracked, startServer, stopAll } from "../lib/harness.ts";

// stop our child processes (by PID) whatever happens
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => void stopAll().finally(() => process.exit(130)));
process.on("uncaughtException", (err) => {
  console.error(err);
  void stopAll().finally(() => process.exit(1));
});
import { median } from "../lib/stats.ts";

const clients = Number(process.argv[2] ?? 1000);
const rounds = Number(process.argv[3] ?? 2);
const res: Record<string, number[]> = { raw: [], shipped: [], batched: [] };
for (let i = 0; i < rounds; i++) {
  for (const kind of ["raw", "shipped", "batched"] as const) {
    let port: number, stop: () => Promise<void>;
    if (kind === "batched") {
      const c = spawnTracked("node", ["--import", "tsx", join(ROOT, "bench", "experiments", "batched-sink-server.ts")]);
      port = Number((await c.waitFor(/LISTENING (\d+)/))[1]);
      stop = () => c.stop();
    } else {
      const s = await startServer("node", kind === "raw" ? "raw" : "edgeplane");
      port = s.port;
      stop = s.stop;
    }
    const url = kind === "shipped" ? `ws://127.0.0.1:${port}/ws` : `ws://127.0.0.1:${port}/`;
    const r = await runLoad({ dialect: kind === "raw" ? "raw" : "edgeplane", targets: [url], clients, rooms: 1, payloadBytes: 100, mode: "throughput", warmupMs: 1500, durationMs: 4000, window: 32 }, `${kind} ${i + 1}/${rounds}`).result;
    res[kind].push(r.deliveriesPerSec);
    await stop();
    process.stderr.write(`\n${kind}: ${Math.round(r.deliveriesPerSec)} deliveries/s\n`);
  }
}
await stopAll();
const raw = median(res.raw);
for (const k of ["raw", "shipped", "batched"]) console.log(`${k.padEnd(8)} ${Math.round(median(res[k])).toString().padStart(8)} deliveries/s  ${(median(res[k]) / raw).toFixed(2)}× raw`);
