// A Hub over the NATS exchange as its own process, with in-process members (counting sinks), for multi-process
// fanout tests. Same stdin/stdout protocol as nats-node-main.ts (spawn it with spawnNode(runtime, cfg, HUB_NODE_MAIN)).
// Commands: ready, owners, members {room, n}, burst {room, count, tag}, stats {room}, close.
// It measures the event loop: `maxStallMs` is the largest lateness of a 10 ms interval timer since the last `burst`.
import { createInterface } from "node:readline";
import { Hub } from "../../src/hub.ts";
import { NatsExchange } from "../../src/exchange/nats/nats-exchange.ts";
import { connectNats } from "../../src/exchange/nats/connect.ts";
import { isEdgeplaneError } from "../../src/errors.ts";
import type { FrameSink } from "../../src/local/queue.ts";
import type { Frame } from "../../src/protocol.ts";

const proc = globalThis.process;
const cfg = JSON.parse(proc.argv[2] ?? "{}");
const nc = await connectNats({ servers: cfg.url, name: cfg.nodeId });
const exchange = new NatsExchange(nc, { ...cfg.opts, nodeId: cfg.nodeId, prefix: cfg.prefix });
const hub = new Hub({ exchange, log: () => {} });

/** Counts `msg` frames per room and checks that seqs arrive contiguous, without parsing. */
class Member implements FrameSink {
  count = 0;
  last = 0;
  gaps = 0;
  write(frames: readonly Frame[]): void {
    for (const f of frames) {
      if (f.seq === undefined) continue;
      if (this.last !== 0 && f.seq !== this.last + 1) this.gaps++;
      this.last = f.seq;
      this.count++;
    }
  }
  close(): void {}
}
const members = new Map<string, Member[]>();

let maxStallMs = 0;
let lastTick = performance.now();
setInterval(() => {
  const now = performance.now();
  maxStallMs = Math.max(maxStallMs, now - lastTick - 10);
  lastTick = now;
}, 10);

function out(obj: unknown): void {
  proc.stdout.write(`@@${JSON.stringify(obj)}\n`);
}

async function handle(c: Record<string, unknown>): Promise<unknown> {
  switch (c.cmd) {
    case "ready":
      await hub.ready();
      return { nodeId: hub.nodeId };
    case "owners":
      return { owners: (c.rooms as string[]).map((r) => exchange.ownerOf(r) ?? null) };
    case "members": {
      const room = c.room as string;
      const list = members.get(room) ?? [];
      members.set(room, list);
      for (let i = 0; i < (c.n as number); i++) {
        const m = new Member();
        await hub.join(hub.connect(m).id, room);
        list.push(m);
      }
      await hub.roomReady(room);
      return { members: list.length };
    }
    case "burst": {
      // Every publish issued in one synchronous loop, as a busy server would: nothing awaited in between.
      maxStallMs = 0;
      lastTick = performance.now();
      const rejected: Record<string, number> = {};
      const all: Promise<void>[] = [];
      for (let k = 0; k < (c.count as number); k++) {
        all.push(hub.publish(c.room as string, `${c.tag}-${k}`).then(
          () => {},
          (err) => {
            const code = isEdgeplaneError(err) ? err.code : `UNTYPED:${String(err)}`;
            rejected[code] = (rejected[code] ?? 0) + 1;
          },
        ));
      }
      await Promise.all(all);
      return { rejected };
    }
    case "stats": {
      const list = members.get(c.room as string) ?? [];
      return {
        min: Math.min(...list.map((m) => m.count)),
        max: Math.max(...list.map((m) => m.count)),
        gaps: list.reduce((n, m) => n + m.gaps, 0),
        maxStallMs: Math.round(maxStallMs),
      };
    }
    case "close":
      await hub.close();
      await nc.close();
      setTimeout(() => proc.exit(0), 10);
      return {};
    default:
      throw new Error(`unknown command ${c.cmd}`);
  }
}

createInterface({ input: proc.stdin }).on("line", (line) => {
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(line);
  } catch {
    return;
  }
  handle(c).then((ok) => out({ re: c.re, ok }), (err) => out({ re: c.re, error: err instanceof Error ? err.message : String(err) }));
});
console.log("NODE-STARTED");
