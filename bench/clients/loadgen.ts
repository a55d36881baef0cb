// Load generator: a separate process holding every benchmark client (receivers + one publisher connection).
// Config: JSON in argv[2]. Output: JSON lines on stdout ({type:"ready"|"progress"|"result"|"error"}).
//
// Modes
//   throughput  publish as fast as the slowest delivery allows: at most `window` messages per member in flight
//               (expected deliveries − received); deliveries/s counted at the clients after a warm-up.
//   rate        publish `rate` msgs/s (round robin over the rooms); latency of every delivery.
//   external    no publisher here (another process publishes stamped payloads); latency of every delivery.
//   idle        connect + join, then hold until killed (memory per connection).
import { Histogram, monoMs, stampedPayload, stampOf, summary } from "../lib/stats.ts";
import { type MiniWs, openWs } from "../lib/wsclient.ts";

export type Dialect = "raw" | "edgeplane" | "socketio";

export interface LoadConfig {
  dialect: Dialect;
  /** Receiver URLs; clients are spread round robin over them. */
  targets: string[];
  /** Publisher URL (default targets[0]). */
  pubTarget?: string;
  clients: number;
  rooms: number;
  payloadBytes: number;
  mode: "throughput" | "rate" | "external" | "idle";
  warmupMs: number;
  durationMs: number;
  /** Messages in flight per member (throughput mode). */
  window?: number;
  /** Messages per second (rate mode). */
  rate?: number;
  connectConcurrency?: number;
  /** Room names (default r0, r1, …). */
  roomNames?: string[];
}

const cfg = JSON.parse(process.argv[2]) as LoadConfig;
const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + "\n");

const CH_AT = 0x40, CH_J = 0x6a, CH_BRACE = 0x7b, CH_4 = 0x34, CH_0 = 0x30, CH_2 = 0x32;

const roomName = (j: number) => cfg.roomNames?.[j] ?? `r${j}`;
function roomIdsOf(i: number): number[] {
  if (cfg.rooms <= cfg.clients) return [i % cfg.rooms];
  const rs: number[] = [];
  for (let j = i; j < cfg.rooms; j += cfg.clients) rs.push(j);
  return rs;
}
const roomsOf = (i: number) => roomIdsOf(i).map(roomName);

const members = new Array<number>(cfg.rooms).fill(0);
for (let i = 0; i < cfg.clients; i++) for (const j of roomIdsOf(i)) members[j]++;

function joinFrame(room: string): string {
  switch (cfg.dialect) {
    case "raw":
      return `J${room}`;
    case "edgeplane":
      return `{"t":"join","room":"${room}"}`;
    case "socketio":
      return `42["join","${room}"]`;
  }
}

function pubFrame(room: string, payload: string): string {
  switch (cfg.dialect) {
    case "raw":
      return `P${room}|${payload}`;
    case "edgeplane":
      return `{"t":"pub","room":"${room}","data":"${payload}"}`;
    case "socketio":
      return `42["pub","${room}","${payload}"]`;
  }
}

function urlFor(base: string): string {
  if (cfg.dialect !== "socketio") return base;
  const u = new URL(base);
  u.pathname = "/socket.io/";
  u.search = "?EIO=4&transport=websocket";
  return u.toString();
}

let received = 0;
let measuring = false;
const hist = new Histogram();
let joinedAcks = 0;
let joinsExpected = 0;
let pumpScheduled = false;
let closedSockets = 0;

