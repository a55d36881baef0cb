// Closing figures of issue 21 (a script, not a test): two crossws Node servers, 5 ws clients each, 100 msg/s per
// client, 3,000 messages; the broker goes down for 1 s one second in (Redis restarts empty, as without persistence).
// Compares crossws's own redis() driver with edgeplaneSync over Redis and over NATS: how many messages some receiver
// never got, and whether anything reported it.
//
//   flock -x /work/locks/heavy.lock npx tsx bench/crossws-restart.ts [--runs 5] [--only crossws-redis,redis,nats]
import { type Broker, type Driver, type PhaseResult, runPhase, startFleet } from "../tests/helpers/crossws-scenario.ts";

const argv = globalThis.process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1] : dflt;
};
const runs = Number(arg("runs", "5"));
const all: Array<{ name: string; broker: Broker; driver: Driver }> = [
  { name: "crossws-redis", broker: "redis", driver: "crossws-redis" },
  { name: "redis", broker: "redis", driver: "edgeplane" },
  { name: "nats", broker: "nats", driver: "edgeplane" },
];
const setups = all.filter((s) => arg("only", "crossws-redis,redis,nats").split(",").includes(s.name));

const label: Record<string, string> = {
  "crossws-redis": "crossws redis() driver, Redis",
  redis: "edgeplaneSync, Redis exchange",
  nats: "edgeplaneSync, NATS exchange",
};
const rows: string[] = [];
for (const s of setups) {
  const results: PhaseResult[] = [];
  for (let run = 0; run < runs; run++) {
    const fleet = await startFleet(s.broker, s.driver);
    try {
      // warm the servers up (JIT, connections) the same way for every driver, then the measured run
      await runPhase(fleet, { name: `warm${run}`, messagesPerClient: 50 });
      const r = await runPhase(fleet, { name: `run${run}`, messagesPerClient: 300, restart: { atMs: 1000, downMs: 1000 } });
      results.push(r);
      console.log(
        `${s.name} run ${run + 1}/${runs}: ${r.messagesLostSilent} lost silently, ${r.messagesLostReported} lost and reported ` +
          `(of ${r.sent}); onError ${JSON.stringify(r.syncErrors)}; publish failures ${r.publishFailures}, discontinuities ` +
          `${r.discontinuities}; duplicates ${r.duplicates}, order violations ${r.orderViolations}, crashes ${r.crashes}`,
      );
    } finally {
      await fleet.stop();
    }
  }
  const span = (f: (r: PhaseResult) => number) => {
    const v = results.map(f);
    return `${Math.min(...v)}–${Math.max(...v)}`;
  };
  const onError = span((r) => Object.values(r.syncErrors).reduce((a, n) => a + n, 0));
  rows.push(
    `| ${label[s.name]} | ${runs} | ${span((r) => r.messagesLostSilent)} | ${span((r) => r.messagesLostReported)} | ` +
      `${results.filter((r) => r.messagesLostSilent > 0).length} | ${onError} | ${span((r) => r.duplicates)} | ${span((r) => r.crashes)} |`,
  );
}
console.log(`\nper run: 3,000 messages, each to 9 receivers (5 on the other server); broker down 1 s at t = 1 s\n`);
console.log("| driver | runs | messages lost silently | lost and reported | runs with silent loss | onError calls | duplicates | crashed servers |");
console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
for (const r of rows) console.log(r);
