// Test helper: a private redis-server on a free loopback port, no persistence, stopped by PID. A missing
// redis-server fails the test (never skips).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Child, freePort, start } from "./process.ts";

/** A running test Redis. */
export interface RedisServer {
  port: number;
  url: string;
  child: Child;
  /** Stop it (SIGTERM, then SIGKILL) and remove its directory. */
  stop(): Promise<void>;
  /** Kill it and start an empty one on the same port after `downMs` (default 0): "Redis restarted with empty memory". */
  restartEmpty(downMs?: number): Promise<void>;
}

const BIN = process.env.REDIS_SERVER ?? "redis-server";

function spawnRedis(port: number, dir: string, extra: string[]): Child {
  return start(BIN, [
    "--port", String(port),
    "--bind", "127.0.0.1",
    "--save", "",
    "--appendonly", "no",
    "--dir", dir,
    "--maxmemory-policy", "noeviction",
    ...extra,
  ]);
}

/** Start a redis-server on a free port; resolves once it accepts connections. */
export async function startRedis(extra: string[] = []): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "edgeplane-redis-"));
  let child = spawnRedis(port, dir, extra);
  await child.waitFor(/Ready to accept connections/i, 15_000);
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    get child() {
      return child;
    },
    async stop() {
      await child.stop();
      rmSync(dir, { recursive: true, force: true });
    },
    async restartEmpty(downMs = 0) {
      child.kill("SIGKILL");
      await child.exited;
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs)); // the outage itself, not a wait for a condition
      child = spawnRedis(port, dir, extra);
      await child.waitFor(/Ready to accept connections/i, 15_000);
    },
  };
  return server;
}