/** Classify a message: a delivery, a join ack, or something else. */
function onMessage(ws: MiniWs, st: ClientState, buf: Buffer, s: number, e: number): void {
  const c0 = buf[s];
  switch (cfg.dialect) {
    case "raw":
      if (c0 === CH_AT) return delivery(buf, s, e);
      if (c0 === CH_J) joinedAcks++;
      return;
    case "edgeplane":
      // {"t":"msg"…  /  {"t":"joined"…
      if (c0 === CH_BRACE && buf[s + 6] === 0x6d /* m */ && buf[s + 7] === 0x73 /* s */) return delivery(buf, s, e);
      if (c0 === CH_BRACE && buf[s + 6] === CH_J && buf[s + 7] === 0x6f /* o */) joinedAcks++;
      return;
    case "socketio":
      if (c0 === CH_4 && buf[s + 1] === CH_2) {
        // 42["m",… or 42["joined",…
        if (buf[s + 4] === 0x6d && buf[s + 5] === 0x22) return delivery(buf, s, e);
        if (buf[s + 4] === CH_J) joinedAcks++;
        return;
      }
      if (c0 === CH_2 && e - s === 1) return void ws.send("3"); // engine.io ping → pong
      if (c0 === CH_0 && !st.sioOpen) {
        st.sioOpen = true;
        ws.send("40");
        return;
      }
      if (c0 === CH_4 && buf[s + 1] === CH_0 && !st.sioConnected) {
        st.sioConnected = true;
        st.onConnected?.();
      }
      return;
  }
}

function delivery(buf: Buffer, s: number, e: number): void {
  received++;
  if (measuring && cfg.mode !== "throughput") {
    const t = stampOf(buf, s, e);
    if (Number.isFinite(t)) hist.record(monoMs() - t);
  } else if (measuring && (received & 15) === 0) {
    const t = stampOf(buf, s, e);
    if (Number.isFinite(t)) hist.record(monoMs() - t);
  }
  if (!pumpScheduled && pump) {
    pumpScheduled = true;
    setImmediate(() => {
      pumpScheduled = false;
      pump?.();
    });
  }
}

interface ClientState {
  sioOpen: boolean;
  sioConnected: boolean;
  onConnected?: () => void;
}

async function openClient(url: string, rooms: string[]): Promise<MiniWs> {
  const st: ClientState = { sioOpen: false, sioConnected: false };
  const connected = cfg.dialect === "socketio" ? new Promise<void>((r) => (st.onConnected = r)) : Promise.resolve();
  const ws = await openWs(urlFor(url), {
    onMessage: (buf, s, e, sock) => onMessage(sock, st, buf, s, e),
    onClose: () => closedSockets++,
  });
  await connected;
  if (rooms.length > 0) {
    joinsExpected += rooms.length;
    ws.sendMany(rooms.map(joinFrame));
  }
  return ws;
}

let pump: (() => void) | undefined;

