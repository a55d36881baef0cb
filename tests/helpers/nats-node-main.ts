// A NATS exchange node as its own process, for multi-process tests. Runs on Node (tsx), Deno and Bun.
// Driven over stdin/stdout: one JSON command per stdin line `{re, cmd, ...}`; each answer is one stdout line
// `@@{"re":…, …}`. Commands run concurrently (a long publish does not block a progress query).
// Usage: <runtime> tests/helpers/nats-node-main.ts <json config: {url, nodeId, prefix, opts}>
import { createInterface } from "node:readline";
import { NatsExchange } from "../../src/exchange/nats/nats-exchange.ts";
import { connectNats } from "../../src/exchange/nats/connect.ts";
import { isEdgeplaneError } from "../../src/errors.ts";
import type { ExchangeEvent, SequencedMessage } from "../../src/exchange/exchange.ts";

const proc = globalThis.process;
const cfg = JSON.parse(proc.argv[2] ?? "{}");
const nc = await connectNats({ servers: cfg.url, name: cfg.nodeId });
const ex = new NatsExchange(nc, { ...cfg.opts, nodeId: cfg.nodeId, prefix: cfg.prefix });

// Event-loop stall monitor: the largest lateness of a 10 ms timer since the last "stalls" query.
let maxStall = 0, lastTick = performance.now();
setInterval(() => {
  const t = performance.now();
  maxStall = Math.max(maxStall, t - lastTick - 10);
  lastTick = t;
}, 10);

type Delivered = { got: SequencedMessage[]; events: ExchangeEvent[]; positioned: boolean };
const rooms = new Map<string, Delivered>();

