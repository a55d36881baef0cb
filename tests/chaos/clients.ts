// The chaos clients process (Node via tsx): edgeplane clients (src/client) over ws, sse and long-poll, spread over
// the nodes and over both hubs (NATS rooms at `/`, Redis rooms at `/r`). Each logical client `C:<i>` is one checker
// subscriber for its whole life, across automatic reconnects (resume by lastSeq on the same node) and across moves to
// another node (a new client resuming with the old one's lastSeq per room). Records `sub` / `deliver` / `disc` and the
// clients' own publishes (`pub` / `ack` / `pubfail`) as JSON lines.
// Stdin commands (one JSON per line): {"cmd":"publish","on":bool} | {"cmd":"move","client":i,"node":j} |
// {"cmd":"slow","node":j,"room":r,"ms":n} | {"cmd":"hostile","node":j} | {"cmd":"exit"}.
import process from "node:process";
import { createInterface } from "node:readline";
import { EdgeplaneClient } from "../../src/client/mod.ts";
import type { TransportKind } from "../../src/transport/connection.ts";
import { webSocketClass } from "../helpers/test-clients.ts";
import { rawClient } from "../helpers/raw-socket.ts";
import { Rng } from "./rng.ts";
import { jsonLog } from "./_log.ts";

export interface ClientsConfig {
  log: string;
  seed: number;
  nodes: Array<{ id: string; url: string; port: number }>;
  natsRooms: string[];
  redisRooms: string[];
  clients: number;
  roomsPerClient: number;
  /** Client publishes per second (all clients together). */
  rate: number;
  maxInflight: number;
}

const cfg = JSON.parse(process.argv[2] ?? "{}") as ClientsConfig;
const rng = new Rng(cfg.seed ^ 0x5eed);
const WS = await webSocketClass();

const { rec, close: closeLog } = jsonLog(cfg.log);

/** The checker id of a payload: the payload itself, or its first word for padded (burst) payloads. */
function idOf(data: string | undefined): string | undefined {
  if (data === undefined) return undefined;
  const sp = data.indexOf(" ");
  return data.length > 64 && sp > 0 ? data.slice(0, sp) : data;
}

const KINDS: TransportKind[] = ["ws", "sse", "poll"];

interface Logical {
  i: number;
  name: string;
  kind: TransportKind;
  backplane: "nats" | "redis";
  node: number;
  rooms: string[];
  client: EdgeplaneClient;
  /** Rooms whose first `joined` was recorded as the subscription start. */
  started: Set<string>;
  moves: number;
}

const clients: Logical[] = [];

function makeClient(l: Logical, resume: Map<string, number | undefined>): void {
  const base = cfg.nodes[l.node].url + (l.backplane === "redis" ? "/r" : "");
  const c = new EdgeplaneClient({
    url: base,
    transports: [l.kind],
    WebSocket: WS,
    backoff: { initialMs: 100, maxMs: 1000 },
    pollWaitMs: 5000,
    connectTimeoutMs: 4000,
  });
  l.client = c;
  c.on("message", (m) => {
    rec({ ev: "deliver", sub: l.name, room: m.room, seq: m.seq, epoch: m.epoch, id: idOf(m.data) ?? m.id, eid: m.id, ts: m.ts, t: Date.now(), via: `${l.kind}@${cfg.nodes[l.node].id}` });
  });
  c.on("discontinuity", (d) => rec({ ev: "disc", sub: l.name, room: d.room, afterSeq: d.afterSeq, nextSeq: d.nextSeq, reason: d.reason, t: Date.now() }));
  for (const room of l.rooms) {
    const lastSeq = resume.get(room);
    c.join(room, lastSeq === undefined ? {} : { lastSeq }).then(
      () => {
        if (!l.started.has(room)) {
          l.started.add(room);
          rec({ ev: "sub", sub: l.name, room, t: Date.now() });
        }
      },
      (err) => rec({ ev: "note", sub: l.name, what: `join ${room} failed: ${err}`, t: Date.now() }),
    );
  }
}

for (let i = 0; i < cfg.clients; i++) {
  const backplane = i % 4 === 3 ? "redis" : "nats";
  const pool = backplane === "redis" ? cfg.redisRooms : cfg.natsRooms;
  const rooms = rng.sample(pool, Math.min(cfg.roomsPerClient, pool.length));
  const l: Logical = { i, name: `C:${i}`, kind: KINDS[i % 3], backplane, node: i % cfg.nodes.length, rooms, client: undefined!, started: new Set(), moves: 0 };
  clients.push(l);
  makeClient(l, new Map());
}

