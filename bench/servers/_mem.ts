// Private to the bench servers (edgeplane.ts, raw.ts): the reading behind their GET /mem.
import process from "node:process";

/** Resident set and heap after a forced GC (three rounds, 50 ms apart; needs --expose-gc outside Bun). */
export async function mem(): Promise<{ rss: number; heapUsed: number; heapTotal: number; external: number }> {
  const g = globalThis as unknown as { gc?: () => void; Bun?: { gc(force: boolean): void } };
  for (let i = 0; i < 3; i++) {
    if (g.Bun) g.Bun.gc(true);
    else g.gc?.();
    await new Promise((r) => setTimeout(r, 50));
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external };
}
