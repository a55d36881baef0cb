// The two-server crossws scenario (issue 21): our own broker (nats-server or redis-server on a free port), two
// crossws server processes (tests/helpers/crossws-server.ts on this runtime) with a sync driver, N ws clients per
// server subscribed to a few topics, each publishing at a fixed rate; optionally the broker goes down for a while
// mid-run. Every (receiver, message) pair is then accounted for: delivered, or covered by a reported failure (the
// publisher's exchange refused it, or the receiver reported a discontinuity over its seq), or lost silently.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Child, freePort, start, waitUntil } from "./process.ts";
import { runtimeCommand } from "./migration.ts";
import { type NatsServer, startNatsServer } from "./nats-server.ts";
import { type RedisServer, startRedis } from "./redis-server.ts";
import { webSocketClass } from "./test-clients.ts";

const here = fileURLToPath(new URL(".", import.meta.url));
const ROOT = join(here, "../..");
const SERVER = join(here, "crossws-server.ts");

export type Broker = "nats" | "redis";
export type Driver = "edgeplane" | "crossws-redis";

interface Pub {
  room: string;
  seq: number;
  epoch: number;
}
interface Disc {
  room: string;
  afterSeq: number;
  nextSeq: number;
  epoch: number;
}

/** One crossws server process and what it reported. */
export interface ServerProc {
  index: number;
  url: string;
  /** Which crossws adapter the process serves with (node, deno, bun). */
  runtime: string;
  child: Child;
  pubs: Map<string, Pub>;
  pubfails: Set<string>;
  discs: Disc[];
  syncErrors: Record<string, number>;
  /** Exited without being asked to. */
  crashed(): boolean;
}

/** A broker and two servers sharing it. */
export interface Fleet {
  broker: Broker;
  driver: Driver;
  servers: ServerProc[];
  /** Take the broker down for `downMs`, then start it again (Redis comes back empty, as without persistence). */
  restartBroker(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

/** Start the broker and two servers; resolves once both print ready (edgeplane: its `sync.ready()` resolved). */
export async function startFleet(broker: Broker, driver: Driver = "edgeplane"): Promise<Fleet> {
  let nats: NatsServer | undefined, redis: RedisServer | undefined;
  if (broker === "nats") nats = await startNatsServer();
  else redis = await startRedis();
  const stopping = { value: false };
  const prefix = `cw${Date.now().toString(36)}`;
  const servers = await Promise.all([0, 1].map(async (index) => {
    const port = await freePort();
    const [cmd, args] = runtimeCommand(SERVER);
    const child = start(cmd, args, {
      cwd: ROOT,
      env: {
        PORT: String(port),
        DRIVER: driver,
        EDGEPLANE_PREFIX: prefix,
        CHANNEL: prefix,
        NODE_ID: `cw-${index}`,
        ...(nats ? { NATS_URL: nats.url } : { REDIS_URL: redis!.url }),
      },
    });
    return serverProc(index, child, stopping);
  }));
  try {
    await Promise.all(servers.map(async (s) => {
      const m = await s.child.waitFor(/@\{"ev":"ready","url":"([^"]+)","runtime":"(\w+)"/, 60_000);
      s.url = `${m[1]}/_ws`;
      s.runtime = m[2];
    }));
  } catch (err) {
    await Promise.all(servers.map((s) => s.child.stop()));
    await (nats?.cleanup() ?? redis?.stop());
    throw err;
  }
  return {
    broker,
    driver,
    servers,
    restartBroker: (downMs) => nats ? nats.restart(downMs) : redis!.restartEmpty(downMs),
    async stop() {
      stopping.value = true;
      await Promise.all(servers.map((s) => s.child.stop()));
      await (nats?.cleanup() ?? redis?.stop());
    },
  };
}

function serverProc(index: number, child: Child, stopping: { value: boolean }): ServerProc {
  const s: ServerProc = {
    index,
    url: "",
    runtime: "",
    child,
    pubs: new Map(),
    pubfails: new Set(),
    discs: [],
    syncErrors: {},
    crashed: () => !stopping.value && child.proc.exitCode !== null,
  };
  let buf = "";
  child.proc.stdout?.on("data", (d: Buffer | string) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line.startsWith("@{")) continue;
      const e = JSON.parse(line.slice(1));
      if (e.ev === "pub") s.pubs.set(e.data, { room: e.room, seq: e.seq, epoch: e.epoch });
      else if (e.ev === "pubfail") s.pubfails.add(e.data);
      else if (e.ev === "disc") s.discs.push(e);
      else if (e.ev === "syncerror") s.syncErrors[e.stage] = (s.syncErrors[e.stage] ?? 0) + 1;
    }
  });
  return s;
}

/** What one client received. */
interface Client {
  id: string;
  server: number;
  /** Message keys in arrival order, per topic. */
  got: Map<string, string[]>;
  /** Every key received (any topic). */
  seen: Set<string>;
  errors: string[];
  send(topic: string, data: string, ordered: boolean): void;
  close(): void;
}

