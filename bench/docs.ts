// Refresh the results block of docs/performance.md from a result file (table, chart link, run conditions):
//   tsx bench/docs.ts bench/results/<date>.json
import { readFileSync, writeFileSync } from "node:fs";
import { basename, join, relative } from "node:path";
import { ROOT } from "./lib/harness.ts";
import { type Row, table } from "./lib/report.ts";

const file = process.argv[2];
if (!file) throw new Error("usage: tsx bench/docs.ts bench/results/<date>.json");
const res = JSON.parse(readFileSync(file, "utf8")) as {
  env: Record<string, any>;
  rows: Row[];
  warnings?: string[];
  errors?: Array<{ scenario: number; error: string }>;
};
const doc = join(ROOT, "docs", "performance.md");
const svg = relative(join(ROOT, "docs"), file.replace(/\.json$/, ".svg"));
const e = res.env;
const missed = res.rows.filter((r) => r.pass === false).map((r) => r.title);
const met = res.rows.filter((r) => r.pass === true).map((r) => r.title);
const scenarios = [...new Set(res.rows.map((r) => r.scenario))].sort((a, b) => a - b);
const which = scenarios.length >= 6 ? "full run" : `run of scenarios ${scenarios.join(", ")}`;
const block = [
  `Latest ${which}: **${e.date}** (\`${basename(file)}\`), ${e.cpus} × ${e.cpuModel}, ${e.memGiB} GiB; Node ${e.node}, ${String(e.deno).split(" ").slice(0, 2).join(" ")}, Bun ${e.bun}, ${e.natsServer}, ${String(e.redisServer).split(" ").slice(0, 3).join(" ")}.`,
  `Load average at start ${e.loadavgAtStart.join(" / ")}, at end ${e.loadavgAtEnd.join(" / ")} (1/5/15 min; ${e.cpus} CPUs${e.loadavgAtStart[0] > e.cpus ? " — other work was running on the machine" : ""}).`,
  "",
  `![edgeplane vs in-run baselines](${svg})`,
  "",
  `Targets met: ${met.length ? met.join("; ") : "none"}. Missed: ${missed.length ? missed.join("; ") : "none"}.`,
  "",
  table(res.rows),
  "",
  "Notes per row:",
  "",
  ...res.rows.filter((r) => r.note).map((r) => `- \`${r.id}\`: ${r.note}`),
  ...(res.warnings ?? []).map((w) => `- warning: ${w}`),
  ...(res.errors ?? []).map((x) => `- **scenario ${x.scenario} failed**: ${x.error.slice(0, 300)}`),
].join("\n");
const text = readFileSync(doc, "utf8");
const out = text.replace(/<!-- RESULTS:START -->[\s\S]*?<!-- RESULTS:END -->/, `<!-- RESULTS:START -->\n${block}\n<!-- RESULTS:END -->`);
writeFileSync(doc, out);
console.log(`updated ${relative(ROOT, doc)} from ${relative(ROOT, file)}`);
