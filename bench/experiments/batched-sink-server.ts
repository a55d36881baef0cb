// EXPERIMENT (not shipped): the same Hub on Node, with a WebSocket sink that batches like the raw baseline does —
// frames are collected until the end of the event-loop turn (setImmediate), then written with the socket corked, so
// N frames to one socket cost one writev instead of N — and a fanout chunk larger than the room, so several messages
// are fanned out before the turn ends. Used by batched-sink.ts to show how much of scenario 1's gap these two
// changes close. Prints "LISTENING <port>".
import { createServer } from "node:http";
import type { Socket } from "node:net";
import { WebSocketServer } from "ws";
import { Hub } from "../../src/hub.ts";
import { webSocketConnection } from "../../src/transport/websocket.ts";

const hub = new Hub({ log: () => {}, fanout: { chunkSize: Number(process.env.CHUNK ?? 4096) } });
const wss = new WebSocketServer({ noServer: true });
const server = createServer((_q, r) => r.writeHead(404).end());
server.on("upgrade", (req, sock, head) =>
  wss.handleUpgrade(req, sock, head, (ws) => {
    const raw = (ws as unknown as { _socket: Socket })._socket;
    let pending: string[] = [];
    let pendingBytes = 0;
    let scheduled = false;
    const flush = () => {
      scheduled = false;
      const batch = pending;
      pending = [];
      pendingBytes = 0;
      raw.cork();
      for (const t of batch) ws.send(t);
      raw.uncork();
    };
    const h = webSocketConnection(hub, {
      send: (t) => {
        pending.push(t);
        pendingBytes += t.length;
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      },
      close: (c, r) => ws.close(c, r),
      get bufferedAmount() {
        return ws.bufferedAmount + pendingBytes;
      },
    });
    ws.on("message", (d) => h.message(d.toString()));
    ws.on("close", () => h.closed());
  }));
server.listen(0, "127.0.0.1", () => {
  const a = server.address();
  console.log(`LISTENING ${typeof a === "object" && a ? a.port : 0}`);
});
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
