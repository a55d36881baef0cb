// One chaos node process (runs on Node via tsx, Deno and Bun): a Hub over the NATS exchange (cluster features on)
// and a second Hub over the Redis exchange, both served through the Hono routes of this runtime's adapter
// (`/` = NATS hub, `/r` = Redis hub). It records, as JSON lines in its own log file:
//   - its server-side publishes (`pub` / `ack` / `pubfail`), payload = the message's checker id;
//   - an in-process connection joined to every room of both hubs (the Hub's real fanout path, with `discontinuity`
//     frames), as the subscriber `N:<node>.<incarnation>` (`sub` / `deliver` / `disc` / `unsub`);
//   - its resident memory every second (`mem`).
// Driven by one JSON command per stdin line: {"cmd":"publish","on":bool} | {"cmd":"skew","ms":n} | {"cmd":"drain"} |
// {"cmd":"exit"}. Leaves when stdin closes (the orchestrator went away).
// Usage: <runtime> tests/chaos/node.ts '<json NodeConfig>'
import process from "node:process";
import { createInterface } from "node:readline";
import { Hono } from "hono";
import { Hub } from "../../src/hub.ts";
import { NatsExchange } from "../../src/exchange/nats/nats-exchange.ts";
import { connectNats } from "../../src/exchange/nats/connect.ts";
import { connectRedis } from "../../src/exchange/redis-connect.ts";
import { edgeplaneRoutes, type EdgeplaneRoutes } from "../../adapters/hono.ts";
import type { Frame } from "../../src/protocol.ts";
import { isEdgeplaneError } from "../../src/errors.ts";
import { jsonLog } from "./_log.ts";

export interface NodeConfig {
  nodeId: string;
  runtime: "node" | "deno" | "bun";
  incarnation: number;
  natsUrl: string;
  redisUrl: string;
  prefix: string;
  port: number;
  log: string;
  natsRooms: string[];
  redisRooms: string[];
  /** Rooms this node publishes to server-side (round robin). */
  pubRooms: string[];
  /** Server-side publishes per second. */
  rate: number;
  /** Clock offset of the NATS exchange's `now` (ms) at start. */
  skewMs: number;
  natsOpts: Record<string, unknown>;
  /** Max publishes in flight before new ones are skipped (bounded memory during outages). */
  maxInflight: number;
}

const cfg = JSON.parse(process.argv[2] ?? "{}") as NodeConfig;
const me = `${cfg.nodeId}.${cfg.incarnation}`;
const subName = `N:${me}`;

// ---- log: buffered, flushed every 50 ms (a SIGKILL loses at most that much of this node's own records) ----
const { rec, flush, close: closeLog } = jsonLog(cfg.log);

// ---- clock skew: the NATS exchange sees Date.now() + skew ----
let skew = cfg.skewMs;
const now = () => Date.now() + skew;

const nc = await connectNats({ servers: cfg.natsUrl, name: me });
const natsEx = new NatsExchange(nc, { ...cfg.natsOpts, nodeId: cfg.nodeId, prefix: cfg.prefix, now });
const hub = new Hub({ exchange: natsEx, cluster: true, log: () => {} });
await hub.ready();

let redisEx: Awaited<ReturnType<typeof connectRedis>> | undefined;
for (let i = 0; i < 60 && !redisEx; i++) {
  try {
    redisEx = await connectRedis(cfg.redisUrl, { prefix: cfg.prefix, nodeId: `${cfg.nodeId}r` });
  } catch {
    await new Promise((r) => setTimeout(r, 500));
  }
}
if (!redisEx) throw new Error("redis unavailable for 30 s");
const rhub = new Hub({ exchange: redisEx, log: () => {} });
await rhub.ready();

// ---- HTTP: the runtime's adapter ----
type Adapter = {
  // deno-lint-ignore no-explicit-any
  upgradeWebSocket: any;
  serve?: (app: Hono, opts: { port: number; hostname: string; onListen: (url: string) => void }) => Promise<{ close(): Promise<void> }>;
};
const adapter: Adapter = cfg.runtime === "node"
  ? await import("../../adapters/node.ts")
  : cfg.runtime === "deno"
  ? await import("../../adapters/deno.ts")
  : await import("../../adapters/bun.ts");
const routes: EdgeplaneRoutes = edgeplaneRoutes(hub, { upgradeWebSocket: adapter.upgradeWebSocket, metricsRoute: true, publishRoute: true, queue: { budgetBytes: 256 * 1024, slowConsumerMs: 1500 } });
const rroutes: EdgeplaneRoutes = edgeplaneRoutes(rhub, { upgradeWebSocket: adapter.upgradeWebSocket, metricsRoute: true });
const app = new Hono();
app.route("/r", rroutes.app);
app.route("/", routes.app);
const served = await adapter.serve!(app, { port: cfg.port, hostname: "127.0.0.1", onListen: () => {} });

