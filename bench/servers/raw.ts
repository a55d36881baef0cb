// The raw baseline server for each runtime: the runtime's own WebSocket server and a hand-written room broadcast
// batched the way a careful hand-written server does it: one outbox per socket, flushed once per event-loop turn,
// corked where the runtime can (Node `socket.cork()`, Bun `ws.cork()`).
// BENCH_RAW_MODE=frame-once (Node only): the stronger hand-tuned loop — each message's WebSocket frame (header +
// UTF-8, server frames are unmasked so every member gets identical bytes) is built once, a socket's batch is one
// buffer, and sockets with the same batch (every member of a room) get the very same buffer: one write per socket
// per turn, no per-socket encoding.
// Protocol: "J<room>" joins (answered "j<room>"), "P<room>|<payload>" broadcasts <payload> to the room.
// Also: GET /mem → {rss, heapUsed} after a forced GC. Prints "LISTENING <port>".
import process from "node:process";
import { mem } from "./_mem.ts";

type Send = (text: string) => void;
interface Peer {
  send: Send;
  cork: (fn: () => void) => void;
  out: string[];
  rooms: Set<string>;
  /** frame-once mode: the raw socket and the prebuilt frames of this turn */
  write?: (b: Uint8Array) => void;
  frames?: Uint8Array[];
}

const FRAME_ONCE = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.BENCH_RAW_MODE === "frame-once";
const enc = new TextEncoder();
function wsTextFrame(text: string): Uint8Array {
  const body = enc.encode(text);
  const n = body.length;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const out = new Uint8Array(head + n);
  out[0] = 0x81;
  if (n < 126) out[1] = n;
  else if (n < 65536) {
    out[1] = 126;
    out[2] = n >> 8;
    out[3] = n & 255;
  } else {
    out[1] = 127;
    new DataView(out.buffer).setUint32(6, n);
  }
  out.set(body, head);
  return out;
}
let prevFrames: Uint8Array[] | undefined;
let prevBuf: Uint8Array | undefined;
function batchOf(frames: Uint8Array[]): Uint8Array {
  if (frames.length === 1) return frames[0];
  if (prevFrames && prevFrames.length === frames.length && prevFrames.every((f, i) => f === frames[i])) return prevBuf!;
  const buf = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  let at = 0;
  for (const f of frames) {
    buf.set(f, at);
    at += f.length;
  }
  prevFrames = frames;
  prevBuf = buf;
  return buf;
}

// Flush at the end of the event-loop turn (a macrotask), not in a microtask: Deno and Bun run microtasks after every
// message callback, so a microtask flush would write each message separately instead of batching the burst.
const later: (fn: () => void) => void = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.BENCH_RAW_FLUSH === "micro"
  ? queueMicrotask
  : typeof (globalThis as { setImmediate?: unknown }).setImmediate === "function"
  ? (fn) => (globalThis as unknown as { setImmediate: (f: () => void) => void }).setImmediate(fn)
  : (fn) => setTimeout(fn, 0);

const rooms = new Map<string, Set<Peer>>();
const dirty = new Set<Peer>();
let scheduled = false;

function flush(): void {
  scheduled = false;
  if (FRAME_ONCE) {
    for (const p of dirty) {
      const frames = p.frames!;
      p.frames = [];
      p.write!(batchOf(frames));
    }
    dirty.clear();
    return;
  }
  for (const p of dirty) {
    const batch = p.out;
    p.out = [];
    p.cork(() => {
      for (const t of batch) p.send(t);
    });
  }
  dirty.clear();
}

