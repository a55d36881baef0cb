// The six benchmark scenarios of issue 9. Each one measures edgeplane and its baseline in the same run, with the
// clients in a separate process (bench/clients/*), and returns result rows (bench/lib/report.ts).
import { connect } from "nats";
import { startNatsServer } from "../tests/helpers/nats-server.ts";
import { startRedis } from "../tests/helpers/redis-server.ts";
import type { LoadConfig } from "./clients/loadgen.ts";
import { getJson, type LoadResult, profiled, progress, progressDone, ROOT, runLoad, stopTree, track, type Runtime, type Server, sleep, spawnTracked, startServer } from "./lib/harness.ts";
import { judge, type Row } from "./lib/report.ts";
import { median } from "./lib/stats.ts";
import { join } from "node:path";

export interface Opts {
  quick: boolean;
  runtimes: Runtime[];
  /** Extra node flags for edgeplane servers on Node (e.g. --cpu-prof). */
  nodeArgs: string[];
}

const PAYLOAD = 100;

/** Problems that did not cost a scenario its own figures (reported in the result file and the summary). */
export const warnings: string[] = [];

/** Quick mode shortens the NATS exchange heartbeat (default 1 s) so membership settles in ~1 s instead of ~3.5 s. */
const quickBeat = (o: Opts): Record<string, string> => (o.quick ? { BENCH_HEARTBEAT_MS: "250" } : {});
const settleMs = (o: Opts) => (o.quick ? 1000 : 3500);

function rawUrl(s: Server): string {
  return `ws://127.0.0.1:${s.port}/`;
}

async function throughput(kind: "raw" | "edgeplane", rt: Runtime, o: Opts, base: Partial<LoadConfig>, label: string, env: Record<string, string> = {}): Promise<LoadResult> {
  const s = await startServer(rt, kind, env, kind === "edgeplane" ? o.nodeArgs : []);
  try {
    const load = runLoad({
      dialect: kind,
      targets: [kind === "raw" ? rawUrl(s) : s.ws],
      clients: 1000,
      rooms: 1,
      payloadBytes: PAYLOAD,
      mode: "throughput",
      warmupMs: o.quick ? 200 : 1500,
      durationMs: o.quick ? 600 : 5000,
      window: 32,
      ...base,
    } as LoadConfig, label);
    return await load.result;
  } finally {
    await s.stop();
  }
}

// ---------------------------------------------------------------- 1. local fanout
export async function fanoutScenario(o: Opts): Promise<Row[]> {
  const rows: Row[] = [];
  const clients = o.quick ? 50 : 1000;
  const rounds = o.quick ? 1 : 2;
  for (const rt of o.runtimes) {
    // Node has two baselines: `ws` batched + corked, and the hand-tuned frame-once loop (same bytes to every socket).
    const kinds: Array<"raw" | "frame-once" | "edgeplane"> = rt === "node" ? ["raw", "frame-once", "edgeplane"] : ["raw", "edgeplane"];
    const runs: Record<string, number[]> = { raw: [], "frame-once": [], edgeplane: [] };
    const p99: Record<string, number> = {};
    for (let i = 0; i < rounds; i++) {
      // alternate the order (A B, B A) so drift on a shared machine does not favour one side
      const order = i % 2 === 0 ? kinds : [...kinds].reverse();
      for (const kind of order) {
        const server = kind === "edgeplane" ? "edgeplane" : "raw";
        const env: Record<string, string> = kind === "frame-once" ? { BENCH_RAW_MODE: "frame-once" } : {};
        const r = await throughput(server, rt, o, { clients }, `1 fanout ${rt} ${kind} (${i + 1}/${rounds})`, env);
        runs[kind].push(r.deliveriesPerSec);
        p99[kind] = r.latency.p99;
        progressDone(`1 fanout ${rt} ${kind}: ${Math.round(r.deliveriesPerSec)} deliveries/s (lost ${r.lost})`);
      }
    }
    const v = median(runs.edgeplane);
    const baselines: Array<["raw" | "frame-once", string]> = rt === "node"
      ? [["raw", "ws, batched+corked"], ["frame-once", "ws, frame once, same bytes to every socket"]]
      : [["raw", rt === "deno" ? "Deno.upgradeWebSocket, batched" : "Bun.serve ws, batched+corked"]];
    const note = `runs: edgeplane ${runs.edgeplane.map(Math.round).join(", ")}; ` +
      baselines.map(([k]) => `${k} ${runs[k].map(Math.round).join(", ")}`).join("; ") +
      `; p99 at saturation (window 32 msgs) edgeplane ${p99.edgeplane.toFixed(1)} ms, ` + baselines.map(([k]) => `${k} ${p99[k].toFixed(1)} ms`).join(", ");
    for (const [k, name] of baselines) {
      const b = median(runs[k]);
      rows.push(judge({
        scenario: 1,
        id: k === "raw" ? `fanout-${rt}` : `fanout-${rt}-${k}`,
        title: `fanout 1×${clients} ws, ${rt}${k === "raw" ? "" : " (vs frame-once)"}`,
        value: v,
        baseline: b,
        baselineName: name,
        unit: "deliv/s",
        ratio: v / b,
        target: "≥ 0.8× raw",
        targetValue: 0.8,
        targetOn: "ratio",
        better: "higher",
        headline: true,
        note,
      }));
    }
  }
  return rows;
}

