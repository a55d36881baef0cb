// Soak: connections churning against the security example (examples/security) served in this process on this
// runtime's adapter. Each of `--connections` workers loops until `--seconds` are up: connect (ws, SSE or poll in
// turn, as its own user), join 5 of `--rooms` rooms, publish one message, leave the 5 rooms, ping, disconnect.
// A warm-up of the same churn comes first; then the server's registry, rooms, queues and sessions must be back to 0
// and the heap after GC within `--heap-tolerance` (default 10 %) of what it was after the warm-up. Rooms keep
// `--history` messages (default 50) for replay: the warm-up fills that bounded history, so what the comparison sees
// is anything else that grows.
//
//   node --expose-gc --import tsx scripts/soak.ts --seconds 600 --connections 1000
//   deno run -A --v8-flags=--expose-gc scripts/soak.ts --seconds 600
//   bun run scripts/soak.ts --seconds 600
//
// Prints progress and a last line `SOAK {json}`; exits 1 when a check fails. tests/security-soak.test.ts runs a
// short version.
import { createSecureApp } from "../examples/security/app.ts";
import type { TransportKind } from "../src/transport/connection.ts";
import { openRaw, type RawConn } from "../tests/helpers/raw-transport.ts";
import { prng } from "../tests/helpers/fuzz-frames.ts";

const argv = globalThis.process?.argv ?? [];
const arg = (name: string, dflt: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const SECONDS = arg("seconds", 60);
const WARMUP_SECONDS = arg("warmup", Math.min(5, Math.max(1, SECONDS / 5)));
const CONNECTIONS = arg("connections", 1000);
const ROOMS = arg("rooms", 50);
const SEED = arg("seed", 20);
const TOLERANCE = arg("heap-tolerance", 0.1);
const kindsArg = argv.indexOf("--kinds");
const KINDS: TransportKind[] = kindsArg >= 0 ? (argv[kindsArg + 1].split(",") as TransportKind[]) : ["ws", "sse", "poll"];

type G = {
  gc?: () => void;
  Bun?: { gc(force: boolean): void };
  Deno?: { memoryUsage(): { heapUsed: number }; exit(code: number): never };
  process?: { memoryUsage(): { heapUsed: number }; exit(code: number): never };
};
const g = globalThis as unknown as G;

async function collect(): Promise<number> {
  for (let i = 0; i < 6; i++) {
    if (g.Bun) g.Bun.gc(true);
    else if (g.gc) g.gc();
    else throw new Error("no GC exposed: run node/deno with --expose-gc (see the header of scripts/soak.ts)");
    await new Promise((r) => setTimeout(r, 50));
  }
  return g.Deno ? g.Deno.memoryUsage().heapUsed : g.process!.memoryUsage().heapUsed;
}

const adapter = "Deno" in globalThis
  ? await import("../adapters/deno.ts")
  : "Bun" in globalThis
  ? await import("../adapters/bun.ts")
  : await import("../adapters/node.ts");
const secure = createSecureApp({
  upgradeWebSocket: adapter.upgradeWebSocket,
  env: (k) =>
    ({ EDGEPLANE_MAX_PER_USER: "4", EDGEPLANE_MAX_ROOMS: "10", EDGEPLANE_PUBLISH_RATE: "100/100", EDGEPLANE_SSE_HEARTBEAT_MS: "1000", EDGEPLANE_HISTORY_MESSAGES: String(arg("history", 50)) } as Record<string, string>)[k],
});
// Which transport each server-side connection came in on, to name any left over.
const opened = new Map<string, string>();
const connect = secure.hub.connect.bind(secure.hub);
secure.hub.connect = (sink, opts) => {
  const conn = connect(sink, opts);
  const data = opts?.data;
  opened.set(conn.id, data instanceof Request ? new URL(data.url).pathname : "?");
  if (opened.size > 4 * CONNECTIONS) leftByPath(); // forget the closed ones (this map must not grow either)
  return conn;
};
function leftByPath(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [id, path] of opened) {
    if (secure.hub.connection(id)) out[path] = (out[path] ?? 0) + 1;
    else opened.delete(id);
  }
  return out;
}
const served = await adapter.serve(secure.app, { port: 0, onListen: () => {} });
const base = served.url;

const totals = { cycles: 0, byKind: { ws: 0, sse: 0, poll: 0 } as Record<TransportKind, number>, published: 0, acked: 0, delivered: 0, failures: {} as Record<string, number> };

