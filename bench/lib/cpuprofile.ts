// Summarize a V8 .cpuprofile (node --cpu-prof): top frames by self time and by inclusive time.
import { readFileSync } from "node:fs";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount: number;
  children?: number[];
}

export interface Frame {
  name: string;
  where: string;
  selfPct: number;
  totalPct: number;
}

export function topFrames(file: string, n = 15): { self: Frame[]; total: Frame[]; samples: number } {
  const p = JSON.parse(readFileSync(file, "utf8")) as { nodes: Node[]; samples: number[] };
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const parent = new Map<number, number>();
  for (const x of p.nodes) for (const c of x.children ?? []) parent.set(c, x.id);
  const counts = new Map<number, number>();
  for (const s of p.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
  const total = p.samples.length;
  const key = (x: Node) => {
    const url = x.callFrame.url.replace(/^file:\/\//, "").replace(/.*\/work\/main\//, "").replace(/.*node_modules\//, "nm/");
    return `${x.callFrame.functionName || "(anonymous)"}\t${url ? `${url}:${x.callFrame.lineNumber + 1}` : ""}`;
  };
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  for (const [id, c] of counts) {
    const x = byId.get(id)!;
    self.set(key(x), (self.get(key(x)) ?? 0) + c);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const k = key(byId.get(cur)!);
      if (seen.has(k)) continue;
      seen.add(k);
      incl.set(k, (incl.get(k) ?? 0) + c);
    }
  }
  const rows = (m: Map<string, number>) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, c]) => {
      const [name, where] = k.split("\t");
      return { name, where, selfPct: (100 * (self.get(k) ?? 0)) / total, totalPct: (100 * (incl.get(k) ?? 0)) / total };
    });
  const skip = new Set(["(root)", "(program)", "(idle)", "(garbage collector)"]);
  return {
    self: rows(self),
    total: rows(new Map([...incl].filter(([k]) => !skip.has(k.split("\t")[0])))).slice(0, n),
    samples: total,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = topFrames(process.argv[2], Number(process.argv[3] ?? 15));
  console.log(`samples ${r.samples}\nself%  total%  frame`);
  for (const f of r.self) console.log(`${f.selfPct.toFixed(1).padStart(5)}  ${f.totalPct.toFixed(1).padStart(5)}  ${f.name} ${f.where}`);
  console.log(`\ninclusive (top):`);
  for (const f of r.total) console.log(`${f.totalPct.toFixed(1).padStart(5)}  ${f.name} ${f.where}`);
}
