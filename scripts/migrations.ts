// Every live-migration direction at the full scale (4 nodes, 100 rooms, 1,000 msg/s; MIGRATION_RATE, MIGRATION_DWELL_MS
// and MIGRATION_TIMEOUT_MS as in tests/chain-migration.test.ts, which runs a shorter selection in the suite):
// Redis → Redis, Redis → NATS, NATS → Redis, NATS → NATS under another prefix, and Redis → NATS → Redis (rolled back).
// Starts its own redis-servers and nats-server on free loopback ports and stops them by PID.
//
//   node --import tsx scripts/migrations.ts [--only=redis-redis,nats-redis,...]
//   deno run -A scripts/migrations.ts
//   bun run scripts/migrations.ts
//
// Prints one line per run and a last line `MIGRATIONS {json}`; exits 1 when a run broke the promise (a message lost,
// duplicated or reordered, a seq reused, a publish failed).
import { describeMigration, type MigrationBrokers, MIGRATION_SCALE, migrationProblems, runMigration } from "../tests/helpers/migration.ts";
import { startNatsServer } from "../tests/helpers/nats-server.ts";
import { startRedis } from "../tests/helpers/redis-server.ts";

const argv = globalThis.process?.argv ?? [];
const only = argv.find((a) => a.startsWith("--only="))?.slice(7).split(",");
const [redis, redis2, nats] = await Promise.all([startRedis(), startRedis(), startNatsServer()]);
const t = MIGRATION_SCALE.timeoutMs;
const runs: Array<[string, MigrationBrokers | MigrationBrokers[]]> = [
  ["redis-redis", { redisUrl: redis.url, newKind: "redis", newUrl: redis2.url, prefix: "r2r", timeoutMs: t }],
  ["redis-nats", { redisUrl: redis.url, newKind: "nats", newUrl: nats.url, prefix: "r2n", timeoutMs: t }],
  ["nats-redis", { oldKind: "nats", oldUrl: nats.url, newKind: "redis", newUrl: redis.url, prefix: "n2r", timeoutMs: t }],
  ["nats-nats", { oldKind: "nats", oldUrl: nats.url, newKind: "nats", newUrl: nats.url, prefix: "n2n", timeoutMs: t }],
  ["redis-nats-redis", [
    { oldKind: "redis", oldUrl: redis.url, newKind: "nats", newUrl: nats.url, prefix: "rb", timeoutMs: t },
    { oldKind: "nats", oldUrl: nats.url, newKind: "redis", newUrl: redis.url, prefix: "rb", newPrefix: "rb-back", timeoutMs: t },
  ]],
];
const unknown = only?.filter((n) => !runs.some(([name]) => name === n)) ?? [];
if (unknown.length) {
  await Promise.all([redis.stop(), redis2.stop(), nats.cleanup()]);
  console.error(`unknown run(s) ${unknown.join(", ")}; known: ${runs.map(([n]) => n).join(", ")}`);
  globalThis.process.exit(2);
}
const results: Record<string, string[]> = {};
try {
  for (const [name, legs] of runs) {
    if (only && !only.includes(name)) continue;
    const r = await runMigration(legs, MIGRATION_SCALE);
    results[name] = migrationProblems(MIGRATION_SCALE, r);
    console.log(`[${name}] ${results[name].length ? "BROKEN" : "ok"} ${describeMigration(MIGRATION_SCALE, r)}`);
    for (const p of [...results[name], ...r.problems]) console.log(`  ${p}`);
  }
} finally {
  await Promise.all([redis.stop(), redis2.stop(), nats.cleanup()]);
}
console.log(`MIGRATIONS ${JSON.stringify(results)}`);
if (Object.values(results).some((p) => p.length > 0)) globalThis.process.exitCode = 1;
