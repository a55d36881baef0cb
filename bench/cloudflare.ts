// Delivery throughput through workerd (examples/cloudflare/worker.ts with the README's wrangler config) against the
// Node adapter (bench/servers/edgeplane.ts) in the same run, on the same machine, with the same load client:
//
//   node-memory    Node adapter, memory exchange            (the in-run baseline for the Durable Object exchange)
//   workerd-do     Worker → 2 hub objects, Durable Object exchange (room object, history in storage on disk)
//   node-nats      Node adapter, NATS exchange (TCP)         (the in-run baseline for the NATS hub)
//   workerd-nats   Worker → 2 hub objects, NatsExchange over connectNatsWebSocket, same nats-server
//
// Per target and round: `subs` raw WebSocket subscribers in one room, one raw publisher keeping `window` publishes
// unacknowledged; the figure is deliveries/s from the first publish to the last delivery on every subscriber.
// Run: `flock -x /work/locks/heavy.lock npx tsx bench/cloudflare.ts [--subs=50] [--messages=2000] [--rounds=3]`.
// A script, not a test: no assertion on the numbers; ratios are against the in-run baselines only.
import { join } from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { freePort } from "../tests/helpers/process.ts";
import { startNatsServer } from "../tests/helpers/nats-server.ts";
import { bundle, readmeWranglerConfig, startWorkerd } from "../tests/helpers/workerd.ts";
import { type Server, startServer, stopAll } from "./lib/harness.ts";
import { median } from "./lib/stats.ts";
import { type MiniWs, openWs } from "./lib/wsclient.ts";

const arg = (name: string, def: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? def);
const SUBS = arg("subs", 50);
const MESSAGES = arg("messages", 2000);
const ROUNDS = arg("rounds", 3);
const WINDOW = arg("window", 100);
const SIZE = arg("size", 100);

interface RoundResult {
  deliveriesPerSec: number;
  publishesPerSec: number;
  ms: number;
}

const text = (buf: Buffer, s: number, e: number) => buf.toString("utf8", s, e);

/** Open a raw ws, wait for its welcome, join `room`, resolve once joined. */
async function joined(wsUrl: string, room: string, onMsg: (t: string) => void): Promise<MiniWs> {
  let ready!: () => void;
  const isJoined = new Promise<void>((r) => (ready = r));
  const ws = await openWs(wsUrl, {
    onMessage(buf, s, e) {
      const t = text(buf, s, e);
      if (t.startsWith('{"t":"joined"')) ready();
      else onMsg(t);
    },
  });
  ws.send(JSON.stringify({ t: "join", room }));
  await isJoined;
  return ws;
}

async function round(wsUrl: string, room: string): Promise<RoundResult> {
  let delivered = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  const total = SUBS * MESSAGES;
  const subs: MiniWs[] = [];
  for (let i = 0; i < SUBS; i++) {
    subs.push(await joined(wsUrl, room, (t) => {
      if (t.startsWith('{"t":"msg"') && ++delivered === total) done();
    }));
  }
  let acked = 0, sent = 0;
  let pubDone!: () => void;
  const allAcked = new Promise<void>((r) => (pubDone = r));
  const body = "x".repeat(SIZE);
  let t0 = 0;
  let tAcked = 0;
  const pub = await openWs(wsUrl, {
    onMessage(buf, s, e) {
      if (!text(buf, s, Math.min(e, s + 12)).startsWith('{"t":"ack"')) return;
      if (++acked === MESSAGES) {
        tAcked = performance.now();
        pubDone();
      }
      if (sent < MESSAGES) pub.send(JSON.stringify({ t: "pub", room, data: body, ref: String(sent++) }));
    },
  });
  await new Promise((r) => setTimeout(r, 100)); // the welcome frame is in
  t0 = performance.now();
  const first: string[] = [];
  while (sent < Math.min(WINDOW, MESSAGES)) first.push(JSON.stringify({ t: "pub", room, data: body, ref: String(sent++) }));
  pub.sendMany(first);
  const timeout = setTimeout(() => {
    console.error(`  round timed out: delivered ${delivered}/${total}, acked ${acked}/${MESSAGES}`);
    done();
    pubDone();
  }, 120_000);
  await Promise.all([all, allAcked]);
  clearTimeout(timeout);
  const ms = performance.now() - t0;
  for (const s of [...subs, pub]) s.close();
  return { deliveriesPerSec: (delivered / ms) * 1000, publishesPerSec: (acked / (tAcked - t0)) * 1000, ms };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "edgeplane-cf-bench-"));
  const wsPort = await freePort();
  const nats = await startNatsServer({ websocketPort: wsPort });
  await bundle("examples/cloudflare/worker.ts", join(dir, "app.js"));
  const config = readmeWranglerConfig();
  const wd = await startWorkerd([
    { name: "do", module: join(dir, "app.js"), config, storage: { dir: join(dir, "storage") } },
    { name: "nats", module: join(dir, "app.js"), config, vars: { NATS_WS_URL: `ws://127.0.0.1:${wsPort}`, NODE_PREFIX: "edge" }, storage: "memory" },
  ], join(dir, "workerd"));
  const nodeMem: Server = await startServer("node", "edgeplane", { BENCH_EXCHANGE: "memory" });
  const nodeNats: Server = await startServer("node", "edgeplane", { BENCH_EXCHANGE: "nats", BENCH_NATS_URL: nats.url, BENCH_NODE_ID: "bench-node", BENCH_PREFIX: "bench" });
  const targets: Array<[string, string]> = [
    ["node-memory", nodeMem.ws],
    ["workerd-do", `${wd.urls.do.replace("http", "ws")}/ws`],
    ["node-nats", nodeNats.ws],
    ["workerd-nats", `${wd.urls.nats.replace("http", "ws")}/ws`],
  ];
  console.log(`subs=${SUBS} messages=${MESSAGES} window=${WINDOW} size=${SIZE}B rounds=${ROUNDS} (${SUBS * MESSAGES} deliveries per round)`);
  const results = new Map<string, RoundResult[]>(targets.map(([n]) => [n, []]));
  try {
    // Warm-up (objects started, JIT warm), then rounds interleaved across targets so drift hits all alike.
    for (const [name, url] of targets) await round(url, `warm-${name}`);
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, url] of targets) {
        const res = await round(url, `r${r}-${name}`);
        results.get(name)!.push(res);
        console.log(`  round ${r + 1} ${name.padEnd(13)} ${Math.round(res.deliveriesPerSec).toLocaleString("en-US").padStart(10)} deliveries/s  ${Math.round(res.publishesPerSec).toLocaleString("en-US").padStart(8)} acks/s`);
      }
    }
  } finally {
    await wd.cleanup();
    await stopAll();
    await nats.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
  const med = (n: string, k: keyof RoundResult) => median(results.get(n)!.map((x) => x[k]));
  console.log("\nmedian of rounds        deliveries/s   acks/s   vs baseline (deliveries)");
  for (const [name] of targets) {
    const base = name.endsWith("nats") ? "node-nats" : "node-memory";
    const ratio = med(name, "deliveriesPerSec") / med(base, "deliveriesPerSec");
    console.log(
      `${name.padEnd(20)} ${Math.round(med(name, "deliveriesPerSec")).toLocaleString("en-US").padStart(14)} ${
        Math.round(med(name, "publishesPerSec")).toLocaleString("en-US").padStart(8)
      }   ${name === base ? "(baseline)" : `${ratio.toFixed(2)}× ${base}`}`,
    );
  }
}

await main();
