// Result rows, the console table, and the SVG chart of the headline ratios.

export interface Row {
  scenario: number;
  id: string;
  title: string;
  /** Edgeplane figure and its unit. */
  value: number;
  baseline: number;
  baselineName: string;
  unit: string;
  /** value / baseline. */
  ratio: number;
  /** Human target, e.g. "≥ 0.8× raw"; empty when the row is informational. */
  target: string;
  /** The number the target compares against, and what is compared (ratio or the absolute value). */
  targetValue?: number;
  targetOn?: "ratio" | "value";
  better?: "higher" | "lower";
  pass?: boolean | null;
  /** Achieved / target (≥ 1 means the target is met), for the chart. */
  score?: number;
  headline?: boolean;
  note?: string;
}

export function judge(r: Row): Row {
  if (r.targetValue === undefined || !r.targetOn || !r.better) return { ...r, pass: null };
  const x = r.targetOn === "ratio" ? r.ratio : r.value;
  const ok = Number.isFinite(x) && (r.better === "higher" ? x >= r.targetValue : x < r.targetValue);
  const score = r.better === "higher" ? x / r.targetValue : r.targetValue / x;
  return { ...r, pass: ok, score };
}

function f(n: number, unit = ""): string {
  if (!Number.isFinite(n)) return "n/a";
  const a = Math.abs(n);
  let s: string;
  if (a >= 1e6) s = `${(n / 1e6).toFixed(2)}M`;
  else if (a >= 1e4) s = `${(n / 1e3).toFixed(1)}k`;
  else if (a >= 100) s = n.toFixed(0);
  else if (a >= 1) s = n.toFixed(2);
  else s = n.toPrecision(2);
  return unit ? `${s} ${unit}` : s;
}

export function table(rows: Row[]): string {
  const head = ["#", "benchmark", "edgeplane", "baseline", "ratio", "target", "vs target", "ok"];
  const body = rows.map((r) => [
    String(r.scenario),
    r.title,
    f(r.value, r.unit),
    `${f(r.baseline, r.unit)} (${r.baselineName})`,
    `${f(r.ratio)}×`,
    r.target || "—",
    r.score !== undefined && Number.isFinite(r.score) ? `${f(r.score)}` : "—",
    r.pass === null || r.pass === undefined ? "" : r.pass ? "yes" : "MISS",
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => "| " + cells.map((c, i) => c.padEnd(w[i])).join(" | ") + " |";
  return [line(head), "|" + w.map((n) => "-".repeat(n + 2)).join("|") + "|", ...body.map(line)].join("\n");
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Horizontal bars: length = achieved / target (capped at 2); the dashed line marks the target (1.0). */
export function svgChart(rows: Row[], caption: string): string {
  const hs = rows.filter((r) => r.headline && r.score !== undefined);
  const W = 900, left = 330, barW = 460, rowH = 30, top = 58;
  const H = top + hs.length * rowH + 40;
  const x1 = left + barW / 2; // score 1.0
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="13">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="16" y="24" font-size="16" font-weight="600">edgeplane vs in-run baselines — achieved / target (≥ 1 meets the target)</text>`,
    `<text x="16" y="44" fill="#555">${esc(caption)}</text>`,
  ];
  hs.forEach((r, i) => {
    const y = top + i * rowH;
    const s = Math.max(0, Math.min(2, Number.isFinite(r.score!) ? r.score! : 0));
    const len = (s / 2) * barW;
    const color = r.pass ? "#2e7d32" : "#c62828";
    parts.push(`<text x="${left - 8}" y="${y + 18}" text-anchor="end">${esc(`${r.title}`)}</text>`);
    parts.push(`<rect x="${left}" y="${y + 5}" width="${len.toFixed(1)}" height="${rowH - 10}" fill="${color}" opacity="0.85"/>`);
    const ratioText = r.targetOn === "value" ? `${f(r.value, r.unit)} (${r.target})` : `${f(r.ratio)}× (${r.target})`;
    parts.push(`<text x="${left + len + 6}" y="${y + 18}" fill="#222">${esc(ratioText)}</text>`);
  });
  const yEnd = top + hs.length * rowH;
  parts.push(`<line x1="${x1}" y1="${top - 4}" x2="${x1}" y2="${yEnd + 4}" stroke="#000" stroke-dasharray="4 3"/>`);
  parts.push(`<text x="${x1}" y="${yEnd + 20}" text-anchor="middle" fill="#333">target</text>`);
  parts.push(`<text x="${left}" y="${yEnd + 20}" text-anchor="middle" fill="#333">0</text>`);
  parts.push(`<text x="${left + barW}" y="${yEnd + 20}" text-anchor="middle" fill="#333">2× target</text>`);
  parts.push(`</svg>`);
  return parts.join("\n") + "\n";
}