// ---------------------------------------------------------------- 2. memory per idle connection
const MEMORY_V8_FLAGS = ["--max-semi-space-size=1"];

export async function memoryScenario(o: Opts): Promise<Row[]> {
  const rows: Row[] = [];
  const n = o.quick ? 400 : 2000;
  for (const rt of o.runtimes) {
    const per: Record<string, { rss: number; heap: number }> = {};
    for (const kind of ["raw", "edgeplane"] as const) {
      // Both servers with the same small young generation (V8 on Node and Deno): with V8's default the handshake burst
      // grows the young generation by tens of MiB, which is most of "RSS per connection" for either side and says
      // nothing about what a connection keeps (see docs/performance.md, 2026-12-02).
      const s = await startServer(rt, kind, {}, [], rt === "bun" ? [] : MEMORY_V8_FLAGS);
      try {
        const url = kind === "raw" ? rawUrl(s) : s.ws;
        const cfg = (clients: number): LoadConfig => ({ dialect: kind, targets: [url], clients, rooms: 1, payloadBytes: PAYLOAD, mode: "idle", warmupMs: 0, durationMs: 0 });
        // warm the server's code paths with a few connections first, so lazy initialisation is not counted
        const warm = runLoad(cfg(20), `2 memory ${rt} ${kind} warm-up`);
        await warm.ready;
        await warm.stop();
        await sleep(300);
        const before = await getJson<{ rss: number; heapUsed: number }>(`${s.http}/mem`);
        const load = runLoad(cfg(n), `2 memory ${rt} ${kind}`);
        await load.ready;
        await sleep(o.quick ? 200 : 1000);
        const after = await getJson<{ rss: number; heapUsed: number }>(`${s.http}/mem`);
        await load.stop();
        per[kind] = { rss: (after.rss - before.rss) / n, heap: (after.heapUsed - before.heapUsed) / n };
        progressDone(`2 memory ${rt} ${kind}: ${(per[kind].rss / 1024).toFixed(1)} KiB RSS/conn, ${(per[kind].heap / 1024).toFixed(1)} KiB heap/conn`);
      } finally {
        await s.stop();
      }
    }
    const v = per.edgeplane.rss / 1024, b = per.raw.rss / 1024;
    rows.push(judge({
      scenario: 2,
      id: `memory-${rt}`,
      title: `memory / idle ws conn, ${rt}`,
      value: v,
      baseline: b,
      baselineName: `raw ${rt} server`,
      unit: "KiB",
      ratio: v / b,
      target: "≤ 1.5× raw",
      targetValue: 1.5,
      targetOn: "ratio",
      better: "lower",
      headline: true,
      note: `${n} connections joined to one room; RSS delta after GC${rt === "bun" ? "" : ` (both with ${MEMORY_V8_FLAGS.join(" ")})`}; heap/conn edgeplane ${(per.edgeplane.heap / 1024).toFixed(1)} KiB, raw ${(per.raw.heap / 1024).toFixed(1)} KiB`,
    }));
  }
  return rows;
}

