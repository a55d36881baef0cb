// Socket.IO 4 server (Node), websocket transport only, optionally with @socket.io/redis-adapter (BENCH_REDIS_URL).
// Events: "join"(room) → socket.join(room) + emit "joined"; "pub"(room, data) → io.to(room).emit("m", data).
// GET /mem → RSS after GC. Prints "LISTENING <port>".
import { createServer } from "node:http";
import { Server } from "socket.io";

const port = Number(process.env.BENCH_PORT ?? 0);
const httpServer = createServer((req, res) => {
  if (req.url === "/mem") {
    const g = globalThis as { gc?: () => void };
    for (let i = 0; i < 3; i++) g.gc?.();
    const m = process.memoryUsage();
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed }));
  }
});
const io = new Server(httpServer, { transports: ["websocket"], serveClient: false, perMessageDeflate: false });
if (process.env.BENCH_REDIS_URL) {
  const { createClient } = await import("redis");
  const { createAdapter } = await import("@socket.io/redis-adapter");
  const pub = createClient({ url: process.env.BENCH_REDIS_URL });
  const sub = pub.duplicate();
  pub.on("error", () => {});
  sub.on("error", () => {});
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub));
}
io.on("connection", (socket) => {
  socket.on("join", (room: string) => {
    void socket.join(room);
    socket.emit("joined", room);
  });
  socket.on("pub", (room: string, data: string) => {
    io.to(room).emit("m", data);
  });
});
httpServer.listen(port, "127.0.0.1", () => {
  const a = httpServer.address();
  console.log(`LISTENING ${typeof a === "object" && a ? a.port : port}`);
});
process.on("SIGTERM", () => process.exit(0));
