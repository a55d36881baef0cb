// Run by Bun straight from TypeScript: the Bun adapter and the bundled client over Bun's own WebSocket.
import { Hono } from "hono";
import { Hub } from "edgeplane";
import { type ClientMessage, EdgeplaneClient } from "edgeplane/client";
import { edgeplaneRoutes } from "edgeplane/adapters/hono";
import { serve, upgradeWebSocket } from "edgeplane/adapters/bun";

const hub = new Hub();
const routes = edgeplaneRoutes(hub, { upgradeWebSocket });
const server = await serve(new Hono().route("/", routes.app), { port: 0, onListen: () => {} });
const client = new EdgeplaneClient({ url: server.url, transports: ["ws"] });
const received = new Promise<ClientMessage>((resolve) => client.on("message", (m) => m.data === "from the server" && resolve(m)));
const joined = await client.join("lobby");
const published = await hub.publish("lobby", "from the server");
const m = await received;
const ack = await client.publish("lobby", "from the client");
console.log(JSON.stringify({
  transport: client.transport,
  joinedAt: joined.seq,
  published: published.seq,
  received: { seq: m.seq, data: m.data },
  ackSeq: ack.seq,
}));
client.close();
routes.close();
await hub.close();
await server.close();