// ---------------------------------------------------------------- NATS node processes (3 and 4)
interface NatsNodeResult {
  node: string;
  ownedOfFirst1000: number;
  deliveriesPerSec: number;
  publishesPerSec: number;
  failed: number;
  errors?: Record<string, number>;
  latency: LoadResult["latency"];
}

async function natsNodes(opts: Opts, url: string, prefix: string, n: number, common: Record<string, unknown>, perNode: (i: number) => Record<string, unknown>, label: string): Promise<NatsNodeResult[]> {
  try {
    return await natsNodesOnce(opts, url, prefix, n, common, perNode, label);
  } catch (err) {
    // one retry with fresh processes and a fresh subject prefix: a run on a shared machine can hiccup
    const msg = err instanceof Error ? err.message : String(err);
    warnings.push(`${label}: first attempt failed, retried: ${msg.slice(0, 400)}`);
    process.stderr.write(`  ! ${label}: retrying after: ${msg.slice(0, 300)}\n`);
    return await natsNodesOnce(opts, url, `${prefix}r`, n, common, perNode, label);
  }
}

async function natsNodesOnce(opts: Opts, url: string, prefix: string, n: number, common: Record<string, unknown>, perNode: (i: number) => Record<string, unknown>, label: string): Promise<NatsNodeResult[]> {
  const prof = common.mode === "edgeplane" ? opts.nodeArgs : [];
  const kids = Array.from({ length: n }, (_, i) => {
    const k = spawnTracked("node", [...prof, "--import", "tsx", join(ROOT, "bench", "clients", "nats-node.ts"), JSON.stringify({ url, prefix, nodeId: `n${i}`, ...common, ...perNode(i) })]);
    if (prof.length) profiled.set(k.pid, `nats node n${i} (${label})`);
    return k;
  });
  try {
    await Promise.all(kids.map((k) => k.waitFor(/"type":"ready"/, 60_000)));
    // let membership settle (nodes become eligible owners after 2 heartbeats) before the clock starts
    if (common.mode === "edgeplane") await sleep(3.5 * Number(common.heartbeatMs ?? 1000));
    const nc = await connect({ servers: url });
    nc.publish(`${prefix}.go`);
    await nc.flush();
    await nc.close();
    const total = Number(common.warmupMs) + Number(common.durationMs);
    const t0 = Date.now();
    const tick = setInterval(() => progress(`${label}: ${((Date.now() - t0) / 1000).toFixed(1)}/${(total / 1000).toFixed(1)} s`), 500);
    try {
      const outs = await Promise.all(kids.map(async (k) => {
        const m = await k.waitFor(/\{"type":"(result|error)".*\}/, total + 60_000);
        const o = JSON.parse(m[0]);
        if (o.type === "error") throw new Error(`${label}: ${o.message}`);
        return o as NatsNodeResult;
      }));
      return outs;
    } finally {
      clearInterval(tick);
    }
  } finally {
    await Promise.all(kids.map((k) => k.stop(3000)));
  }
}

