// Benchmark: sequenced publish through the NATS exchange vs raw NATS core pub/sub, in one process, on our own
// nats-server. Prints msg/s for each scenario and the ratio to the raw baseline measured in the same run.
// Steady state: every room gets one warm-up message first (ownership established), then N messages are timed from the
// first publish until the subscriber node has delivered all of them. Window: 256 publishes in flight.
// Usage: npx tsx bench/nats-sequenced.ts [messages=50000] [payloadBytes=100]
import type { NatsConnection } from "nats";
import { NatsExchange } from "../src/exchange/nats/nats-exchange.ts";
import { connectNats } from "../src/exchange/nats/connect.ts";
import { startNatsServer } from "../tests/helpers/nats-server.ts";

const proc = globalThis.process;
const N = Number(proc.argv[2] ?? 50_000);
const SIZE = Number(proc.argv[3] ?? 100);
const payload = "x".repeat(SIZE);
const ROOMS = 1000;

const server = await startNatsServer();
if (proc.env.BENCH_DEBUG) console.log(`nats-server pid ${server.child.pid}`);
const debug = (...a: unknown[]) => proc.env.BENCH_DEBUG && console.log(...a);
const conns: NatsConnection[] = [];
const nc = async () => {
  const c = await connectNats({ servers: server.url }); // same settings for the raw baseline and the exchange
  conns.push(c);
  return c;
};

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 1));
}

async function raw(subjects: number): Promise<number> {
  const pub = await nc(), sub = await nc();
  let got = 0;
  const subs = Array.from({ length: subjects }, (_, i) => sub.subscribe(`raw.${subjects}.${i}`, { callback: () => void got++ }));
  await sub.flush();
  const data = new TextEncoder().encode(payload);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    pub.publish(`raw.${subjects}.${i % subjects}`, data);
    if (i % 1000 === 999) await new Promise((r) => setTimeout(r, 0)); // let the socket drain like a real server would
  }
  await until(() => got >= N);
  const ms = performance.now() - t0;
  subs.forEach((s) => s.unsubscribe());
  return (N / ms) * 1000;
}

async function sequenced(nodes: number, rooms: number, publisherIsOwner: boolean | "mixed", label: string): Promise<number> {
  const exs: NatsExchange[] = [];
  for (let i = 0; i < nodes; i++) exs.push(new NatsExchange(await nc(), { prefix: `b${label}`, nodeId: `${label}${i}` }));
  await Promise.all(exs.map((e) => e.ready()));
  await new Promise((r) => setTimeout(r, 1200)); // let membership views settle (one heartbeat; bench only)
  const names = Array.from({ length: rooms }, (_, i) => `room-${i}`);
  // The subscriber sits on the last node; publishers are chosen per scenario.
  const subNode = exs[exs.length - 1];
  let got = 0, positioned = 0, skipped = 0;
  for (const r of names) {
    subNode.subscribe(r, () => void got++, {
      onEvent: (e) => {
        if (e.type === "position") positioned++;
        else skipped += e.nextSeq - e.afterSeq - 1; // reported lost (discontinuity): counted so the run ends
      },
    });
  }
  debug(label, "ready");
  await until(() => positioned === rooms);
  debug(label, "positioned");
  const pickPublisher = (room: string): NatsExchange => {
    if (publisherIsOwner === "mixed") return exs[Math.abs(hash(room)) % exs.length];
    const owner = exs[0].ownerOf(room);
    const own = exs.find((e) => e.nodeId === owner)!;
    return publisherIsOwner ? own : exs.find((e) => e !== own)!;
  };
  const pubs = names.map(pickPublisher);
  // Warm up: one message per room, so ownership is established (steady state is what we measure).
  await Promise.all(names.map((r, i) => pubs[i].publish(r, payload)));
  await until(() => got >= rooms);
  got = 0;
  const window = 256;
  let inflight = 0, failed = 0;
  let wake: (() => void) | undefined;
  const settled = () => {
    inflight--;
    if (wake && inflight <= window / 2) {
      const w = wake;
      wake = undefined;
      w();
    }
  };
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    if (inflight >= window) await new Promise<void>((r) => wake = r);
    inflight++;
    pubs[i % rooms].publish(names[i % rooms], payload).then(settled, () => (failed++, settled()));
  }
  debug(label, "issued");
  const dump = setInterval(() => debug(label, "progress", got, skipped, failed, inflight, exs.map((e) => JSON.stringify(e.status()))), 5000);
  await until(() => got + skipped >= N - failed);
  if (skipped) console.log(`  (${skipped} messages reported lost by discontinuity in ${label}: subscriber fell behind)`);
  const ms = performance.now() - t0;
  clearInterval(dump);
  debug(label, "done", got, failed);
  await Promise.all(exs.map((e) => e.close()));
  if (failed) console.log(`  (${failed} failed publishes in ${label})`);
  return (N / ms) * 1000;
}

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h;
}

const fmt = (n: number) => `${Math.round(n).toLocaleString("en-US")} msg/s`;
console.log(`NATS sequenced vs raw pub/sub: ${N.toLocaleString("en-US")} messages of ${SIZE} bytes, one process, own nats-server`);
const raw1 = await raw(1);
const rawMany = await raw(ROOMS);
console.log(`raw NATS pub/sub, 1 subject            ${fmt(raw1)}`);
console.log(`raw NATS pub/sub, ${ROOMS} subjects        ${fmt(rawMany)}`);
const rows: Array<[string, number, number]> = [
  ["sequenced, 1 hot room, publisher owns it", await sequenced(2, 1, true, "h"), raw1],
  ["sequenced, 1 hot room, via owner request", await sequenced(2, 1, false, "r"), raw1],
  [`sequenced, ${ROOMS} rooms, 3 nodes, mixed`, await sequenced(3, ROOMS, "mixed", "m"), rawMany],
  [`sequenced, ${ROOMS} rooms, publishers own`, await sequenced(3, ROOMS, true, "o"), rawMany],
];
for (const [label, v, base] of rows) console.log(`${label.padEnd(40)} ${fmt(v).padStart(16)}   ratio ${(v / base).toFixed(2)}`);
await Promise.all(conns.map((c) => c.close()));
await server.cleanup();
