// One node of the NATS benchmarks (scenarios 3 and 4), as its own process. Config: JSON in argv[2].
//   mode "edgeplane": a NatsExchange; subscribes to every room; publishes round robin over the rooms with at most
//                     `window` publishes awaiting their seq (sequenced publish: owner elsewhere for ⅔ of them).
//   mode "raw":       plain nats.js; one subscription per room subject; publishes round robin, `nc.flush()` every
//                     `window` messages (the usual raw-NATS flow control).
//   latency: `publishRate` > 0 → publish stamped payloads at that rate instead of as fast as possible; every process
//            records publish→delivery latency (CLOCK_MONOTONIC, shared across processes).
// Waits for a message on `<prefix>.go` before publishing; prints JSON lines {type:"ready"|"result"|"error"}.
import type { NatsConnection } from "nats";
import { connectNats } from "../../src/exchange/nats/connect.ts";
import { Histogram, monoMs, stampOf, summary } from "../lib/stats.ts";

interface NodeConfig {
  mode: "edgeplane" | "raw";
  url: string;
  nodeId: string;
  prefix: string;
  rooms: number;
  payloadBytes: number;
  warmupMs: number;
  durationMs: number;
  window: number;
  publish: boolean;
  publishRate?: number;
  /** NatsExchange heartbeat interval (default: the exchange's default, 1000 ms). */
  heartbeatMs?: number;
  /** Keep the publishing nodes' shares equal (default true). */
  fairShare?: boolean;
}

const cfg = JSON.parse(process.argv[2]) as NodeConfig;
const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + "\n");
const roomName = (i: number) => `r${i}`;
const enc = new TextEncoder();
const stamp = () => {
  const head = `@@${process.hrtime.bigint()}|`;
  return head + "x".repeat(Math.max(0, cfg.payloadBytes - head.length));
};

let delivered = 0;
/** Set while the publisher waits for the other nodes to catch up (fair share): called on their deliveries. */
let held: (() => void) | undefined;
/** Deliveries per publishing node (edgeplane mode), to keep every node's share equal. */
const byOrigin = new Map<string, number>();
let measuring = false;
const hist = new Histogram();
function onDelivery(payload: string | Uint8Array): void {
  delivered++;
  if (measuring && cfg.publishRate) {
    const b = typeof payload === "string" ? enc.encode(payload.slice(0, 40)) : payload;
    const t = stampOf(b, 0, Math.min(b.length, 40));
    if (Number.isFinite(t)) hist.record(monoMs() - t);
  }
}

