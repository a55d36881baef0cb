// Print the Markdown table (and notes) of a result file: tsx bench/table.ts [bench/results/latest.json]
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./lib/harness.ts";
import { type Row, table } from "./lib/report.ts";

const file = process.argv[2] ?? join(ROOT, "bench", "results", "latest.json");
const res = JSON.parse(readFileSync(file, "utf8")) as { env: Record<string, unknown>; rows: Row[]; warnings?: string[]; errors?: unknown[] };
console.log(table(res.rows));
console.log();
for (const r of res.rows) if (r.note) console.log(`- \`${r.id}\`: ${r.note}`);
for (const w of res.warnings ?? []) console.log(`- warning: ${w}`);
