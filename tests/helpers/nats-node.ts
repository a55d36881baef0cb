// Test helper: spawn a NATS exchange node process (nats-node-main.ts) on Node (tsx), Deno or Bun and drive it over
// stdin/stdout. Processes are stopped by PID only.
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { after, before } from "node:test";
import { type Child, start } from "./process.ts";
import { type NatsServer, startNatsServer } from "./nats-server.ts";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const bin = (name: string) => join(root, "node_modules", ".bin", name);
const script = join(here, "nats-node-main.ts");

export type Runtime = "node" | "deno" | "bun";

/** A node process. */
export interface NodeProc {
  runtime: Runtime;
  nodeId: string;
  child: Child;
  /** Send a command and await its answer (rejects with the child's error text, or after `timeoutMs`). */
  call<T = Record<string, unknown>>(cmd: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  /** SIGKILL by PID. */
  kill(): void;
  /** Ask it to close, then make sure it is gone (SIGTERM/SIGKILL by PID). */
  stop(): Promise<void>;
}

/** Spawn a node process for `runtime` connected to `url`; resolves once its exchange is ready. */
export async function spawnNode(
  runtime: Runtime,
  cfg: { url: string; nodeId: string; prefix: string; opts?: Record<string, unknown> },
  main: string = script,
): Promise<NodeProc> {
  const json = JSON.stringify(cfg);
  const script = main;
  const [cmd, args] = runtime === "node"
    ? [bin("tsx"), [script, json]]
    : runtime === "deno"
    ? [bin("deno"), ["run", "-A", "--no-check", script, json]]
    : [bin("bun"), [script, json]];
  const child = start(cmd, args, { cwd: root, stdin: "pipe" });
  child.proc.stdin?.on("error", () => { /* the process died; calls are rejected by the exit handler */ });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let buf = "";
  child.proc.stdout?.on("data", (d: Buffer | string) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (!line.startsWith("@@")) continue;
      try {
        const msg = JSON.parse(line.slice(2));
        const p = pending.get(msg.re);
        if (!p) continue;
        pending.delete(msg.re);
        if (msg.error) p.reject(new Error(`${runtime} node ${cfg.nodeId}: ${msg.error}`));
        else p.resolve(msg.ok);
      } catch { /* not ours */ }
    }
  });
  let gone = false;
  void child.exited.then(() => {
    gone = true;
    for (const p of pending.values()) p.reject(new Error(`${runtime} node ${cfg.nodeId} exited:\n${child.output().slice(-2000)}`));
    pending.clear();
  });
  let re = 0;
  const node: NodeProc = {
    runtime,
    nodeId: cfg.nodeId,
    child,
    call<T>(cmd: string, args: Record<string, unknown> = {}, timeoutMs = 120_000): Promise<T> {
      const id = ++re;
      if (gone) return Promise.reject(new Error(`${runtime} node ${cfg.nodeId} has exited`));
      return new Promise<T>((resolve, reject) => {
        const t = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${runtime} node ${cfg.nodeId}: ${cmd} timed out after ${timeoutMs} ms\n${child.output().slice(-2000)}`));
        }, timeoutMs);
        pending.set(id, {
          resolve: (v) => {
            clearTimeout(t);
            resolve(v as T);
          },
          reject: (e) => {
            clearTimeout(t);
            reject(e);
          },
        });
        try {
          child.proc.stdin?.write(JSON.stringify({ re: id, cmd, ...args }) + "\n");
        } catch { /* exited: rejected by the exit handler */ }
      });
    },
    kill() {
      child.kill("SIGKILL");
    },
    async stop() {
      try {
        await node.call("close", {}, 10_000);
      } catch { /* already gone or stuck */ }
      try {
        child.proc.stdin?.end();
      } catch { /* closed */ }
      await child.stop(3000);
    },
  };
  await child.waitFor(/NODE-STARTED/, 60_000);
  await node.call("ready", {}, 60_000);
  return node;
}

/** Wait until every process computes the same owners for probe rooms. */
export async function convergedProcs(nodes: NodeProc[], timeoutMs = 20_000): Promise<void> {
  const rooms = Array.from({ length: 32 }, (_, i) => `probe-${i}`);
  const end = Date.now() + timeoutMs;
  for (;;) {
    const all = await Promise.all(nodes.map((n) => n.call<{ owners: string[] }>("owners", { rooms })));
    if (all.every((a) => JSON.stringify(a.owners) === JSON.stringify(all[0].owners))) return;
    if (Date.now() > end) throw new Error(`membership views did not converge: ${JSON.stringify(all)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** What {@link natsProcs} started: filled in by its `before` hook. */
export interface NatsProcs {
  server: NatsServer;
  /** One node process per runtime: node, deno, bun (in that order). */
  nodes: NodeProc[];
}

/**
 * Inside a `describe()`: before its tests, start our own nats-server and one node process per runtime (ids
 * `${idPrefix}-node|deno|bun`), converged; after them, resume (SIGCONT) and stop every node and the server by PID.
 */
export function natsProcs(idPrefix: string, prefix: string, opts: Record<string, unknown>): NatsProcs {
  const fleet = { nodes: [] as NodeProc[] } as unknown as NatsProcs;
  before(async () => {
    fleet.server = await startNatsServer();
    fleet.nodes = await Promise.all((["node", "deno", "bun"] as const).map((rt) => spawnNode(rt, { url: fleet.server.url, nodeId: `${idPrefix}-${rt}`, prefix, opts })));
    await convergedProcs(fleet.nodes);
  });
  after(async () => {
    for (const n of fleet.nodes) n.child.kill("SIGCONT");
    await Promise.all(fleet.nodes.map((n) => n.stop()));
    await fleet.server?.cleanup();
  });
  return fleet;
}
