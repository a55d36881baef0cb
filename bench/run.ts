// `npm run bench` / `npm run bench:quick`: run the issue-9 scenarios, print the table, write
// bench/results/<date>.json and bench/results/<date>.svg (plus latest.json / latest.svg).
//
//   tsx bench/run.ts [--quick] [--only=1,2,3,4,5,6] [--runtimes=node,deno,bun] [--out=DIR] [--cpu-prof=DIR]
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { profiled, ROOT, type Runtime, stopAll } from "./lib/harness.ts";
import { type Frame, topFrames } from "./lib/cpuprofile.ts";
import { type Row, svgChart, table } from "./lib/report.ts";
import {
  fanoutScenario,
  latencyScenario,
  memoryScenario,
  natsSequencedScenario,
  type Opts,
  scalingScenario,
  socketIoScenario,
  warnings,
} from "./scenarios.ts";

const args = process.argv.slice(2);
const flag = (name: string) => args.find((a) => a === `--${name}` || a.startsWith(`--${name}=`))?.split("=").slice(1).join("=");
const quick = args.includes("--quick");
const only = (flag("only") ?? "1,2,3,4,5,6").split(",").map(Number);
const runtimes = (flag("runtimes") ?? "node,deno,bun").split(",") as Runtime[];
const outDir = flag("out") ?? join(ROOT, "bench", "results");
const cpuProf = flag("cpu-prof");
const opts: Opts = { quick, runtimes, nodeArgs: cpuProf ? ["--cpu-prof", `--cpu-prof-dir=${cpuProf}`] : [] };

const SCENARIOS: Array<[number, string, (o: Opts) => Promise<Row[]>]> = [
  [1, "local fanout vs raw runtime ws", fanoutScenario],
  [2, "memory per idle ws connection", memoryScenario],
  [3, "sequenced publish over NATS vs raw NATS", natsSequencedScenario],
  [4, "cross-node latency vs raw NATS", latencyScenario],
  [5, "2-node fanout vs Socket.IO + redis-adapter", socketIoScenario],
  [6, "scaling curve (members, rooms)", scalingScenario],
];

function version(cmd: string, a: string[]): string {
  try {
    return execFileSync(cmd, a, { encoding: "utf8" }).split("\n")[0].trim();
  } catch {
    return "n/a";
  }
}

const started = new Date();
const env = {
  date: started.toISOString(),
  mode: quick ? "quick" : "full",
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model ?? "",
  memGiB: +(totalmem() / 2 ** 30).toFixed(1),
  loadavgAtStart: loadavg().map((x) => +x.toFixed(2)),
  node: process.version,
  deno: version(join(ROOT, "node_modules", ".bin", "deno"), ["--version"]),
  bun: version(join(ROOT, "node_modules", ".bin", "bun"), ["--version"]),
  natsServer: version("nats-server", ["--version"]),
  redisServer: version("redis-server", ["--version"]),
};

let aborted = false;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    if (aborted) return;
    aborted = true;
    process.stderr.write(`\n${sig}: stopping our child processes\n`);
    void stopAll().finally(() => process.exit(130));
  });
}

const rows: Row[] = [];
const errors: Array<{ scenario: number; error: string }> = [];
const timings: Record<string, number> = {};
process.stderr.write(`edgeplane bench (${env.mode}) on ${env.cpus} CPUs, load ${env.loadavgAtStart.join(" ")}; runtimes ${runtimes.join(", ")}\n`);
for (const [n, name, fn] of SCENARIOS) {
  if (!only.includes(n)) continue;
  process.stderr.write(`[${n}/6] ${name}\n`);
  const t0 = Date.now();
  try {
    rows.push(...await fn(opts));
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    errors.push({ scenario: n, error: msg });
    process.stderr.write(`  ✗ scenario ${n} failed: ${msg.slice(0, 2000)}\n`);
  } finally {
    await stopAll();
  }
  timings[n] = Date.now() - t0;
}

const profiles: Array<{ label: string; file: string; samples: number; self: Frame[]; total: Frame[] }> = [];
if (cpuProf) {
  for (const f of readdirSync(cpuProf).filter((x) => x.endsWith(".cpuprofile"))) {
    const pid = Number(f.split(".")[3]);
    const label = profiled.get(pid);
    if (!label) continue;
    const t = topFrames(join(cpuProf, f), 14);
    const busy = t.self.filter((x) => x.name !== "(idle)").reduce((a, x) => a + x.selfPct, 0);
    if (busy < 5) continue; // a loader worker thread, not the main thread
    profiles.push({ label, file: join(cpuProf, f), ...t });
  }
  for (const p of profiles) {
    console.log(`\nprofile: ${p.label} (${p.samples} samples, ${p.file})\n  self%  total%  frame`);
    for (const x of p.self) console.log(`  ${x.selfPct.toFixed(1).padStart(5)}  ${x.totalPct.toFixed(1).padStart(5)}  ${x.name} ${x.where}`);
  }
}

const stamp = started.toISOString().replace(/:/g, "-").replace(/\..*/, "Z");
const caption = `${env.mode} run ${env.date.slice(0, 16)}Z · ${env.cpus} CPUs · Node ${env.node}, ${env.deno.split(" ").slice(0, 2).join(" ")}, Bun ${env.bun}`;
const result = { env: { ...env, loadavgAtEnd: loadavg().map((x) => +x.toFixed(2)), timingsMs: timings }, rows, errors, warnings, ...(profiles.length ? { profiles } : {}) };
console.log("\n" + table(rows));
for (const r of rows) if (r.note) console.log(`  [${r.id}] ${r.note}`);
for (const w of warnings) console.log(`warning: ${w}`);
if (errors.length) console.log(`\n${errors.length} scenario(s) failed: ${errors.map((e) => e.scenario).join(", ")}`);
if (!args.includes("--no-write")) {
  mkdirSync(outDir, { recursive: true });
  const json = JSON.stringify(result, null, 2) + "\n";
  const svg = svgChart(rows, caption);
  const base = `${stamp}${quick ? "-quick" : ""}`;
  writeFileSync(join(outDir, `${base}.json`), json);
  writeFileSync(join(outDir, `${base}.svg`), svg);
  writeFileSync(join(outDir, `latest${quick ? "-quick" : ""}.json`), json);
  writeFileSync(join(outDir, `latest${quick ? "-quick" : ""}.svg`), svg);
  console.log(`\nwrote ${join(outDir, base)}.json and .svg`);
}
process.exit(errors.length ? 1 : 0);