async function connect(url: string, id: string, server: number, topics: string[]): Promise<Client> {
  const WS = await webSocketClass();
  const sock = new WS(`${url}?topics=${topics.join(",")}`);
  const got = new Map<string, string[]>(topics.map((t) => [t, []]));
  const errors: string[] = [];
  const seen = new Set<string>();
  let welcomed = false;
  sock.onmessage = (e: MessageEvent) => {
    if (typeof e.data !== "string") return;
    const m = JSON.parse(e.data);
    if (m.type === "welcome") welcomed = true;
    else if (m.type === "error") errors.push(m.code);
    else {
      got.get(m.t)?.push(`${m.c}/${m.i}`);
      seen.add(`${m.c}/${m.i}`);
    }
  };
  await waitUntil(() => welcomed, `client ${id} welcomed`, 15_000);
  return {
    id,
    server,
    got,
    seen,
    errors,
    send: (topic, data, ordered) => sock.send(JSON.stringify({ topic, data, ordered })),
    close: () => sock.close(),
  };
}

/** Options of {@link runPhase}. */
export interface PhaseOptions {
  /** Distinguishes the topics of this phase from earlier ones on the same fleet. */
  name: string;
  clientsPerServer?: number;
  topics?: number;
  messagesPerClient?: number;
  ratePerClient?: number;
  /** Publish through `publishOrdered` instead of `peer.publish`. */
  ordered?: boolean;
  /** Take the broker down `atMs` after publishing started, for `downMs`. */
  restart?: { atMs: number; downMs: number };
  /** How long to wait for every pair to be delivered or covered (default 30 s). */
  drainMs?: number;
  /** crossws-redis driver: stop waiting after this long without a new delivery (default 3 s). */
  quietMs?: number;
}

/** The accounting of one phase. */
export interface PhaseResult {
  sent: number;
  /** (receiver, message) pairs that should be delivered. */
  expected: number;
  delivered: number;
  duplicates: number;
  /** A receiver got two messages of one sender and topic out of send order. */
  orderViolations: number;
  /** Pairs not delivered, covered by a reported publish failure or discontinuity. */
  lostReported: number;
  /** Pairs not delivered and not covered by anything reported (crossws-redis: every pair not delivered). */
  lostSilent: number;
  /** Messages some receiver did not get, every such receiver covered by a report. */
  messagesLostReported: number;
  /** Messages some receiver did not get without any report covering it. */
  messagesLostSilent: number;
  /** Publishes of this phase the exchange refused or timed out on (some may still have been delivered). */
  publishFailures: number;
  /** Discontinuities the servers reported during this phase. */
  discontinuities: number;
  /** crossws onError calls per stage, both servers. */
  syncErrors: Record<string, number>;
  crashes: number;
  /** Ordered phases without loss: every client saw every topic in one order. */
  sameOrder?: boolean;
  /** Messages sent after the broker went down (shows the fault hit the run). */
  sentDuringOutage: number;
  problems: string[];
  durationMs: number;
}