async function cycle(worker: number, n: number, r: () => number): Promise<void> {
  const kind = KINDS[(worker + n) % KINDS.length];
  let c: RawConn | undefined;
  try {
    c = await openRaw(base, kind, { query: `token=tok-w${worker}` });
    if (c.frames[0]?.t !== "welcome") throw new Error(`no welcome (status ${c.status} ${c.body.slice(0, 100)})`);
    const rooms = new Set<string>();
    while (rooms.size < 5) rooms.add(`soak${Math.floor(r() * ROOMS)}`);
    const [first] = rooms;
    const lines = [
      ...[...rooms].map((room) => JSON.stringify({ t: "join", room })),
      JSON.stringify({ t: "pub", room: first, data: `w${worker}n${n}`, ref: "p" }),
      ...[...rooms].map((room) => JSON.stringify({ t: "leave", room })),
      JSON.stringify({ t: "ping", ref: "done" }),
    ];
    if (kind === "ws") for (const l of lines) await c.send(l);
    else await c.send(lines.join("\n"));
    totals.published++;
    const deadline = Date.now() + 30_000;
    while (!c.frames.some((f) => f.t === "pong" && f.ref === "done")) {
      if (Date.now() > deadline || c.closed) throw new Error(`no pong (closed ${JSON.stringify(c.closed)})`);
      await new Promise((res) => setTimeout(res, 5));
    }
    // The ack comes when the exchange has sequenced the publish (it may follow the pong).
    while (!c.frames.some((f) => f.t === "ack" && f.ref === "p")) {
      if (Date.now() > deadline || c.closed) throw new Error("no ack");
      await new Promise((res) => setTimeout(res, 5));
    }
    totals.acked++;
    totals.delivered += c.frames.filter((f) => f.t === "msg").length;
    const errors = c.errors();
    if (errors.length > 0) throw new Error(`error frames: ${JSON.stringify(errors.slice(0, 3))}`);
    totals.byKind[kind]++;
    totals.cycles++;
  } catch (err) {
    const why = `${kind}: ${err instanceof Error ? err.message : String(err)}`.replace(/\d+ ms/, "N ms");
    totals.failures[why] = (totals.failures[why] ?? 0) + 1;
  } finally {
    await c?.close().catch(() => {});
  }
}

async function churn(seconds: number, label: string): Promise<void> {
  const until = Date.now() + seconds * 1000;
  let last = Date.now();
  await Promise.all(Array.from({ length: CONNECTIONS }, async (_, w) => {
    const r = prng(SEED * 100_003 + w);
    for (let n = 0; Date.now() < until; n++) {
      await cycle(w, n, r);
      if (w === 0 && Date.now() - last > 5000) {
        last = Date.now();
        const m = secure.hub.metrics();
        console.log(`soak ${label}: cycles=${totals.cycles} connections=${m.connections} rooms=${m.rooms} failures=${Object.values(totals.failures).reduce((a, b) => a + b, 0)}`);
      }
    }
  }));
}

/** Server-side state left over: 0 everywhere once every client has gone. */
function leftover(): Record<string, number> {
  const m = secure.hub.metrics();
  return {
    connections: m.connections,
    rooms: m.rooms,
    subscribedRooms: m.subscribedRooms,
    queuedBytes: m.queuedBytes,
    sseSessions: secure.routes.sse.size,
    pollSessions: secure.routes.poll.size,
  };
}

async function settled(): Promise<Record<string, number>> {
  const started = Date.now();
  const deadline = started + arg("settle-seconds", 20) * 1000;
  let left = leftover();
  while (Object.values(left).some((v) => v !== 0) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    left = leftover();
  }
  settleMs = Math.max(settleMs, Date.now() - started);
  return left;
}
let settleMs = 0;

const t0 = Date.now();
await churn(WARMUP_SECONDS, "warm-up");
const warmLeft = await settled();
const heapStart = await collect();
const warmCycles = totals.cycles;
await churn(SECONDS, "run");
const left = await settled();
const heapEnd = await collect();
const m = secure.hub.metrics();
const report = {
  runtime: g.Deno ? "deno" : g.Bun ? "bun" : "node",
  seconds: SECONDS,
  warmupSeconds: WARMUP_SECONDS,
  connections: CONNECTIONS,
  cycles: totals.cycles - warmCycles,
  warmupCycles: warmCycles,
  byKind: totals.byKind,
  published: totals.published,
  acked: totals.acked,
  delivered: totals.delivered,
  hubMessages: m.messages,
  refused: m.refused,
  failures: totals.failures,
  leftAfterWarmup: warmLeft,
  left,
  leftByPath: leftByPath(),
  heapStartMiB: +(heapStart / 2 ** 20).toFixed(2),
  heapEndMiB: +(heapEnd / 2 ** 20).toFixed(2),
  heapRatio: +(heapEnd / heapStart).toFixed(3),
  settleMs,
  wallMs: Date.now() - t0,
};
await secure.close();
await served.close();
const ok = Object.keys(report.failures).length === 0 && Object.values(left).every((v) => v === 0) && report.heapRatio <= 1 + TOLERANCE && report.cycles > 0;
console.log(`SOAK ${JSON.stringify(report)}`);
if (!ok) console.error("soak: FAILED");
(g.Deno ?? g.process)!.exit(ok ? 0 : 1);