async function main(): Promise<void> {
  // The settings users get from connectNats() (no stack trace per request), for the raw baseline and the exchange alike
  // (bench/servers/edgeplane.ts and bench/nats-sequenced.ts connect the same way).
  const nc: NatsConnection = await connectNats({ servers: cfg.url, name: cfg.nodeId });
  let publishOne: (room: string, payload: string) => Promise<unknown> | void;
  let close: () => Promise<void>;
  let ownerOf: (room: string) => string | undefined = () => undefined;
  let counters: () => unknown = () => undefined;
  if (cfg.mode === "edgeplane") {
    const { NatsExchange } = await import("../../src/exchange/nats/nats-exchange.ts");
    const ex = new NatsExchange(nc as never, { nodeId: cfg.nodeId, prefix: cfg.prefix, heartbeatMs: cfg.heartbeatMs });
    await ex.ready();
    for (let i = 0; i < cfg.rooms; i++) {
      ex.subscribe(roomName(i), (m) => {
        byOrigin.set(m.origin, (byOrigin.get(m.origin) ?? 0) + 1);
        onDelivery(m.payload);
        if (held && m.origin !== cfg.nodeId) held();
      });
    }
    publishOne = (room, payload) => ex.publish(room, payload);
    ownerOf = (room) => ex.ownerOf(room);
    counters = () => ex.status().counters;
    close = () => ex.close();
  } else {
    for (let i = 0; i < cfg.rooms; i++) {
      nc.subscribe(`${cfg.prefix}.raw.${roomName(i)}`, { callback: (_e, m) => onDelivery(m.data) });
    }
    await nc.flush();
    publishOne = (room, payload) => nc.publish(`${cfg.prefix}.raw.${room}`, payload);
    close = async () => {};
  }
  const go = new Promise<void>((resolve) => nc.subscribe(`${cfg.prefix}.go`, { max: 1, callback: () => resolve() }));
  await nc.flush();
  out({ type: "ready" });
  await go;
  let owned = 0;
  for (let i = 0; i < Math.min(cfg.rooms, 1000); i++) if (ownerOf(roomName(i)) === cfg.nodeId) owned++;

  let running = true;
  let firstError = "";
  const errorsSeen: Record<string, number> = {};
  let published = 0;
  let failed = 0;
  let k = 0;
  const next = () => roomName(k++ % cfg.rooms);
  const loops: Promise<void>[] = [];
  if (cfg.publish && cfg.publishRate) {
    loops.push((async () => {
      const t0 = monoMs();
      let sent = 0;
      while (running) {
        const due = Math.floor(((monoMs() - t0) / 1000) * cfg.publishRate!) - sent;
        for (let i = 0; i < due; i++) {
          sent++;
          const p = publishOne(next(), stamp());
          if (p) p.then(() => published++, () => failed++);
          else published++;
        }
        await new Promise((r) => setTimeout(r, 1));
      }
    })());
  } else if (cfg.publish && cfg.mode === "edgeplane") {
    let inflight = 0;
    let done!: () => void;
    loops.push(new Promise<void>((r) => (done = r)));
    // Refill from a macrotask: an owner's own publishes can settle without I/O, and refilling from their
    // microtasks would starve timers and sockets.
    let scheduled = false;
    const later = () => {
      if (scheduled) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        pump();
      });
    };
    // Equal shares: a node publishes only while it is not ahead of the slowest other node by more than a window.
    // Without this the owner's own publishes (sequenced locally, no round trip) crowd out the other nodes' requests,
    // and the owner would no longer be "elsewhere for ⅔ of the publishes".
    const mine = () => byOrigin.get(cfg.nodeId) ?? 0;
    const slowestOther = () => {
      let min = Infinity;
      for (const [o, n] of byOrigin) if (o !== cfg.nodeId) min = Math.min(min, n);
      return byOrigin.size < 3 ? 0 : min;
    };
    const ahead = () => cfg.fairShare !== false && mine() - slowestOther() > cfg.window;
    const pump = () => {
      if (running && ahead()) {
        // Woken by the next delivery from another node that brings us back within a window (no polling timer: a
        // 1 ms poll per wait cost up to half the throughput of the 1,000-room case).
        held = () => {
          if (running && ahead()) return;
          held = undefined;
          later();
        };
        return;
      }
      while (running && inflight < cfg.window) {
        inflight++;
        (publishOne(next(), stamp()) as Promise<unknown>).then(
          () => {
            published++;
            inflight--;
            later();
          },
          (err: unknown) => {
            failed++;
            const code = (err as { code?: string })?.code ?? "";
            errorsSeen[code] = (errorsSeen[code] ?? 0) + 1;
            if (!firstError) firstError = `${code} ${(err as Error)?.message ?? String(err)}`.trim();
            inflight--;
            later();
          },
        );
      }
      if (!running && inflight === 0) done();
    };
    pump();
  } else if (cfg.publish) {
    loops.push((async () => {
      while (running) {
        for (let i = 0; i < cfg.window; i++) publishOne(next(), stamp());
        published += cfg.window;
        await nc.flush();
      }
    })());
  }
  await sleep(cfg.warmupMs);
  const d0 = delivered, p0 = published;
  measuring = true;
  const t0 = monoMs();
  await sleep(cfg.durationMs);
  const ms = monoMs() - t0;
  measuring = false;
  const d1 = delivered, p1 = published;
  running = false;
  held?.();
  await Promise.race([Promise.all(loops), sleep(3000)]);
  out({
    type: "result",
    node: cfg.nodeId,
    ownedOfFirst1000: owned,
    deliveriesPerSec: (d1 - d0) / (ms / 1000),
    publishesPerSec: (p1 - p0) / (ms / 1000),
    failed,
    errors: errorsSeen,
    firstError,
    latency: summary(hist),
    ...(process.env.BENCH_COUNTERS ? { counters: counters() } : {}),
  });
  // no graceful drain: the measurement is over, and a drain would only add seconds to every run
  void close;
  setTimeout(() => process.exit(0), 50);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// The harness stops us with SIGTERM once our result is in: exit normally so that --cpu-prof writes its profile.
process.on("SIGTERM", () => process.exit(0));

main().catch((err) => {
  out({ type: "error", message: `${err?.name ?? ""} ${err?.code ?? ""} ${err?.message ?? ""} ${err?.stack ?? ""} ${String(err)}`.trim() });
  setTimeout(() => process.exit(1), 50);
});
