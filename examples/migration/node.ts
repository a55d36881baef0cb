/**
 * One node of the migration demo/test: runs the exchange of its phase, subscribes to every room, publishes at a
 * steady rate spread over the rooms, and on SIGTERM (or when QUIESCE_FILE appears: stop publishing) drains and writes
 * what it sent, got acknowledged and delivered to OUT as JSON.
 *
 * Env: NODE_ID, PHASE (1-4), OLD_KIND (redis|nats, default redis), OLD_URL (default REDIS_URL), REDIS_URL,
 * NEW_KIND (nats|redis), NEW_URL, ROOMS (100), RATE (msg/s of this node), OUT (results file), QUIESCE_FILE (optional),
 * PREFIX (key/subject prefix, default "edgeplane"), OLD_PREFIX / NEW_PREFIX (per broker, see phases.ts), TIMEOUT_MS
 * (broker round-trip bound, default 2000), GAP_TIMEOUT_MS (hole wait before a discontinuity, default 2000).
 *
 * Run with any runtime: `npx tsx examples/migration/node.ts`, `deno run -A examples/migration/node.ts`,
 * `bun examples/migration/node.ts`.
 */
import { existsSync, writeFileSync } from "node:fs";
import process from "node:process";
import { isGap } from "../../src/exchange/exchange.ts";
import { exchangeForPhase, type Phase } from "./phases.ts";

const env = process.env;
const nodeId = env.NODE_ID ?? "node";
const phase = Number(env.PHASE ?? 1) as Phase;
const rooms = Array.from({ length: Number(env.ROOMS ?? 100) }, (_, i) => `mig-room-${i}`);
const rate = Number(env.RATE ?? 100);
const instance = `${nodeId}-p${phase}-${Date.now().toString(36)}`;

const ex = await exchangeForPhase(phase, {
  oldKind: (env.OLD_KIND || "redis") as "nats" | "redis",
  oldUrl: env.OLD_URL || undefined,
  redisUrl: env.REDIS_URL ?? "redis://127.0.0.1:6379",
  newKind: (env.NEW_KIND ?? "nats") as "nats" | "redis",
  newUrl: env.NEW_URL ?? "nats://127.0.0.1:4222",
  nodeId: instance,
  prefix: env.PREFIX || undefined,
  oldPrefix: env.OLD_PREFIX || undefined,
  newPrefix: env.NEW_PREFIX || undefined,
  timeoutMs: env.TIMEOUT_MS ? Number(env.TIMEOUT_MS) : undefined,
  gapTimeoutMs: env.GAP_TIMEOUT_MS ? Number(env.GAP_TIMEOUT_MS) : undefined,
});
await ex.ready();

type Row = [seq: number, epoch: number, id: string];
const positions: Record<string, number> = {};
const delivered: Record<string, Row[]> = {};
const acked: Record<string, Row[]> = {};
const events: unknown[] = [];
let sent = 0, failed = 0, inflight = 0;
for (const room of rooms) {
  delivered[room] = [];
  acked[room] = [];
  ex.subscribe(room, (m) => delivered[room].push([m.seq, m.epoch, m.id]), {
    onEvent: (e) => {
      if (e.type === "position") positions[room] = e.seq;
      else events.push(e);
    },
  });
}
const deadline = Date.now() + 60_000;
while (Object.keys(positions).length < rooms.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
console.log(`READY ${instance} phase=${phase} positioned=${Object.keys(positions).length}`);

let publishing = true;
let k = Math.floor(Math.random() * rooms.length);
const started = Date.now();
const tick = setInterval(() => {
  if (publishing && env.QUIESCE_FILE && existsSync(env.QUIESCE_FILE)) {
    publishing = false;
    void settled().then(() => console.log(`QUIET ${instance} sent=${sent} acked=${count(acked)} failed=${failed}`));
  }
  if (!publishing) return;
  const due = Math.floor(((Date.now() - started) / 1000) * rate) - sent;
  for (let i = 0; i < due && inflight < 500; i++) {
    const room = rooms[k++ % rooms.length];
    const n = sent++;
    inflight++;
    const id = crypto.randomUUID().replaceAll("-", "");
    ex.publish(room, JSON.stringify({ from: instance, n }), { id }).then((info) => {
      acked[room].push([info.seq, info.epoch ?? 0, id]);
    }, (err) => {
      failed++;
      console.error(`publish failed: ${err?.code ?? ""} ${err?.message ?? err}`);
    }).finally(() => inflight--);
  }
}, 10);

function count(rec: Record<string, Row[]>): number {
  return Object.values(rec).reduce((a, r) => a + r.length, 0);
}

async function settled(): Promise<void> {
  for (let i = 0; i < 1000 && inflight > 0; i++) await new Promise((r) => setTimeout(r, 10));
}

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  publishing = false;
  await settled();
  // Wait (bounded) until this node delivered everything the backplane had when we stopped.
  const target: Record<string, number> = {};
  await Promise.all(rooms.map(async (room) => {
    try {
      const h = await ex.history(room, Number.MAX_SAFE_INTEGER);
      target[room] = isGap(h) ? h.lastSeq : 0;
    } catch {
      target[room] = 0;
    }
  }));
  const last = (room: string) => delivered[room].length ? delivered[room][delivered[room].length - 1][0] : positions[room] ?? 0;
  const until = Date.now() + 30_000;
  while (rooms.some((r) => last(r) < target[r]) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  clearInterval(tick);
  const status = ex.status();
  await ex.close();
  writeFileSync(env.OUT ?? `${instance}.json`, JSON.stringify({ instance, nodeId, phase, sent, failed, positions, target, delivered, acked, events, status }));
  console.log(`DONE ${instance} sent=${sent} acked=${count(acked)} delivered=${count(delivered)} failed=${failed}`);
  process.exit(0);
}
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
