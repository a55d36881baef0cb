// Where the memory of an idle connection goes (scenario 2 on Node): heap snapshots of the server before and after N
// idle connections (joined to one room), diffed per connection by constructor name, for raw `ws` and edgeplane.
//   tsx bench/experiments/memory-profile.ts [connections=2000]
import { mkdtempSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getJson, ROOT, runLoad, sleep, startServer, stopAll } from "../lib/harness.ts";

// stop our child processes (by PID) whatever happens
process.on("exit", () => void stopAll());
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => void stopAll().finally(() => process.exit(130)));
process.on("uncaughtException", (err) => {
  console.error(err);
  void stopAll().finally(() => process.exit(1));
});
import { diffPer, heapGroups } from "../lib/heapsnapshot.ts";

const n = Number(process.argv[2] ?? 2000);
const dir = mkdtempSync(join(tmpdir(), "edgeplane-heap-"));

async function snapshot(pid: number, name: string): Promise<string> {
  const before = new Set(readdirSync(ROOT).filter((f) => f.endsWith(".heapsnapshot")));
  process.kill(pid, "SIGUSR2");
  for (let i = 0; i < 600; i++) {
    await sleep(100);
    const f = readdirSync(ROOT).find((x) => x.endsWith(".heapsnapshot") && !before.has(x));
    if (f) {
      // wait until the writer is done (size stable for a second)
      let last = -1;
      for (let j = 0; j < 120; j++) {
        await sleep(1000);
        const size = statSync(join(ROOT, f)).size;
        if (size === last && size > 0) break;
        last = size;
      }
      const to = join(dir, `${name}.heapsnapshot`);
      renameSync(join(ROOT, f), to);
      return to;
    }
  }
  throw new Error("no heap snapshot written");
}

for (const kind of ["raw", "edgeplane"] as const) {
  const s = await startServer("node", kind, {}, ["--heapsnapshot-signal=SIGUSR2"]);
  const url = kind === "raw" ? `ws://127.0.0.1:${s.port}/` : s.ws;
  const cfg = (clients: number) => ({ dialect: kind, targets: [url], clients, rooms: 1, payloadBytes: 100, mode: "idle" as const, warmupMs: 0, durationMs: 0 });
  const warm = runLoad(cfg(20), "warm");
  await warm.ready;
  await warm.stop();
  await sleep(300);
  await getJson(`${s.http}/mem`);
  const a = await snapshot(s.child.pid, `${kind}-before`);
  const load = runLoad(cfg(n), `${kind} ${n} idle`);
  await load.ready;
  await sleep(1000);
  await getJson(`${s.http}/mem`);
  const b = await snapshot(s.child.pid, `${kind}-after`);
  const rows = diffPer(heapGroups(a), heapGroups(b), n, Number(process.env.GROUPS ?? 18));
  const total = rows.reduce((x, r) => x + r.bytes, 0);
  console.log(`\n${kind}: heap growth per idle connection (top groups, ${Math.round(total)} B shown)`);
  for (const r of rows) console.log(`  ${Math.round(r.bytes).toString().padStart(6)} B  ${r.count.toFixed(2).padStart(6)} objs  ${r.name.slice(0, 90)}`);
  await load.stop();
  await s.stop();
}
await stopAll();
rmSync(dir, { recursive: true, force: true });
