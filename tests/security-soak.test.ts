// Short seeded soak (scripts/soak.ts, the long one is the same script): 300 connections churning for a few seconds on
// the runtime running this file (connect over ws / SSE / poll in turn, join 5 rooms, publish, leave, disconnect),
// after a warm-up of the same. Every cycle completes without an error frame, every publish is acknowledged, and the
// server's registry, rooms, exchange subscriptions, queues and SSE / poll sessions are back to 0. The heap before and
// after (GC'd) is printed; the script's long runs check it (a short run has not reached steady state).
import { describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import { ROOT } from "./helpers/chat-server.ts";
import { currentRuntime, start } from "./helpers/process.ts";

describe("soak (short)", () => {
  it("300 connections churning over ws, SSE and poll: every cycle completes, everything returns to 0", async () => {
    const bin = `${ROOT}node_modules/.bin`;
    const args = ["scripts/soak.ts", "--seconds", "5", "--warmup", "3", "--connections", "300", "--seed", "20", "--heap-tolerance", "100"];
    const rt = currentRuntime();
    const [cmd, argv] = rt === "deno"
      ? [`${bin}/deno`, ["run", "-A", "--v8-flags=--expose-gc", ...args]]
      : rt === "bun"
      ? [`${bin}/bun`, ["run", ...args]]
      : ["node", ["--expose-gc", "--import", "tsx", ...args]];
    const child = start(cmd, argv, { cwd: ROOT, env: { NO_COLOR: "1" } });
    const line = (await child.waitFor(/SOAK (\{.*\})/, 120_000))[1];
    const code = await child.exited;
    const r = JSON.parse(line) as {
      cycles: number; byKind: Record<string, number>; published: number; acked: number; failures: Record<string, number>;
      left: Record<string, number>; leftAfterWarmup: Record<string, number>; heapStartMiB: number; heapEndMiB: number; heapRatio: number;
    };
    console.log(`soak (${rt}): ${r.cycles} cycles ${JSON.stringify(r.byKind)}, heap ${r.heapStartMiB} → ${r.heapEndMiB} MiB (×${r.heapRatio})`);
    assertEquals(r.failures, {}, "every cycle completed");
    assertEquals(r.acked, r.published, "every publish acknowledged");
    const zero = { connections: 0, rooms: 0, subscribedRooms: 0, queuedBytes: 0, sseSessions: 0, pollSessions: 0 };
    assertEquals(r.leftAfterWarmup, zero);
    assertEquals(r.left, zero);
    for (const k of ["ws", "sse", "poll"]) assert(r.byKind[k] > 100, `${k} cycles: ${r.byKind[k]}`);
    assertEquals(code, 0);
  });
});
