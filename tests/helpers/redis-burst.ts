// Child script for tests: publish N sequenced messages of SIZE bytes to ROOM as fast as the exchange allows (at most
// 200 in flight), printing STARTED before and DONE after. Env: URL, PREFIX, ROOM, N, SIZE, HISTORY.
import process from "node:process";
import { connectRedis } from "../../src/exchange/redis-connect.ts";

const env = process.env;
const ex = await connectRedis(env.URL!, { nodeId: "burst", prefix: env.PREFIX, historySize: Number(env.HISTORY ?? 1000) });
const n = Number(env.N ?? 1000);
const filler = "x".repeat(Number(env.SIZE ?? 1000));
console.log("STARTED");
let inflight = 0, failed = 0;
for (let i = 0; i < n; i++) {
  while (inflight >= 200) await new Promise((r) => setTimeout(r, 1));
  inflight++;
  ex.publish(env.ROOM!, `${i}:${filler}`).catch(() => failed++).finally(() => inflight--);
}
while (inflight > 0) await new Promise((r) => setTimeout(r, 5));
console.log(`DONE sent=${n} failed=${failed}`);
await ex.close();
process.exit(0);