/** The checker id of a payload: the payload itself, or its first word for padded (burst) payloads. */
function idOf(data: string | undefined): string | undefined {
  if (data === undefined) return undefined;
  const sp = data.indexOf(" ");
  return data.length > 64 && sp > 0 ? data.slice(0, sp) : data;
}

// ---- the node-level subscriber: one in-process connection per hub, joined to every room ----
const live = new Set<string>();
function listener(h: Hub, rooms: string[]): void {
  const conn = h.connect({
    write(frames: readonly Frame[]) {
      const t = Date.now();
      for (const f of frames) {
        const m = JSON.parse(f.text);
        if (m.t === "msg") {
          rec({ ev: "deliver", sub: subName, room: m.room, seq: m.seq, epoch: m.epoch, id: idOf(m.data) ?? m.id, eid: m.id, ts: m.ts, t });
        } else if (m.t === "discontinuity") {
          rec({ ev: "disc", sub: subName, room: m.room, afterSeq: m.afterSeq, nextSeq: m.nextSeq, reason: m.reason, t });
        }
      }
    },
    close() {
      const t = Date.now();
      for (const room of rooms) if (live.delete(room)) rec({ ev: "unsub", sub: subName, room, t });
    },
  }, { queue: { budgetBytes: 64 * 1024 * 1024, slowConsumerMs: 600_000 } });
  for (const room of rooms) {
    h.join(conn.id, room).then(
      () => {
        live.add(room);
        rec({ ev: "sub", sub: subName, room, t: Date.now() });
      },
      (err) => rec({ ev: "note", node: me, what: `join ${room} failed: ${err}`, t: Date.now() }),
    );
  }
}
listener(hub, cfg.natsRooms);
listener(rhub, cfg.redisRooms);

// ---- server-side publisher ----
let publishing = false;
let k = 0;
let inflight = 0;
let skipped = 0;
const redisSet = new Set(cfg.redisRooms);
const pubTimer = setInterval(() => {
  if (!publishing || cfg.pubRooms.length === 0) return;
  const n = Math.max(1, Math.round(cfg.rate / 20));
  for (let i = 0; i < n; i++) {
    if (inflight >= cfg.maxInflight) {
      skipped++;
      continue;
    }
    const room = cfg.pubRooms[k % cfg.pubRooms.length];
    const id = `${cfg.nodeId}-${cfg.incarnation}-${k++}`;
    const h = redisSet.has(room) ? rhub : hub;
    inflight++;
    rec({ ev: "pub", node: me, room, id, t: Date.now() });
    h.publish(room, id, { id }).then(
      (info) => rec({ ev: "ack", node: me, room, id, seq: info.seq, ts: info.timestamp, epoch: info.epoch, t: Date.now() }),
      (err) => rec({ ev: "pubfail", node: me, room, id, code: isEdgeplaneError(err) ? err.code : String(err).slice(0, 80), t: Date.now() }),
    ).finally(() => inflight--);
  }
}, 50);

const memTimer = setInterval(() => rec({ ev: "mem", node: me, rss: process.memoryUsage().rss, t: Date.now() }), 1000);

async function shutdown(drain: boolean): Promise<never> {
  publishing = false;
  clearInterval(pubTimer);
  clearInterval(memTimer);
  const t = Date.now();
  for (const room of [...live]) {
    live.delete(room);
    rec({ ev: "unsub", sub: subName, room, t });
  }
  const stats = { skipped, nats: natsEx.status().counters, redis: redisEx!.status().counters, hub: hub.metrics().outcomes, slowConsumerCloses: hub.metrics().slowConsumerCloses, badFrames: hub.metrics().badFrames };
  rec({ ev: "note", node: me, what: "stats", stats, t });
  flush();
  try {
    if (drain) await Promise.race([Promise.all([hub.drain(), rhub.drain()]), new Promise((r) => setTimeout(r, 8000))]);
    else await Promise.race([Promise.all([hub.close(), rhub.close()]), new Promise((r) => setTimeout(r, 5000))]);
    routes.close();
    rroutes.close();
    await Promise.race([served.close(), new Promise((r) => setTimeout(r, 2000))]);
    await Promise.race([nc.close(), new Promise((r) => setTimeout(r, 2000))]);
  } catch (err) {
    rec({ ev: "note", node: me, what: `shutdown error ${err}`, t: Date.now() });
  }
  closeLog();
  process.stdout.write(`CHAOS-NODE-EXIT ${me}\n`);
  process.exit(0);
}

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  let c: { cmd?: string; on?: boolean; ms?: number };
  try {
    c = JSON.parse(line);
  } catch {
    return;
  }
  switch (c.cmd) {
    case "publish":
      publishing = !!c.on;
      break;
    case "skew":
      skew = Number(c.ms) || 0;
      rec({ ev: "note", node: me, what: `clock skew ${skew} ms`, t: Date.now() });
      break;
    case "drain":
      void shutdown(true);
      break;
    case "exit":
      void shutdown(false);
      break;
  }
});
rl.on("close", () => void shutdown(false));
process.stdout.write(`CHAOS-NODE-READY ${me} ${cfg.runtime} members=${natsEx.members().length}\n`);
