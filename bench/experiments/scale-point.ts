// One point of bench scenario 6 (scaling), for profiling a single row: raw node ws vs edgeplane, throughput mode.
//   npx tsx bench/experiments/scale-point.ts <clients> <rooms> [window]
// Env: RATE=<msg/s> (rate mode), CPU_PROF=<dir> (profile the edgeplane server), STRACE=1 (syscall counts),
//      NODE_ARGS="--trace-gc …" (more node flags for the edgeplane server; SERVER_LOG=1 prints its output at the end).
// Prints both deliveries/s, their ratio and the throughput-mode latency percentiles of each.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import process from "node:process";
import type { LoadConfig } from "../clients/loadgen.ts";
import type { LoadResult } from "../lib/harness.ts";
import { runLoad, type Server, startServer, stopAll } from "../lib/harness.ts";

const [clients, rooms] = [Number(process.argv[2] ?? 1000), Number(process.argv[3] ?? 1000)];
const window = Number(process.argv[4] ?? (rooms > clients ? 64 : 32));
/** RATE=<msg/s>: rate mode (latency at a fixed offered load) instead of throughput. */
const rate = Number(process.env.RATE ?? 0);
const servers: Record<string, Server> = {};
/** user+system CPU of a process so far, in ms (Linux /proc). */
function cpuMs(pid: number | undefined): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}
try {
  const [raw, ep] = await Promise.all([startServer("node", "raw", {}, process.env.NODE_ARGS?.split(" ").filter(Boolean) ?? []), startServer("node", "edgeplane", {}, [
    ...(process.env.CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.CPU_PROF}`] : []),
    ...(process.env.NODE_ARGS?.split(" ").filter(Boolean) ?? []),
  ])]);
  servers.raw = raw;
  servers.edgeplane = ep;
  const out: Record<string, LoadResult> = {};
  const cpu: Record<string, { server: number; loadgen: number }> = {};
  for (const kind of ["raw", "edgeplane"] as const) {
    const cfg: LoadConfig = {
      dialect: kind,
      targets: [kind === "raw" ? `ws://127.0.0.1:${servers[kind].port}/` : servers[kind].ws],
      clients,
      rooms,
      payloadBytes: 100,
      ...(rate ? { mode: "rate" as const, rate } : { mode: "throughput" as const }),
      window,
      warmupMs: 1000,
      durationMs: 3000,
    };
    const load = runLoad(cfg, `${kind}`);
    const s0 = cpuMs(servers[kind].child.pid), l0 = cpuMs(load.child.pid);
    if (process.env.STRACE) {
      await load.ready;
      await new Promise((r) => setTimeout(r, 1500));
      const st = spawnSync("timeout", ["-s", "INT", "2", "strace", "-c", "-f", "-e", "trace=write,writev,read,epoll_wait", "-p", String(servers[kind].child.pid)], { encoding: "utf8" });
      console.log(`strace ${kind}:\n${st.stderr}`);
    }
    out[kind] = await load.result;
    cpu[kind] = { server: cpuMs(servers[kind].child.pid) - s0, loadgen: cpuMs(load.child.pid) - l0 };
  }
  for (const [k, r] of Object.entries(out)) {
    const c = cpu[k];
    const total = r.deliveries / r.ms * 1000 * 5; // deliveries over the whole run (warmup + measure ≈ 5 s incl. connect)
    console.log(`${k}: ${Math.round(r.deliveriesPerSec)} deliv/s, ${Math.round(r.publishesPerSec)} pub/s, p50 ${r.latency.p50.toFixed(2)} p99 ${r.latency.p99.toFixed(2)} ms, lost ${r.lost}; CPU ms server ${c.server} loadgen ${c.loadgen} (whole load run, ~${Math.round(total)} deliveries)`);
  }
  console.log(`ratio ${(out.edgeplane.deliveriesPerSec / out.raw.deliveriesPerSec).toFixed(2)}`);
  if (process.env.SERVER_LOG) for (const k of ["raw", "edgeplane"]) console.log(`${k} server output:\n${servers[k].child.output()}`);
} finally {
  await Promise.all(Object.values(servers).map((s) => s.stop()));
  await stopAll();
}