function out(obj: unknown): void {
  proc.stdout.write(`@@${JSON.stringify(obj)}\n`);
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

/**
 * Publish `count` messages `${tag}-${k}` to `room` keeping at most `window` in flight, issued in k order. Reports the
 * acks `[k, seq, id]`, rejections by code (and how many said `maybeSequenced`), and the longest settle time.
 */
async function publishMany(room: string, tag: string, count: number, window: number, paceMs = 0) {
  const acked: Array<[number, number, string]> = []; // [k, seq, id]
  const errors: Record<string, number> = {};
  const failedKs: number[] = [];
  let maxSettleMs = 0, maybeSequenced = 0;
  let next = 0;
  const inflight = new Set<Promise<void>>();
  while (next < count || inflight.size) {
    while (next < count && inflight.size < window) {
      // A paced stream (a load generator's rate, not a wait for a condition).
      if (paceMs > 0 && next > 0) await new Promise((r) => setTimeout(r, paceMs));
      const k = next++;
      const id = `${tag}-${k}`.replace(/[^A-Za-z0-9_-]/g, "_");
      const t0 = performance.now();
      const p = ex.publish(room, `${tag}-${k}`, { id }).then(
        (info) => void acked.push([k, info.seq, id]),
        (err) => {
          const code = isEdgeplaneError(err) ? err.code : `UNTYPED:${String(err)}`;
          errors[code] = (errors[code] ?? 0) + 1;
          if (isEdgeplaneError(err) && err.details?.maybeSequenced === true) maybeSequenced++;
          failedKs.push(k);
        },
      ).finally(() => {
        maxSettleMs = Math.max(maxSettleMs, performance.now() - t0);
        inflight.delete(p);
      });
      inflight.add(p);
    }
    await Promise.race(inflight);
  }
  return { acked, errors, failedKs, maxSettleMs: Math.round(maxSettleMs), maybeSequenced };
}

function digest(d: Delivered) {
  // FNV-1a over "seq:id;" of everything delivered, in delivery order.
  let h = 0x811c9dc5;
  const seqs = d.got.map((m) => m.seq);
  for (const m of d.got) {
    const s = `${m.seq}:${m.id};`;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  }
  const contiguous = seqs.every((s, i) => s === i + 1);
  const ids = new Set(d.got.map((m) => m.id));
  // per-publisher (tag) order: k strictly increasing per tag
  const lastK = new Map<string, number>();
  let orderOk = true;
  for (const m of d.got) {
    const p = String(m.payload);
    const i = p.lastIndexOf("-");
    const tag = p.slice(0, i), k = Number(p.slice(i + 1));
    if ((lastK.get(tag) ?? -1) >= k) orderOk = false;
    lastK.set(tag, k);
  }
  return {
    count: d.got.length,
    first: seqs[0] ?? 0,
    last: seqs[seqs.length - 1] ?? 0,
    contiguous,
    uniqueIds: ids.size,
    hash: h.toString(16),
    orderOk,
    discontinuities: d.events.filter((e) => e.type === "discontinuity").length,
  };
}

async function handle(c: Record<string, unknown>): Promise<unknown> {
  switch (c.cmd) {
    case "ready":
      await ex.ready();
      return { nodeId: ex.nodeId };
    case "owners":
      return { owners: (c.rooms as string[]).map((r) => ex.ownerOf(r) ?? null) };
    case "members":
      return { members: ex.members() };
    case "subscribe": {
      for (const room of c.rooms as string[]) {
        if (rooms.has(room)) continue;
        const d: Delivered = { got: [], events: [], positioned: false };
        rooms.set(room, d);
        ex.subscribe(room, (m) => d.got.push(m), {
          ...(c.fromSeq !== undefined ? { fromSeq: c.fromSeq as number } : {}),
          onEvent: (e) => {
            d.events.push(e);
            if (e.type === "position") d.positioned = true;
          },
        });
      }
      const ok = await until(() => (c.rooms as string[]).every((r) => rooms.get(r)!.positioned), 60_000);
      return { positioned: ok };
    }
    case "publish": {
      if (!c.rooms) return await publishMany(c.room as string, c.tag as string, c.count as number, (c.window as number) ?? 64, (c.paceMs as number) ?? 0);
      // Many rooms: `count` messages per room, rooms interleaved, at most `window` in flight in total.
      const list = c.rooms as string[];
      const count = c.count as number, window = (c.window as number) ?? 64;
      let acked = 0, next = 0;
      const errors: Record<string, number> = {};
      const inflight = new Set<Promise<void>>();
      while (next < list.length * count || inflight.size) {
        while (next < list.length * count && inflight.size < window) {
          const i = next++;
          const room = list[i % list.length], k = Math.floor(i / list.length);
          const p = ex.publish(room, `${c.tag}@${room}-${k}`).then(
            () => void acked++,
            (err) => {
              const code = isEdgeplaneError(err) ? err.code : `UNTYPED:${String(err)}`;
              errors[code] = (errors[code] ?? 0) + 1;
            },
          ).finally(() => inflight.delete(p));
          inflight.add(p);
        }
        await Promise.race(inflight);
      }
      return { acked, errors };
    }
    case "progress":
      return { counts: (c.rooms as string[]).map((r) => rooms.get(r)?.got.length ?? 0) };
    case "digest":
      return { digests: (c.rooms as string[]).map((r) => digest(rooms.get(r) ?? { got: [], events: [], positioned: false })) };
    case "delivered": {
      const d = rooms.get(c.room as string)!;
      return { got: d.got.map((m) => [m.seq, m.id, m.epoch, m.timestamp]), events: d.events };
    }
    case "status":
      return ex.status();
    case "seal":
      return { inForce: await ex.seal(c.authority as string) };
    case "sealedBy":
      return { sealedBy: ex.sealedBy };
    case "publishOne": {
      // One publish; a rejection is an answer too: its code and `details.sealedBy`.
      try {
        const info = await ex.publish(c.room as string, String(c.payload ?? "x"), c.id ? { id: c.id as string } : {});
        return { seq: info.seq, epoch: info.epoch };
      } catch (err) {
        return { error: isEdgeplaneError(err) ? err.code : `UNTYPED:${String(err)}`, sealedBy: isEdgeplaneError(err) ? err.details?.sealedBy : undefined };
      }
    }
    case "stalls": {
      const m = maxStall;
      maxStall = 0;
      return { maxStallMs: Math.round(m) };
    }
    case "stall": {
      // Block this process's event loop for `ms` (an owner busy with something else), after `delayMs`.
      setTimeout(() => {
        const end = performance.now() + (c.ms as number);
        while (performance.now() < end) { /* busy */ }
      }, (c.delayMs as number) ?? 0);
      return { scheduled: true };
    }
    case "close":
      await ex.close();
      await nc.close();
      setTimeout(() => proc.exit(0), 10);
      return { closed: true };
    default:
      throw new Error(`unknown command ${String(c.cmd)}`);
  }
}

const rl = createInterface({ input: proc.stdin });
rl.on("line", (line) => {
  if (!line.trim()) return;
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(line);
  } catch {
    out({ re: -1, error: `bad command line ${line.slice(0, 80)}` });
    return;
  }
  handle(c).then(
    (res) => out({ re: c.re, ok: res }),
    (err) => out({ re: c.re, error: String(err?.stack ?? err) }),
  );
});
rl.on("close", () => {
  // The test closed our stdin (or died): leave quietly.
  void ex.close().finally(() => nc.close()).finally(() => proc.exit(0));
});
proc.stdout.write(`NODE-STARTED ${ex.nodeId}\n`);
