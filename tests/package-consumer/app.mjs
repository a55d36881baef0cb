// Plain Node ESM, no loader, no TypeScript: what `npm i edgeplane @hono/node-server ws` gives a user.
import { Hono } from "hono";
import { WebSocket } from "ws";
import { Hub, MemoryExchange } from "edgeplane";
import { EdgeplaneClient } from "edgeplane/client";
import { edgeplaneRoutes } from "edgeplane/adapters/hono";
import { serve, upgradeWebSocket } from "edgeplane/adapters/node";

// 1. A memory hub: the first publish of a room is seq 1, and a joined connection receives it.
const hub = new Hub({ exchange: new MemoryExchange() });
let gotFrame;
const frame = new Promise((resolve) => (gotFrame = resolve));
const conn = hub.connect({
  write: (frames) => frames.map((f) => JSON.parse(f.text)).filter((f) => f.t === "msg").forEach(gotFrame),
  close() {},
});
await hub.join(conn.id, "lobby");
const { seq } = await hub.publish("lobby", "hello");
const memory = { seq, frame: await frame };

// 2. The Node adapter serving the routes, and the bundled client talking to it over WebSocket (`ws` on Node 20).
const routes = edgeplaneRoutes(hub, { upgradeWebSocket });
const server = await serve(new Hono().route("/", routes.app), { port: 0, onListen: () => {} });
const client = new EdgeplaneClient({ url: server.url, transports: ["ws"], WebSocket });
const received = new Promise((resolve) => client.on("message", (m) => m.data === "from the server" && resolve(m)));
await client.join("lobby");
await hub.publish("lobby", "from the server");
const m = await received;
const ack = await client.publish("lobby", "from the client");
const served = { transport: client.transport, received: { seq: m.seq, data: m.data }, ackSeq: ack.seq };

client.close();
routes.close();
await hub.close();
await server.close();
console.log(JSON.stringify({ memory, served }));
