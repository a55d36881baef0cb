/**
 * Walk three nodes through the four migration phases while they publish, then print what was sent, acknowledged and
 * delivered (and any duplicate, loss or reordering). Brokers must be running:
 *
 *   REDIS_URL=redis://127.0.0.1:6379 NEW_KIND=nats NEW_URL=nats://127.0.0.1:4222 npx tsx examples/migration/run-phases.ts
 *   # or try it with a second Redis as the "new" broker:
 *   REDIS_URL=redis://127.0.0.1:6379 NEW_KIND=redis NEW_URL=redis://127.0.0.1:6380 npx tsx examples/migration/run-phases.ts
 *
 * Each node is `examples/migration/node.ts` started with PHASE=1..4 (see `phases.ts` for the config of each phase);
 * a node moves to the next phase by being stopped (SIGTERM: it drains) and started again with the new PHASE.
 * Options: NODES (3), ROOMS (100), RATE (msg/s over all nodes, 300), DWELL_MS (time per step, 2000),
 * PREFIX (key/subject prefix; default a fresh `demo-…`, because phase 3 seals the old Redis for that prefix).
 */
import process from "node:process";
import { runMigration } from "../../tests/helpers/migration.ts";

const report = await runMigration(
  {
    redisUrl: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
    newKind: (process.env.NEW_KIND ?? "nats") as "nats" | "redis",
    newUrl: process.env.NEW_URL ?? "nats://127.0.0.1:4222",
    // Phase 3 seals the old Redis for this prefix: a fresh prefix keeps the demo away from real data.
    prefix: process.env.PREFIX ?? `demo-${Date.now().toString(36)}`,
  },
  {
    nodes: Number(process.env.NODES ?? 3),
    rooms: Number(process.env.ROOMS ?? 100),
    rate: Number(process.env.RATE ?? 300),
    dwellMs: Number(process.env.DWELL_MS ?? 2000),
  },
);
const { problems, ...counts } = report;
console.log(JSON.stringify(counts, null, 2));
if (problems.length) console.log(problems.join("\n"));
const clean = report.dup === 0 && report.lost === 0 && report.reordered === 0 && report.seqReused === 0 && report.ackedUndelivered === 0;
console.log(clean ? "migration: exactly once, in order, no seq reused" : "migration: PROBLEMS (see above)");
process.exit(clean ? 0 : 1);