// ---------------------------------------------------------------- 3. sequenced publish over NATS
export async function natsSequencedScenario(o: Opts): Promise<Row[]> {
  const rows: Row[] = [];
  const nats = await startNatsServer();
  track(nats.child);
  try {
    const timing = { warmupMs: o.quick ? 300 : 2000, durationMs: o.quick ? 700 : 5000 };
    const cases: Array<{ rooms: number; target: number; name: string }> = [
      { rooms: 1, target: 0.5, name: "1 hot room" },
      { rooms: o.quick ? 100 : 1000, target: 0.8, name: `${o.quick ? 100 : 1000} rooms` },
    ];
    let run = 0;
    for (const c of cases) {
      const res: Record<string, number> = {};
      let owners = "";
      for (const mode of ["raw", "edgeplane"] as const) {
        const label = `3 nats ${c.name} ${mode}`;
        const outs = await natsNodes(o, nats.url, `b${run++}`, 3, { mode, rooms: c.rooms, payloadBytes: PAYLOAD, window: 256, publish: true, ...(o.quick ? { heartbeatMs: 250 } : {}), ...timing }, () => ({}), label);
        // throughput = messages per second through the system, as seen by a subscriber (mean over the 3 nodes)
        res[mode] = outs.reduce((a, x) => a + x.deliveriesPerSec, 0) / outs.length;
        if (mode === "edgeplane") {
          const codes: Record<string, number> = {};
          for (const x of outs) for (const [k, v] of Object.entries(x.errors ?? {})) codes[k || "?"] = (codes[k || "?"] ?? 0) + v;
          owners = outs.map((x) => `${x.node} owns ${x.ownedOfFirst1000}`).join(", ") +
            `; publishes rejected during the run: ${outs.reduce((a, x) => a + x.failed, 0)}${Object.keys(codes).length ? ` (${Object.entries(codes).map(([k, v]) => `${k} ${v}`).join(", ")})` : ""}`;
        }
        progressDone(`${label}: ${Math.round(res[mode])} msg/s`);
      }
      rows.push(judge({
        scenario: 3,
        id: `nats-seq-${c.rooms}`,
        title: `sequenced NATS pub, ${c.name}`,
        value: res.edgeplane,
        baseline: res.raw,
        baselineName: "raw NATS pub/sub",
        unit: "msg/s",
        ratio: res.edgeplane / res.raw,
        target: `≥ ${c.target}× raw`,
        targetValue: c.target,
        targetOn: "ratio",
        better: "higher",
        headline: true,
        note: `3 node processes publishing equal shares (window 256 each), each subscribed to every room, so the owner is elsewhere for ⅔ of publishes; msg/s seen by a subscriber; ${owners}`,
      }));
    }
  } finally {
    await nats.cleanup();
  }
  try {
    // supplementary and slow to start: full runs only
    if (!o.quick) rows.push(...await natsSequencedBreakdown(o));
  } catch (err) {
    // supplementary rows only: keep the scenario's own figures, report the problem as a warning
    const msg = err instanceof Error ? err.message : String(err);
    warnings.push(`scenario 3 breakdown (bench/nats-sequenced.ts): ${msg.slice(0, 600)}`);
    process.stderr.write(`  ! 3 nats-sequenced.ts breakdown: ${msg.slice(0, 300)}\n`);
  }
  return rows;
}

/**
 * The single-process breakdown of bench/nats-sequenced.ts (publisher owns the room vs goes through the owner, mixed
 * publishers over 1,000 rooms), run as a child with a time bound and parsed into informational rows.
 */