// ---- client publishes ----
let publishing = false;
let k = 0;
let inflight = 0;
let skipped = 0;
const pubTimer = setInterval(() => {
  if (!publishing) return;
  const n = Math.max(1, Math.round(cfg.rate / 10));
  for (let j = 0; j < n; j++) {
    if (inflight >= cfg.maxInflight) {
      skipped++;
      continue;
    }
    const l = clients[k % clients.length];
    const room = l.rooms[(k >> 3) % l.rooms.length];
    const id = `c${l.i}-${k++}`;
    inflight++;
    const client = l.client;
    rec({ ev: "pub", node: l.name, room, id, t: Date.now() });
    const timer = setTimeout(() => client.dropConnection(), 15_000); // a publish stuck on a dead link: reconnect (same id is re-sent)
    client.publish(room, id).then(
      (a) => rec({ ev: "ack", node: l.name, room, id, seq: a.seq, ts: a.ts, t: Date.now() }),
      (err) => rec({ ev: "pubfail", node: l.name, room, id, code: String(err?.code ?? err).slice(0, 80), t: Date.now() }),
    ).finally(() => {
      clearTimeout(timer);
      inflight--;
    });
  }
}, 100);

// ---- faults on the client side ----
function move(i: number, node: number): void {
  const l = clients[i % clients.length];
  const resume = new Map<string, number | undefined>();
  for (const room of l.rooms) resume.set(room, l.client.lastSeq(room));
  l.client.close();
  l.node = node % cfg.nodes.length;
  l.moves++;
  makeClient(l, resume);
}

const HOSTILE = ["", "x".repeat(300), "a\u0000b", "bad\u0007bell", "\ud800lone", "~edgeplane:presence", "a.b.>", "*", ">", "$SYS.REQ.SERVER.PING", "room with spaces ü 🎉"];
let hostileRounds = 0;
async function hostile(node: number): Promise<void> {
  // Join/publish hostile room names through a real client: invalid names must be refused with an error frame,
  // valid-but-nasty names must just work (they are separate rooms); nothing may disturb the checked rooms.
  const c = new EdgeplaneClient({ url: cfg.nodes[node % cfg.nodes.length].url, transports: ["ws"], WebSocket: WS, connectTimeoutMs: 4000 });
  const results: Record<string, string> = {};
  const round = ++hostileRounds;
  await Promise.all(HOSTILE.map(async (room, i) => {
    // A unique payload: some of these rooms are checked rooms, where the payload is the checker's message id.
    const r = await Promise.race([
      Promise.all([c.join(room), c.publish(room, `hostile${round}-${i}`)]).then(() => "ok", (e) => String(e?.code ?? e)),
      new Promise<string>((r) => setTimeout(() => r("timeout"), 8000)),
    ]);
    results[JSON.stringify(room).slice(0, 24)] = r;
  }));
  c.close();
  rec({ ev: "note", node: "clients", what: "hostile rooms", results, t: Date.now() });
}

const slow: Array<{ destroy(): void }> = [];
async function slowClient(node: number, room: string, ms: number): Promise<void> {
  try {
    const raw = await rawClient(cfg.nodes[node % cfg.nodes.length].port, "ws", room);
    raw.stall();
    slow.push(raw);
    setTimeout(() => {
      const closeCode = raw.text().includes("\x88\x02\x0f\xa8") ? 4008 : undefined; // ws close frame with code 4008
      rec({ ev: "note", node: "clients", what: "slow-client", on: cfg.nodes[node % cfg.nodes.length].id, room, closedByServer: raw.closed(), closeCode, received: raw.text().length, t: Date.now() });
      raw.destroy();
    }, ms);
  } catch (err) {
    rec({ ev: "note", node: "clients", what: `slow client failed: ${err}`, t: Date.now() });
  }
}

const memTimer = setInterval(() => rec({ ev: "mem", node: "clients", rss: process.memoryUsage().rss, t: Date.now() }), 1000);

function exit(): void {
  publishing = false;
  clearInterval(pubTimer);
  clearInterval(memTimer);
  const stats = clients.map((l) => ({ name: l.name, kind: l.kind, node: l.node, moves: l.moves, stats: l.client.stats }));
  rec({ ev: "note", node: "clients", what: "stats", skipped, stats, t: Date.now() });
  for (const l of clients) l.client.close();
  for (const s of slow) s.destroy();
  closeLog();
  process.stdout.write("CHAOS-CLIENTS-EXIT\n");
  setTimeout(() => process.exit(0), 50);
}

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  let c: { cmd?: string; on?: boolean; client?: number; node?: number; room?: string; ms?: number };
  try {
    c = JSON.parse(line);
  } catch {
    return;
  }
  switch (c.cmd) {
    case "publish":
      publishing = !!c.on;
      break;
    case "move":
      move(c.client ?? 0, c.node ?? 0);
      break;
    case "slow":
      void slowClient(c.node ?? 0, c.room ?? cfg.natsRooms[0], c.ms ?? 5000);
      break;
    case "hostile":
      void hostile(c.node ?? 0);
      break;
    case "exit":
      exit();
      break;
  }
});
rl.on("close", exit);

// Ready once every client has joined every room.
const deadline = Date.now() + 60_000;
while (clients.some((l) => l.started.size < l.rooms.length) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
process.stdout.write(`CHAOS-CLIENTS-READY ${clients.filter((l) => l.started.size === l.rooms.length).length}/${clients.length}\n`);