/** Run one publishing phase on `fleet` with fresh clients and topics, then account for every message. */
export async function runPhase(fleet: Fleet, o: PhaseOptions): Promise<PhaseResult> {
  const t0 = Date.now();
  const perServer = o.clientsPerServer ?? 5, nTopics = o.topics ?? 3, perClient = o.messagesPerClient ?? 100;
  const interval = 1000 / (o.ratePerClient ?? 100);
  const topics = Array.from({ length: nTopics }, (_, i) => `${o.name}-t${i}`);
  const probe = `${o.name}-probe`;
  const clients = await Promise.all(fleet.servers.flatMap((s) =>
    Array.from({ length: perServer }, (_, k) => connect(s.url, `s${s.index}c${k}`, s.index, [...topics, probe]))
  ));
  const problems: string[] = [];
  // what the servers reported before this phase (the fleet may have run other phases)
  const before = fleet.servers.map((s) => ({ pubfails: s.pubfails.size, discs: s.discs.length, syncErrors: { ...s.syncErrors } }));
  if (fleet.driver === "crossws-redis") {
    // crossws exposes no readiness: publish probes on each server until every client of the other one sees them.
    await waitUntil(() => {
      for (const s of fleet.servers) clients.find((c) => c.server === s.index)!.send(probe, JSON.stringify({ c: "probe", i: 0, t: probe }), false);
      return clients.every((c) => c.got.get(probe)!.length > 0);
    }, "probes crossed", 20_000, 200);
  }

  // Publish: client k sends message i into topic (i + k) % topics at a fixed rate.
  const msgs: Array<{ key: string; data: string; topic: string; from: Client }> = [];
  let outageAt = Infinity;
  const restart = o.restart
    ? new Promise<void>((r) => setTimeout(r, o.restart!.atMs)).then(() => {
      outageAt = msgs.length;
      return fleet.restartBroker(o.restart!.downMs);
    })
    : Promise.resolve();
  const startAt = performance.now();
  await Promise.all(clients.map(async (c, k) => {
    for (let i = 0; i < perClient; i++) {
      const wait = startAt + i * interval - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const topic = topics[(i + k) % nTopics];
      const data = JSON.stringify({ c: c.id, i, t: topic });
      msgs.push({ key: `${c.id}/${i}`, data, topic, from: c });
      c.send(topic, data, o.ordered ?? false);
    }
  }));
  await restart;
  const sentDuringOutage = Number.isFinite(outageAt) ? msgs.length - outageAt : 0;

  // Account: which pairs are delivered, which are covered by a report.
  const receivers = (m: (typeof msgs)[number]) => clients.filter((r) => o.ordered || r !== m.from);
  const has = (r: Client, m: (typeof msgs)[number]) => r.seen.has(m.key);
  const covered = (r: Client, m: (typeof msgs)[number]): boolean => {
    const src = fleet.servers[m.from.server];
    const local = r.server === m.from.server && !o.ordered; // crossws delivered it before calling the driver
    if (local) return false;
    if (src.pubfails.has(m.data)) return true;
    const p = src.pubs.get(m.data);
    if (!p) return false;
    return fleet.servers[r.server].discs.some((d) =>
      d.room === p.room && p.epoch <= d.epoch && p.seq > d.afterSeq && (p.seq < d.nextSeq || p.epoch < d.epoch)
    );
  };
  const settled = (m: (typeof msgs)[number]) => {
    const src = fleet.servers[m.from.server];
    return fleet.driver === "crossws-redis" || src.pubs.has(m.data) || src.pubfails.has(m.data);
  };
  const outstanding = () => msgs.filter((m) => !settled(m) || receivers(m).some((r) => !has(r, m) && !covered(r, m))).length;
  if (fleet.driver === "crossws-redis") {
    let last = -1, lastChange = Date.now();
    await waitUntil(() => {
      const n = clients.reduce((a, c) => a + [...c.got.values()].reduce((x, k) => x + k.length, 0), 0);
      if (n !== last) [last, lastChange] = [n, Date.now()];
      return outstanding() === 0 || Date.now() - lastChange > (o.quietMs ?? 3000);
    }, "deliveries settled", o.drainMs ?? 60_000, 100).catch((err) => problems.push(String(err)));
  } else {
    await waitUntil(() => outstanding() === 0, "every message delivered or reported", o.drainMs ?? 30_000, 50)
      .catch((err) => problems.push(`${err} (${outstanding()} messages outstanding)`));
  }

  let expected = 0, delivered = 0, lostReported = 0, lostSilent = 0, messagesLostReported = 0, messagesLostSilent = 0;
  for (const m of msgs) {
    let missing = 0, silent = 0;
    for (const r of receivers(m)) {
      expected++;
      if (has(r, m)) delivered++;
      else if (covered(r, m)) [lostReported, missing] = [lostReported + 1, missing + 1];
      else {
        [lostSilent, silent] = [lostSilent + 1, silent + 1];
        if (problems.length < 20) problems.push(`${r.id} never got ${m.key} (${m.topic}) and nothing reported it`);
      }
    }
    if (silent > 0) messagesLostSilent++;
    else if (missing > 0) messagesLostReported++;
  }
  let duplicates = 0, orderViolations = 0;
  for (const c of clients) {
    for (const [topic, keys] of c.got) {
      if (topic === probe) continue;
      duplicates += keys.length - new Set(keys).size;
      const last = new Map<string, number>();
      for (const k of keys) {
        const [from, i] = [k.slice(0, k.lastIndexOf("/")), Number(k.slice(k.lastIndexOf("/") + 1))];
        if ((last.get(from) ?? -1) >= i) {
          orderViolations++;
          if (problems.length < 20) problems.push(`${c.id} got ${k} after ${from}/${last.get(from)} in ${topic}`);
        }
        last.set(from, Math.max(last.get(from) ?? -1, i));
      }
    }
  }
  let sameOrder: boolean | undefined;
  if (o.ordered && lostReported + lostSilent === 0) {
    sameOrder = topics.every((t) => clients.every((c) => c.got.get(t)!.join() === clients[0].got.get(t)!.join()));
  }
  const syncErrors: Record<string, number> = {};
  for (const s of fleet.servers) {
    for (const [k, n] of Object.entries(s.syncErrors)) {
      const d = n - (before[s.index].syncErrors[k] ?? 0);
      if (d > 0) syncErrors[k] = (syncErrors[k] ?? 0) + d;
    }
  }
  for (const c of clients) c.close();
  return {
    sent: msgs.length,
    expected,
    delivered,
    duplicates,
    orderViolations,
    lostReported,
    lostSilent,
    messagesLostReported,
    messagesLostSilent,
    publishFailures: fleet.servers.reduce((a, s) => a + s.pubfails.size - before[s.index].pubfails, 0),
    discontinuities: fleet.servers.reduce((a, s) => a + s.discs.length - before[s.index].discs, 0),
    syncErrors,
    crashes: fleet.servers.filter((s) => s.crashed()).length,
    sameOrder,
    sentDuringOutage,
    problems,
    durationMs: Date.now() - t0,
  };
}