async function natsSequencedBreakdown(o: Opts): Promise<Row[]> {
  const file = join(ROOT, "bench", "nats-sequenced.ts");
  const child = spawnTracked("node", ["--import", "tsx", file, "20000", String(PAYLOAD)]);
  const limit = 120_000;
  const t0 = Date.now();
  const tick = setInterval(() => progress(`3 nats-sequenced.ts breakdown: ${((Date.now() - t0) / 1000).toFixed(0)} s`), 500);
  // on the time limit, stop the script and what it started (its own nats-server) by PID
  const timer = setTimeout(() => void stopTree(child), limit);
  const code = await child.exited;
  clearTimeout(timer);
  clearInterval(tick);
  const text = child.output();
  if (code !== 0) {
    throw new Error(`bench/nats-sequenced.ts ${code === null ? `did not finish within ${limit / 1000} s (stopped by PID)` : `exited ${code}`}: ${text.slice(-800)}`);
  }
  const num = (x: string) => Number(x.replace(/,/g, ""));
  const rows: Row[] = [];
  for (const m of text.matchAll(/^(sequenced, [^\n]*?)\s{2,}([\d,]+) msg\/s\s+ratio ([\d.]+)/gm)) {
    const value = num(m[2]), ratio = Number(m[3]);
    rows.push(judge({
      scenario: 3,
      id: `nats-seq-detail-${m[1].replace(/[^a-z0-9]+/gi, "-").replace(/-+$/, "")}`,
      title: `(1 process) ${m[1]}`,
      value,
      baseline: value / ratio,
      baselineName: "raw NATS, same process",
      unit: "msg/s",
      ratio,
      target: "",
      note: "from bench/nats-sequenced.ts (one process, count-bounded, time-limited by the harness)",
    }));
  }
  if (rows.length === 0) throw new Error(`could not parse bench/nats-sequenced.ts output: ${text.slice(-1500)}`);
  progressDone(`3 nats-sequenced.ts breakdown: ${rows.length} rows`);
  return rows;
}

// ---------------------------------------------------------------- 4. cross-node latency
export async function latencyScenario(o: Opts): Promise<Row[]> {
  const nats = await startNatsServer();
  track(nats.child);
  const servers: Server[] = [];
  try {
    const warmupMs = o.quick ? 300 : 2000;
    const durationMs = o.quick ? 1000 : 10_000;
    const rate = 1000;
    // baseline: raw NATS, publisher process → subscriber process
    const raw = await natsNodes(o, nats.url, "lat-raw", 2, { mode: "raw", rooms: 1, payloadBytes: PAYLOAD, window: 1, publishRate: rate, warmupMs, durationMs }, (i) => ({ publish: i === 0 }), "4 latency raw NATS");
    const rawLat = raw[1].latency;
    progressDone(`4 latency raw NATS: p50 ${rawLat.p50.toFixed(3)} p99 ${rawLat.p99.toFixed(3)} p999 ${rawLat.p999.toFixed(3)} ms`);
    // edgeplane: 3 nodes; publish on A (hub.publish), the room owned by C, clients on B
    servers.push(...await Promise.all([0, 1, 2].map((i) =>
      startServer("node", "edgeplane", { BENCH_EXCHANGE: "nats", BENCH_NATS_URL: nats.url, BENCH_NODE_ID: `node${"ABC"[i]}`, BENCH_PREFIX: "lat", ...quickBeat(o) }, o.nodeArgs)
    )));
    await sleep(settleMs(o));
    let room = "r0";
    let owner = "";
    for (let i = 0; i < 200; i++) {
      const r = await getJson<{ owner: string | null }>(`${servers[0].http}/bench/owner?room=r${i}`);
      if (r.owner === "nodeC") {
        room = `r${i}`;
        owner = r.owner;
        break;
      }
    }
    const clients = o.quick ? 2 : 10;
    const load = runLoad({ dialect: "edgeplane", targets: [servers[1].ws], clients, rooms: 1, payloadBytes: PAYLOAD, mode: "external", warmupMs, durationMs, roomNames: [room] } as LoadConfig, "4 latency edgeplane A→C→B→client");
    await load.ready;
    await getJson(`${servers[0].http}/bench/pub?room=${room}&rate=${rate}&ms=${warmupMs + durationMs + 1000}&bytes=${PAYLOAD}`);
    const r = await load.result;
    progressDone(`4 latency edgeplane: p50 ${r.latency.p50.toFixed(3)} p99 ${r.latency.p99.toFixed(3)} p999 ${r.latency.p999.toFixed(3)} ms (${r.latency.count} samples)`);
    const mk = (p: "p50" | "p99" | "p999"): Row =>
      judge({
        scenario: 4,
        id: `latency-${p}`,
        title: `cross-node latency ${p} @1k msg/s`,
        value: r.latency[p],
        baseline: rawLat[p],
        baselineName: "raw NATS pub→sub",
        unit: "ms",
        ratio: r.latency[p] / rawLat[p],
        target: p === "p99" ? "p99 < 2 ms" : "",
        ...(p === "p99" ? { targetValue: 2, targetOn: "value" as const, better: "lower" as const, headline: true } : {}),
        note: p === "p99"
          ? `hub.publish on node A → owner ${owner || "?"} (room ${room}) sequences → node B → ${clients} ws clients (separate process); ${r.latency.count} samples; monotonic clock shared by the processes`
          : undefined,
      });
    return [mk("p50"), mk("p99"), mk("p999")];
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await nats.cleanup();
  }
}

