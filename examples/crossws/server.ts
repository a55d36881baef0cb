// A crossws server whose pub/sub reaches every other instance through edgeplane. Run two against one NATS:
//
//   NATS_URL=nats://127.0.0.1:4222 PORT=3001 npx tsx examples/crossws/server.ts
//   NATS_URL=nats://127.0.0.1:4222 PORT=3002 npx tsx examples/crossws/server.ts
//
// then connect a WebSocket client to each (`npx wscat -c 'ws://127.0.0.1:3001/_ws?topics=lobby'`) and send
// {"topic":"lobby","data":"hi"} on one: the other prints "hi". Add "ordered":true for one order on every server.
// REDIS_URL instead of NATS_URL uses Redis; neither uses the in-process memory exchange (one server only).
// Runs on Node (crossws's Node adapter), and as it is under `deno run -A` and `bun` with crossws's adapter for those.
import { edgeplaneSync } from "../../src/crossws/sync.ts";
import { exchangeFromEnv } from "../chat/exchange.ts";
import { relayHooks } from "./app.ts";
import { serveCrossws } from "./serve.ts";

const env = globalThis.process.env;
const port = Number(env.PORT ?? 3000);

const { exchange, describe, release } = await exchangeFromEnv((k) => env[k]);
const sync = edgeplaneSync(exchange, {
  channel: env.CHANNEL ?? "crossws-demo",
  onDiscontinuity: (d) => console.warn(`discontinuity in shard ${d.shard}: messages after ${d.afterSeq} lost (${d.reason}); resync its topics`),
});
const served = await serveCrossws({
  sync,
  hooks: relayHooks({ publishOrdered: sync.publishOrdered }),
  onError: (err, { stage }) => console.error(`sync ${stage} error:`, err instanceof Error ? err.message : err),
}, port);
await sync.ready();
console.log(`crossws server listening on http://127.0.0.1:${new URL(served.url).port} (WebSocket ${served.url}/_ws?topics=lobby, ${served.runtime}, backplane ${describe})`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await served.close();
  await exchange.close();
  await release();
  globalThis.process.exit(0);
};
globalThis.process.on("SIGINT", stop);
globalThis.process.on("SIGTERM", stop);
