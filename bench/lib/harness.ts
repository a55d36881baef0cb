// Process plumbing for the benchmark orchestrator: start servers on a given runtime, run the load generator, show a
// progress line, stop only our own children (by PID, through tests/helpers/process.ts).
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Child, start } from "../../tests/helpers/process.ts";
import type { LoadConfig } from "../clients/loadgen.ts";

export type Runtime = "node" | "deno" | "bun";
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const BIN = join(ROOT, "node_modules", ".bin");

const children = new Set<Child>();
/** PIDs of processes started with profiling flags → what they were (for naming their .cpuprofile files). */
export const profiled = new Map<number, string>();

/** Command line that runs a TypeScript file on a runtime (GC exposed for memory readings). */
export function commandFor(rt: Runtime, file: string, extra: string[] = [], v8Flags: string[] = []): [string, string[]] {
  switch (rt) {
    case "node":
      return ["node", ["--expose-gc", ...v8Flags, "--import", "tsx", ...extra, file]];
    case "deno":
      return [join(BIN, "deno"), ["run", "-A", "--no-check", `--v8-flags=${["--expose-gc", ...v8Flags].join(",")}`, ...extra, file]];
    case "bun":
      return [join(BIN, "bun"), ["run", ...extra, file]];
  }
}

/** Stop a broker (or any child started through tests/helpers) with the others when the run is aborted. */
export function track(c: Child): void {
  children.add(c);
  void c.exited.then(() => children.delete(c));
}

/** PIDs of every descendant of `pid` (children first found with `pgrep -P`). */
function descendants(pid: number): number[] {
  const r = spawnSync("pgrep", ["-P", String(pid)], { encoding: "utf8" });
  const kids = (r.stdout ?? "").split("\n").map(Number).filter((n) => n > 0);
  return kids.flatMap((k) => [k, ...descendants(k)]);
}

/** SIGTERM a child and everything it started (by PID), e.g. a script that started its own broker. */
export async function stopTree(c: Child): Promise<void> {
  for (const pid of descendants(c.pid).reverse()) {
    try {
      process.kill(pid, "SIGTERM");
    } catch { /* gone */ }
  }
  await c.stop(2000);
}

export function spawnTracked(cmd: string, args: string[], env: Record<string, string> = {}): Child {
  const c = start(cmd, args, { cwd: ROOT, env: { NO_COLOR: "1", ...env } });
  children.add(c);
  void c.exited.then(() => children.delete(c));
  return c;
}

export interface Server {
  child: Child;
  port: number;
  http: string;
  ws: string;
  stop(): Promise<void>;
}

/** Start a bench server file (bench/servers/<name>.ts) on a runtime; resolves once it prints LISTENING. */
export async function startServer(
  rt: Runtime,
  name: "raw" | "edgeplane" | "socketio",
  env: Record<string, string> = {},
  nodeArgs: string[] = [],
  v8Flags: string[] = [],
): Promise<Server> {
  const [cmd, args] = commandFor(rt, join(ROOT, "bench", "servers", `${name}.ts`), rt === "node" ? nodeArgs : [], v8Flags);
  const child = spawnTracked(cmd, args, { BENCH_PORT: "0", ...env });
  if (rt === "node" && nodeArgs.length) profiled.set(child.pid, `${name} server ${env.BENCH_EXCHANGE ?? "memory"} ${env.BENCH_NODE_ID ?? ""}`.trim());
  const m = await child.waitFor(/LISTENING (\d+)/, 60_000);
  const port = Number(m[1]);
  return {
    child,
    port,
    http: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}/ws`,
    stop: () => child.stop(3000),
  };
}

export interface LoadResult {
  deliveries: number;
  publishes: number;
  ms: number;
  deliveriesPerSec: number;
  publishesPerSec: number;
  lost: number;
  stalls: number;
  closedSockets: number;
  latency: { p50: number; p99: number; p999: number; max: number; count: number };
}

/** A running load generator (its own process). */
export interface Load {
  child: Child;
  ready: Promise<void>;
  result: Promise<LoadResult>;
  stop(): Promise<void>;
}

export function runLoad(cfg: LoadConfig, label: string): Load {
  const child = spawnTracked("node", ["--import", "tsx", join(ROOT, "bench", "clients", "loadgen.ts"), JSON.stringify(cfg)]);
  let onReady!: () => void, onResult!: (r: LoadResult) => void, onError!: (e: Error) => void;
  const ready = new Promise<void>((r, j) => {
    onReady = r;
    onError = j;
  });
  let failResult!: (e: Error) => void;
  const result = new Promise<LoadResult>((r, j) => {
    onResult = r;
    failResult = j;
  });
  ready.catch(() => {});
  result.catch(() => {});
  let buf = "";
  child.proc.stdout?.on("data", (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (!line.startsWith("{")) continue;
      let o: Record<string, any>;
      try {
        o = JSON.parse(line);
      } catch {
        continue;
      }
      if (o.type === "ready") onReady();
      else if (o.type === "progress") {
        if (o.phase === "connect") progress(`${label}: connecting ${o.done}/${o.of}`);
        else progress(`${label}: ${fmtRate(o.rate)}/s  ${(o.elapsedMs / 1000).toFixed(1)}/${(o.of / 1000).toFixed(1)} s`);
      } else if (o.type === "result") onResult(o as LoadResult);
      else if (o.type === "error") {
        const e = new Error(`loadgen (${label}): ${o.message}`);
        onError(e);
        failResult(e);
      }
    }
  });
  void child.exited.then((code) => {
    const e = new Error(`loadgen (${label}) exited ${code}: ${child.output().slice(-1500)}`);
    onError(e);
    failResult(e);
  });
  return { child, ready, result, stop: () => child.stop(2000) };
}

function fmtRate(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0);
}

const tty = Boolean(process.stderr.isTTY);
let lastPrinted = 0;
/** One progress line, rewritten in place on a terminal, throttled to one line every 2 s otherwise. */
export function progress(text: string): void {
  if (tty) process.stderr.write(`\r\x1b[K${text.slice(0, (process.stderr.columns ?? 120) - 1)}`);
  else if (Date.now() - lastPrinted > 2000) {
    lastPrinted = Date.now();
    process.stderr.write(`  … ${text}\n`);
  }
}
export function progressDone(text: string): void {
  if (tty) process.stderr.write(`\r\x1b[K`);
  process.stderr.write(`  ✓ ${text}\n`);
}

export async function getJson<T>(url: string): Promise<T> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return await r.json() as T;
}

export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => stopTree(c)));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