// ---------------------------------------------------------------- 5. Socket.IO + redis adapter vs edgeplane
export async function socketIoScenario(o: Opts): Promise<Row[]> {
  const clients = o.quick ? 50 : 1000;
  const timing = { warmupMs: o.quick ? 300 : 1500, durationMs: o.quick ? 700 : 5000 };
  const redis = await startRedis();
  track(redis.child);
  const nats = await startNatsServer();
  track(nats.child);
  const res: Record<string, LoadResult> = {};
  try {
    const setups: Array<{ name: string; kind: "socketio" | "edgeplane"; env: Record<string, string> }> = [
      { name: "socketio", kind: "socketio", env: { BENCH_REDIS_URL: redis.url } },
      { name: "edgeplane-nats", kind: "edgeplane", env: { BENCH_EXCHANGE: "nats", BENCH_NATS_URL: nats.url, BENCH_PREFIX: "h2h", ...quickBeat(o) } },
      { name: "edgeplane-redis", kind: "edgeplane", env: { BENCH_EXCHANGE: "redis", BENCH_REDIS_URL: redis.url, BENCH_PREFIX: "h2h" } },
    ];
    for (const s of setups) {
      const nodes: Server[] = [];
      try {
        nodes.push(...await Promise.all([0, 1].map((i) => startServer("node", s.kind, { ...s.env, BENCH_NODE_ID: `${s.name}-${i}` }, s.kind === "edgeplane" ? o.nodeArgs : []))));
        if (s.name === "edgeplane-nats") await sleep(settleMs(o));
        const targets = nodes.map((n) => (s.kind === "socketio" ? `ws://127.0.0.1:${n.port}/` : n.ws));
        const load = runLoad({
          dialect: s.kind,
          targets,
          pubTarget: targets[0],
          clients,
          rooms: 1,
          payloadBytes: PAYLOAD,
          mode: "throughput",
          window: 32,
          ...timing,
        }, `5 two-node fanout ${s.name}`);
        res[s.name] = await load.result;
        progressDone(`5 ${s.name}: ${Math.round(res[s.name].deliveriesPerSec)} deliveries/s (lost ${res[s.name].lost})`);
      } finally {
        await Promise.all(nodes.map((n) => n.stop()));
      }
    }
  } finally {
    await nats.cleanup();
    await redis.stop();
  }
  const base = res.socketio.deliveriesPerSec;
  return (["edgeplane-nats", "edgeplane-redis"] as const).map((k) =>
    judge({
      scenario: 5,
      id: `vs-socketio-${k.slice(10)}`,
      title: `2-node fanout, ${k.replace("-", " over ")}`,
      value: res[k].deliveriesPerSec,
      baseline: base,
      baselineName: "Socket.IO + redis-adapter",
      unit: "deliv/s",
      ratio: res[k].deliveriesPerSec / base,
      target: "≥ 2× Socket.IO",
      targetValue: 2,
      targetOn: "ratio",
      better: "higher",
      headline: true,
      note: `${clients} ws clients split over 2 nodes, publisher connected to node 1, 100-byte payload; p99 at saturation ${res[k].latency.p99.toFixed(1)} ms vs Socket.IO ${res.socketio.latency.p99.toFixed(1)} ms; lost ${res[k].lost} vs ${res.socketio.lost}`,
    })
  );
}

