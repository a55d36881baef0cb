// Test helper: the security example (examples/security/server.ts) on the runtime running the test file (Node via tsx,
// Deno via `deno run`, Bun via `bun run`), on a free loopback port; stopped by PID.
import { ROOT } from "./chat-server.ts";
import { currentRuntime, freePort, start, type Child } from "./process.ts";

export interface SecurityServer {
  url: string;
  port: number;
  child: Child;
  metrics(): Promise<Record<string, unknown> & { connections: number; sseSessions: number; pollSessions: number; refused: Record<string, number>; badFrames: number }>;
  stop(): Promise<void>;
}

export async function startSecurityServer(env: Record<string, string>): Promise<SecurityServer> {
  const port = await freePort();
  const bin = `${ROOT}node_modules/.bin`;
  const script = "examples/security/server.ts";
  const rt = currentRuntime();
  const [cmd, args] = rt === "deno"
    ? [`${bin}/deno`, ["run", "-A", script]]
    : rt === "bun"
    ? [`${bin}/bun`, ["run", script]]
    : ["node", ["--import", "tsx", script]];
  const child = start(cmd, args, { cwd: ROOT, env: { PORT: String(port), HOST: "127.0.0.1", NO_COLOR: "1", ...env } });
  const url = (await child.waitFor(/edgeplane listening on (http:\/\/[^\s]+)/, 60_000))[1];
  return {
    url,
    port,
    child,
    async metrics() {
      return await (await fetch(`${url}/metrics`)).json();
    },
    stop: () => child.stop(),
  };
}
