// Live migration with real node processes: nodes publishing across many rooms move one by one through
// phase 1 (old broker) → 2 (chain, authority old) → 3 (chain, authority new) → 4 (new only), each restart a new process
// of the current runtime. The chain is generic over exchanges: Redis → a second redis-server (4 nodes, 100 rooms), and
// NATS as the new and the old side (Redis → NATS → Redis: a migration rolled back; NATS → NATS under another prefix).
// scripts/migrations.ts runs every direction (Redis → Redis, Redis → NATS, NATS → Redis, NATS → NATS, the round trip)
// at the full scale.
import { after, before, describe, it } from "node:test";
import { assertEquals } from "@std/assert";
import { type RedisServer, startRedis } from "./helpers/redis-server.ts";
import { describeMigration, MIGRATION_SCALE, migrationProblems, type MigrationScale, runMigration } from "./helpers/migration.ts";
import { currentRuntime } from "./helpers/process.ts";
import { type NatsServer, startNatsServer } from "./helpers/nats-server.ts";
import type { MigrationReport } from "./helpers/migration.ts";

function printAndAssert(label: string, scale: MigrationScale, r: MigrationReport) {
  console.log(`[migration ${label} ${currentRuntime()}] ${describeMigration(scale, r)}`);
  if (r.problems.length) console.log(r.problems.join("\n"));
  assertEquals(migrationProblems(scale, r), [], `${label}: exactly once, in seq order, no seq reused, nothing failed`);
}

const timeoutMs = MIGRATION_SCALE.timeoutMs;
const scale = MIGRATION_SCALE;

describe("live migration Redis → new broker across processes", () => {
  let oldRedis: RedisServer, newRedis: RedisServer;
  before(async () => {
    [oldRedis, newRedis] = await Promise.all([startRedis(), startRedis()]);
  });
  after(async () => {
    await Promise.all([oldRedis?.stop(), newRedis?.stop()]);
  });

  // An explicit timeout: Bun applies the preload's default only to the first file of a multi-file run.
  it("4 nodes, 100 rooms, phases 1→2→3→4: every acked message exactly once on every node, in seq order, no seq reused", { timeout: 600_000 }, async () => {
    const r = await runMigration({ redisUrl: oldRedis.url, newKind: "redis", newUrl: newRedis.url, timeoutMs }, scale);
    printAndAssert("redis→redis", scale, r);
  });
});

// NATS as the new and the old side, at a smaller scale to keep the suite short (each leg restarts every node three
// times): 2 nodes, so at every step one node runs a phase ahead of the other. Phase 3 of a leg away from NATS seals the
// NATS backplane (every live node refuses to sequence, a node one phase behind follows the seal to the new authority)
// and seeds the new broker from NATS positions. `scripts/migrations.ts` runs every direction at the full scale above.
const small: MigrationScale = { ...scale, nodes: 2, rooms: 50 };

describe("live migration to and away from NATS across processes", () => {
  let redis: RedisServer, nats: NatsServer;
  before(async () => {
    [redis, nats] = await Promise.all([startRedis(), startNatsServer()]);
  });
  after(async () => {
    await Promise.all([redis?.stop(), nats?.cleanup()]);
  });
  it("a migration rolled back: Redis → NATS, then NATS → Redis (a fresh key prefix: the old one stays sealed), checked as one run", { timeout: 900_000 }, async () => {
    const r = await runMigration([
      { oldKind: "redis", oldUrl: redis.url, newKind: "nats", newUrl: nats.url, prefix: "rb", timeoutMs },
      { oldKind: "nats", oldUrl: nats.url, newKind: "redis", newUrl: redis.url, prefix: "rb", newPrefix: "rb-back", timeoutMs },
    ], small);
    printAndAssert("redis→nats→redis", small, r);
  });
  it("NATS → NATS under another prefix, phases 1→2→3→4: exactly once, in seq order, no seq reused", { timeout: 600_000 }, async () => {
    const r = await runMigration({ oldKind: "nats", oldUrl: nats.url, newKind: "nats", newUrl: nats.url, prefix: "n2n", timeoutMs }, small);
    printAndAssert("nats→nats", small, r);
  });
});