async function main(): Promise<void> {
  const conc = cfg.connectConcurrency ?? 100;
  const sockets: MiniWs[] = [];
  const t0 = Date.now();
  for (let i = 0; i < cfg.clients; i += conc) {
    const batch: Promise<MiniWs>[] = [];
    for (let j = i; j < Math.min(cfg.clients, i + conc); j++) batch.push(openClient(cfg.targets[j % cfg.targets.length], roomsOf(j)));
    sockets.push(...await Promise.all(batch));
    if ((i / conc) % 10 === 0) out({ type: "progress", phase: "connect", done: sockets.length, of: cfg.clients });
  }
  const deadline = Date.now() + 60_000;
  while (joinedAcks < joinsExpected) {
    if (Date.now() > deadline) throw new Error(`only ${joinedAcks}/${joinsExpected} joins acknowledged`);
    await new Promise((r) => setTimeout(r, 20));
  }
  out({ type: "ready", connectMs: Date.now() - t0, clients: sockets.length });
  if (cfg.mode === "idle") return; // hold until killed
  if (cfg.mode === "external") {
    measuring = false;
    await sleep(cfg.warmupMs);
    const r0 = received;
    measuring = true;
    const start = monoMs();
    await progressLoop(cfg.durationMs, () => received - r0);
    measuring = false;
    finish(received - r0, 0, monoMs() - start, 0);
    return;
  }

  const publisher = await openClient(cfg.pubTarget ?? cfg.targets[0], []);
  let published = 0;
  let expected = 0;
  let stalls = 0;
  let lost = 0;
  let k = 0;
  const payload = () => stampedPayload(cfg.payloadBytes);
  const publishOne = (batch: string[]) => {
    const room = k++ % cfg.rooms;
    batch.push(pubFrame(roomName(room), payload()));
    expected += members[room];
    published++;
  };

  if (cfg.mode === "throughput") {
    const avgMembers = members.reduce((a, b) => a + b, 0) / cfg.rooms;
    // at least 4 deliveries per client in flight, so many small rooms are not bound by one round trip
    const windowDeliveries = Math.max(1, (cfg.window ?? 32) * avgMembers, 4 * cfg.clients);
    let lastProgressAt = Date.now();
    let lastReceived = 0;
    pump = () => {
      if (received !== lastReceived) {
        lastReceived = received;
        lastProgressAt = Date.now();
      }
      const batch: string[] = [];
      while (expected - received < windowDeliveries && batch.length < 256) publishOne(batch);
      if (batch.length) publisher.sendMany(batch);
    };
    const stallTimer = setInterval(() => {
      if (received !== lastReceived) {
        lastReceived = received;
        lastProgressAt = Date.now();
      } else if (Date.now() - lastProgressAt > 1000 && expected > received) {
        stalls++;
        lost += expected - received;
        expected = received; // forget what never arrived (dropped) so the window opens again
        lastProgressAt = Date.now();
        pump?.();
      }
    }, 100);
    pump();
    await sleep(cfg.warmupMs);
    const r0 = received, p0 = published, l0 = lost;
    measuring = true;
    const start = monoMs();
    await progressLoop(cfg.durationMs, () => received - r0);
    const ms = monoMs() - start;
    measuring = false;
    const r1 = received, p1 = published;
    pump = undefined;
    clearInterval(stallTimer);
    finish(r1 - r0, p1 - p0, ms, lost - l0, stalls);
  } else {
    // rate mode
    const startAll = monoMs();
    let sentByTimer = 0;
    const timer = setInterval(() => {
      const due = Math.floor(((monoMs() - startAll) / 1000) * (cfg.rate ?? 1000)) - sentByTimer;
      if (due <= 0) return;
      const batch: string[] = [];
      for (let i = 0; i < Math.min(due, 1000); i++) publishOne(batch);
      sentByTimer += due;
      publisher.sendMany(batch);
    }, 1);
    await sleep(cfg.warmupMs);
    const r0 = received, p0 = published;
    measuring = true;
    const start = monoMs();
    await progressLoop(cfg.durationMs, () => received - r0);
    const ms = monoMs() - start;
    measuring = false;
    clearInterval(timer);
    const r1 = received, p1 = published;
    await sleep(200);
    finish(r1 - r0, p1 - p0, ms, 0);
  }
  for (const s of sockets) s.close();
  publisher.close();
}

async function progressLoop(durationMs: number, count: () => number): Promise<void> {
  const start = monoMs();
  while (monoMs() - start < durationMs) {
    await sleep(Math.min(500, Math.max(1, durationMs - (monoMs() - start))));
    const el = monoMs() - start;
    out({ type: "progress", phase: "measure", elapsedMs: Math.round(el), of: durationMs, rate: count() / (el / 1000) });
  }
}

function finish(deliveries: number, publishes: number, ms: number, lost: number, stalls = 0): void {
  out({
    type: "result",
    deliveries,
    publishes,
    ms,
    deliveriesPerSec: deliveries / (ms / 1000),
    publishesPerSec: publishes / (ms / 1000),
    lost,
    stalls,
    closedSockets,
    latency: summary(hist),
  });
  setTimeout(() => process.exit(0), 50);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

main().catch((err) => {
  out({ type: "error", message: String(err?.stack ?? err) });
  setTimeout(() => process.exit(1), 50);
});
