// A Telefunc app scaled across processes with edgeplane: server-side `Broadcast.publish/subscribe` from telefunc,
// with `config.broadcast.transport` set to edgeplane's transport over NATS. Run two of these on different ports
// against one NATS: a browser (or curl) subscribed on one process receives what the other publishes.
//
//   NATS_URL=nats://127.0.0.1:4222 PORT=3001 npx tsx examples/telefunc/server.ts
//   NATS_URL=nats://127.0.0.1:4222 PORT=3002 npx tsx examples/telefunc/server.ts
//   curl -N http://127.0.0.1:3001/events?key=chat            # subscriber on process A
//   curl -X POST -d '{"text":"hi"}' http://127.0.0.1:3002/publish?key=chat   # publish on process B
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { Broadcast, config } from "telefunc";
import { broadcastTransport } from "../../src/broadcast-transport.ts";
import { connectNats } from "../../src/exchange/nats/connect.ts";
import { NatsExchange } from "../../src/exchange/nats/nats-exchange.ts";

const env = globalThis.process.env;
const natsUrl = env.NATS_URL ?? "nats://127.0.0.1:4222";
const port = Number(env.PORT ?? 3000);

// The five lines a Telefunc user adds:
const nc = await connectNats({ servers: natsUrl, name: `telefunc-${port}` });
const exchange = new NatsExchange(nc, { prefix: env.EDGEPLANE_PREFIX ?? "telefunc-demo" });
await exchange.ready();
config.broadcast.transport = broadcastTransport(exchange);

const app = new Hono();

// Server-sent events of one Broadcast key, fed by telefunc's own subscriber machinery.
app.get("/events", (c) => {
  const key = c.req.query("key") ?? "chat";
  return streamSSE(c, async (stream) => {
    const queue: Array<{ data: unknown; seq: number; timestamp: number }> = [];
    let wake: (() => void) | undefined;
    const unsubscribe = Broadcast.subscribe(key, (data: unknown, info: { seq: number; timestamp: number }) => {
      queue.push({ data, seq: info.seq, timestamp: info.timestamp });
      wake?.();
    });
    stream.onAbort(() => {
      unsubscribe();
      wake?.();
    });
    await stream.writeSSE({ event: "ready", data: JSON.stringify({ key, port }) });
    while (!stream.aborted) {
      if (queue.length === 0) await new Promise<void>((r) => (wake = r));
      wake = undefined;
      for (const m of queue.splice(0)) await stream.writeSSE({ id: String(m.seq), data: JSON.stringify(m) });
    }
  });
});

app.post("/publish", async (c) => {
  const key = c.req.query("key") ?? "chat";
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    return c.json({ error: { code: "BAD_FRAME", message: "body must be JSON" } }, 400);
  }
  try {
    const info = await Broadcast.publish(key, body as never);
    return c.json({ seq: info.seq, timestamp: info.timestamp, port });
  } catch (err) {
    const code = (err as { code?: string }).code ?? "INTERNAL";
    return c.json({ error: { code, message: String((err as Error).message) } }, 503);
  }
});

app.get("/", (c) =>
  c.html(`<!doctype html><meta charset="utf-8"><title>Telefunc + edgeplane (${port})</title>
<h1>Telefunc Broadcast on process :${port}</h1>
<form id=f><input id=t autofocus placeholder="say something"><button>send</button></form><ol id=log></ol>
<script>
const es = new EventSource("/events?key=chat");
es.onmessage = (e) => { const m = JSON.parse(e.data); const li = document.createElement("li");
  li.textContent = "#" + m.seq + " " + JSON.stringify(m.data); log.append(li); };
f.onsubmit = async (e) => { e.preventDefault(); await fetch("/publish?key=chat", { method: "POST",
  body: JSON.stringify({ text: t.value, from: ${port} }) }); t.value = ""; };
</script>`));

serve({ fetch: app.fetch, port, hostname: "127.0.0.1" }, (info) => {
  console.log(`telefunc example listening on http://127.0.0.1:${info.port} (NATS ${natsUrl})`);
});

const shutdown = async () => {
  await exchange.close();
  await nc.drain();
  globalThis.process.exit(0);
};
globalThis.process.on("SIGTERM", shutdown);
globalThis.process.on("SIGINT", shutdown);
