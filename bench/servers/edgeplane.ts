// The edgeplane server under test, on whichever runtime runs this file: a Hub (memory, NATS or Redis exchange) behind
// the project's Hono routes and runtime adapter (adapters/node.ts | deno.ts | bun.ts) — exactly what an app would run.
// Env: BENCH_PORT, BENCH_EXCHANGE=memory|nats|redis, BENCH_NATS_URL, BENCH_REDIS_URL, BENCH_NODE_ID, BENCH_PREFIX,
// BENCH_HEARTBEAT_MS (NATS heartbeat; quick mode shortens it so membership settles sooner).
// Extra bench-only routes: GET /mem (RSS after GC), GET /bench/pub?room&rate&ms&bytes (server-side stamped publisher),
// GET /bench/owner?room (NATS owner of a room). Prints "LISTENING <port>" once ready.
import process from "node:process";
import { Hono } from "hono";
import { Hub } from "../../src/hub.ts";
import type { Exchange } from "../../src/exchange/exchange.ts";
import { edgeplaneRoutes } from "../../adapters/hono.ts";
import { mem } from "./_mem.ts";

const g = globalThis as unknown as Record<string, any>;
const runtime = g.Bun ? "bun" : g.Deno ? "deno" : "node";
const adapter = runtime === "bun"
  ? await import("../../adapters/bun.ts")
  : runtime === "deno"
  ? await import("../../adapters/deno.ts")
  : await import("../../adapters/node.ts");

const env = process.env;
const kind = env.BENCH_EXCHANGE ?? "memory";
const nodeId = env.BENCH_NODE_ID;
const prefix = env.BENCH_PREFIX ?? "bench";
let exchange: Exchange | undefined;
let nats: { close(): Promise<void> } | undefined;
if (kind === "nats") {
  const { connectNats } = await import("../../src/exchange/nats/connect.ts");
  const { NatsExchange } = await import("../../src/exchange/nats/nats-exchange.ts");
  const nc = await connectNats({ servers: env.BENCH_NATS_URL!, name: nodeId });
  nats = nc;
  const heartbeatMs = env.BENCH_HEARTBEAT_MS ? Number(env.BENCH_HEARTBEAT_MS) : undefined;
  exchange = new NatsExchange(nc as never, { nodeId, prefix, heartbeatMs });
} else if (kind === "redis") {
  const { connectRedis } = await import("../../src/exchange/redis-connect.ts");
  exchange = await connectRedis(env.BENCH_REDIS_URL!, { nodeId, prefix });
}

const hub = new Hub({ exchange, log: () => {} });
await hub.ready();

const stamp = (bytes: number): string => {
  const head = `@@${process.hrtime.bigint()}|`;
  return head + "x".repeat(Math.max(0, bytes - head.length));
};

const app = new Hono();
app.get("/mem", async (c) => c.json(await mem()));
app.get("/bench/owner", (c) => {
  const ex = hub.exchange as unknown as { ownerOf?: (room: string) => string | undefined };
  return c.json({ node: hub.nodeId, owner: ex.ownerOf?.(c.req.query("room") ?? "r0") ?? null });
});
app.get("/bench/metrics", (c) => c.json(hub.metrics()));
app.get("/bench/pub", (c) => {
  const room = c.req.query("room") ?? "r0";
  const rate = Number(c.req.query("rate") ?? 1000);
  const ms = Number(c.req.query("ms") ?? 5000);
  const bytes = Number(c.req.query("bytes") ?? 100);
  const t0 = performance.now();
  let sent = 0;
  let failed = 0;
  const timer = setInterval(() => {
    const el = performance.now() - t0;
    if (el > ms) return clearInterval(timer);
    const due = Math.floor((el / 1000) * rate) - sent;
    for (let i = 0; i < due; i++) {
      sent++;
      hub.publish(room, stamp(bytes)).catch(() => failed++);
    }
  }, 1);
  return c.json({ started: true, failedSoFar: failed });
});
app.route("/", edgeplaneRoutes(hub, { upgradeWebSocket: adapter.upgradeWebSocket }).app);

const served = await adapter.serve(app, { port: Number(env.BENCH_PORT ?? 0), onListen: () => {} });
console.log(`LISTENING ${served.port}`);

const shutdown = async () => {
  try {
    await hub.close();
    await nats?.close();
    await served.close();
  } finally {
    process.exit(0);
  }
};
process.on("SIGTERM", () => void shutdown());
process.on("SIGINT", () => void shutdown());
