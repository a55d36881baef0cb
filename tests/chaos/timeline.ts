// Diagnose a violation: the timeline of one room around a seq range in a recorded chaos run — faults, acks,
// deliveries (per subscriber, with epoch, ts and transport@node) and discontinuities, in time order.
// Usage: tsx tests/chaos/timeline.ts <run dir> <room> <seqLo> [seqHi]
import process from "node:process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const [dir, room, seqLo, seqHi] = process.argv.slice(2);
if (!dir || !room || seqLo === undefined) {
  console.error("usage: tsx tests/chaos/timeline.ts <run dir> <room> <seqLo> [seqHi]");
  process.exit(2);
}
const lo = Number(seqLo), hi = Number(seqHi ?? seqLo);
// deno-lint-ignore no-explicit-any
const events: any[] = [];
for (const f of readdirSync(dir).filter((f) => f.endsWith(".jsonl"))) {
  for (const line of readFileSync(join(dir, f), "utf8").split("\n")) {
    if (!line) continue;
    try {
      const e = JSON.parse(line);
      if (e.ev === "fault" || (e.room === room && (e.ev === "disc" || (e.seq >= lo && e.seq <= hi)))) events.push(e);
    } catch { /* torn line */ }
  }
}
events.sort((a, b) => a.t - b.t);
const t0 = events.find((e) => e.ev === "ack" || e.ev === "deliver")?.t ?? 0;
for (const e of events) {
  if (e.t < t0 - 10_000 || e.t > t0 + 20_000) continue;
  const dt = ((e.t - t0) / 1000).toFixed(3).padStart(8);
  if (e.ev === "fault") console.log(dt, "FAULT", e.kind, e.target, JSON.stringify({ ...e, ev: undefined, kind: undefined, target: undefined, t: undefined }));
  else if (e.ev === "ack") console.log(dt, "ack ", e.node, e.id, "seq", e.seq, "ts", e.ts);
  else if (e.ev === "deliver") console.log(dt, "dlv ", e.sub, e.id, "seq", e.seq, "epoch", e.epoch, "ts", e.ts, e.via ?? "");
  else if (e.ev === "disc") console.log(dt, "DISC", e.sub, `${e.afterSeq} -> ${e.nextSeq}`, e.reason ?? "");
}
