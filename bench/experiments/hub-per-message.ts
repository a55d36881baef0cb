import { Hub } from "../../src/hub.ts";
const rooms = Number(process.argv[2] ?? 1000), members = Number(process.argv[3] ?? 1), N = Number(process.argv[4] ?? 200000);
const hub = new Hub({ log: () => {} });
let delivered = 0;
const sink = { write(fs: readonly { seq?: number }[]) { for (const f of fs) if (f.seq !== undefined) delivered++; }, close() {} };
for (let r = 0; r < rooms; r++) for (let m = 0; m < members; m++) await hub.join(hub.connect(sink).id, `r${r}`);
const pub = hub.connect({ write() {}, close() {} });
const payload = "x".repeat(100);
const frames = Array.from({ length: rooms }, (_, r) => `{"t":"pub","room":"r${r}","data":"${payload}"}`);
async function run(n: number) {
  const t = performance.now();
  delivered = 0;
  for (let i = 0; i < n; i += 1000) {
    for (let j = 0; j < 1000; j++) void hub.receive(pub.id, frames[(i + j) % rooms]);
    await new Promise((r) => setImmediate(r));
  }
  while (delivered < n * members) await new Promise((r) => setImmediate(r));
  const ms = performance.now() - t;
  return ms;
}
await run(20000);
const ms = await run(N);
console.log(`${rooms} rooms × ${members}: ${(ms * 1000 / N).toFixed(2)} µs/msg, ${(N * members / ms * 1000 / 1e6).toFixed(2)}M deliveries/s`);
await hub.close();