// ---------------------------------------------------------------- 6. scaling curve
export async function scalingScenario(o: Opts): Promise<Row[]> {
  const rows: Row[] = [];
  const timing = { warmupMs: o.quick ? 200 : 1000, durationMs: o.quick ? 500 : 3000 };
  const memberPoints = o.quick ? [20] : [10, 100, 1000, 10_000];
  const roomClients = o.quick ? 50 : 1000;
  const roomPoints = o.quick ? [100] : [1, 10, 100, 1000, 10_000];
  const points = [
    ...memberPoints.map((m) => ({ axis: "members", clients: m, rooms: 1, label: `room of ${m}` })),
    ...roomPoints.map((r) => ({ axis: "rooms", clients: roomClients, rooms: r, label: `${r} rooms / ${roomClients} clients` })),
  ];
  for (const p of points) {
    const cap: Record<string, LoadResult> = {};
    const lat: Record<string, LoadResult> = {};
    const servers: Record<string, Server> = {};
    try {
      const [raw, ep] = await Promise.all([startServer("node", "raw"), startServer("node", "edgeplane", {}, o.nodeArgs)]);
      servers.raw = raw;
      servers.edgeplane = ep;
      const base = (kind: "raw" | "edgeplane"): LoadConfig => ({
        dialect: kind,
        targets: [kind === "raw" ? rawUrl(servers[kind]) : servers[kind].ws],
        clients: p.clients,
        rooms: p.rooms,
        payloadBytes: PAYLOAD,
        mode: "throughput",
        window: p.rooms > p.clients ? 64 : 32,
        ...timing,
      });
      for (const kind of ["raw", "edgeplane"] as const) {
        cap[kind] = await runLoad(base(kind), `6 ${p.label} ${kind} capacity`).result;
      }
      // latency at the same offered load for both: half the smaller capacity
      const rate = Math.max(1, Math.floor(0.5 * Math.min(cap.raw.publishesPerSec, cap.edgeplane.publishesPerSec)));
      for (const kind of ["raw", "edgeplane"] as const) {
        lat[kind] = await runLoad({ ...base(kind), mode: "rate", rate }, `6 ${p.label} ${kind} p99 @ ${rate} msg/s`).result;
      }
      progressDone(`6 ${p.label}: edgeplane ${Math.round(cap.edgeplane.deliveriesPerSec)} vs raw ${Math.round(cap.raw.deliveriesPerSec)} deliveries/s; p99 @${rate} msg/s ${lat.edgeplane.latency.p99.toFixed(2)} vs ${lat.raw.latency.p99.toFixed(2)} ms`);
      rows.push(judge({
        scenario: 6,
        id: `scale-${p.axis}-${p.axis === "members" ? p.clients : p.rooms}-tput`,
        title: `scale: ${p.label}, throughput`,
        value: cap.edgeplane.deliveriesPerSec,
        baseline: cap.raw.deliveriesPerSec,
        baselineName: "raw node ws",
        unit: "deliv/s",
        ratio: cap.edgeplane.deliveriesPerSec / cap.raw.deliveriesPerSec,
        target: "",
      }));
      rows.push(judge({
        scenario: 6,
        id: `scale-${p.axis}-${p.axis === "members" ? p.clients : p.rooms}-p99`,
        title: `scale: ${p.label}, p99 @ ${rate} msg/s`,
        value: lat.edgeplane.latency.p99,
        baseline: lat.raw.latency.p99,
        baselineName: "raw node ws",
        unit: "ms",
        ratio: lat.edgeplane.latency.p99 / lat.raw.latency.p99,
        target: "",
        note: `offered load = ½ of the smaller capacity (same rate for both); ${p.clients} clients`,
      }));
    } finally {
      await Promise.all(Object.values(servers).map((s) => s.stop()));
    }
  }
  return rows;
}