function onText(p: Peer, text: string): void {
  const c = text.charCodeAt(0);
  if (c === 0x50 /* P */) {
    const bar = text.indexOf("|");
    const members = rooms.get(text.slice(1, bar));
    if (!members) return;
    const payload = text.slice(bar + 1);
    if (FRAME_ONCE) {
      const f = wsTextFrame(payload);
      for (const m of members) {
        m.frames!.push(f);
        dirty.add(m);
      }
    } else {
      for (const m of members) {
        m.out.push(payload);
        dirty.add(m);
      }
    }
    if (!scheduled) {
      scheduled = true;
      later(flush);
    }
  } else if (c === 0x4a /* J */) {
    const room = text.slice(1);
    let set = rooms.get(room);
    if (!set) rooms.set(room, (set = new Set()));
    set.add(p);
    p.rooms.add(room);
    p.send(`j${room}`);
  }
}

function gone(p: Peer): void {
  for (const r of p.rooms) {
    const set = rooms.get(r);
    set?.delete(p);
    if (set && set.size === 0) rooms.delete(r);
  }
  dirty.delete(p);
}

const port = Number(process.env.BENCH_PORT ?? 0);
/** BENCH_RAW_CORK=0 turns corking off (to check that the corked loop really is the faster baseline). */
const CORK = process.env.BENCH_RAW_CORK !== "0";
const g = globalThis as unknown as Record<string, any>;

if (g.Bun) {
  const server = g.Bun.serve({
    port,
    hostname: "127.0.0.1",
    async fetch(req: Request, srv: any) {
      if (new URL(req.url).pathname === "/mem") return Response.json(await mem());
      if (srv.upgrade(req, { data: {} })) return undefined;
      return new Response("upgrade required", { status: 426 });
    },
    websocket: {
      open(ws: any) {
        ws.data.peer = { send: (t: string) => ws.send(t), cork: CORK ? (fn: () => void) => ws.cork(fn) : (fn: () => void) => fn(), out: [], rooms: new Set() } satisfies Peer;
      },
      message(ws: any, msg: string | Uint8Array) {
        onText(ws.data.peer, typeof msg === "string" ? msg : new TextDecoder().decode(msg));
      },
      close(ws: any) {
        gone(ws.data.peer);
      },
    },
  });
  console.log(`LISTENING ${server.port}`);
} else if (g.Deno) {
  const Deno = g.Deno;
  Deno.serve({ port, hostname: "127.0.0.1", onListen: (a: { port: number }) => console.log(`LISTENING ${a.port}`) }, async (req: Request) => {
    if (new URL(req.url).pathname === "/mem") return Response.json(await mem());
    const { socket, response } = Deno.upgradeWebSocket(req);
    const p: Peer = { send: (t) => socket.send(t), cork: (fn) => fn(), out: [], rooms: new Set() };
    socket.onmessage = (e: MessageEvent) => onText(p, typeof e.data === "string" ? e.data : new TextDecoder().decode(e.data));
    socket.onclose = () => gone(p);
    socket.onerror = () => gone(p);
    return response;
  });
} else {
  const { createServer } = await import("node:http");
  const { WebSocketServer } = await import("ws");
  const wss = new WebSocketServer({ noServer: true });
  const server = createServer(async (req, res) => {
    if (req.url === "/mem") {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(await mem()));
    } else res.writeHead(426).end();
  });
  server.on("upgrade", (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      // deno-lint-ignore no-explicit-any
      const raw = (ws as any)._socket as import("node:net").Socket;
      const p: Peer = {
        send: (t) => ws.send(t),
        cork: (fn) => {
          if (!CORK) return fn();
          raw.cork();
          fn();
          raw.uncork();
        },
        out: [],
        rooms: new Set(),
        write: (b) => raw.write(b),
        frames: [],
      };
      ws.on("message", (data, isBinary) => onText(p, isBinary ? String(data) : data.toString()));
      ws.on("close", () => gone(p));
      ws.on("error", () => gone(p));
    });
  });
  server.listen(port, "127.0.0.1", () => {
    const a = server.address();
    console.log(`LISTENING ${typeof a === "object" && a ? a.port : port}`);
  });
}

// Exit on SIGTERM (the harness stops servers so), so a `--cpu-prof` profile of the baseline is written too.
process.on("SIGTERM", () => process.exit(0));
