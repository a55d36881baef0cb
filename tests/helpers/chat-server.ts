// Test helper: start the chat demo server (examples/chat) on Node (tsx), Deno (`deno serve`) or Bun (`bun run`) on a
// free loopback port, wait for its URL line, stop it by PID.
import { fileURLToPath } from "node:url";
import { type Child, freePort, start } from "./process.ts";

export type ServerRuntime = "node" | "deno" | "bun";

/** Repository root. */
export const ROOT: string = fileURLToPath(new URL("../../", import.meta.url));

export interface ChatServer {
  runtime: ServerRuntime;
  url: string;
  port: number;
  child: Child;
  /** GET /metrics. */
  metrics(): Promise<Record<string, unknown> & { slowConsumerCloses: number; badFrames: number; connections: number; sseSessions: number; pollSessions: number }>;
  stop(): Promise<void>;
}

/** The command that serves the chat demo on `runtime` (the same commands the docs give). */
export function chatCommand(runtime: ServerRuntime, port: number): { cmd: string; args: string[] } {
  switch (runtime) {
    case "node":
      return { cmd: "node", args: ["--import", "tsx", "examples/chat/node.ts"] };
    case "deno":
      return { cmd: `${ROOT}node_modules/.bin/deno`, args: ["serve", "-A", "--port", String(port), "examples/chat/deno.ts"] };
    case "bun":
      return { cmd: `${ROOT}node_modules/.bin/bun`, args: ["run", "examples/chat/bun.ts"] };
  }
}

export async function startChatServer(runtime: ServerRuntime, env: Record<string, string> = {}): Promise<ChatServer> {
  const port = await freePort();
  const { cmd, args } = chatCommand(runtime, port);
  const child = start(cmd, args, { cwd: ROOT, env: { PORT: String(port), HOST: "127.0.0.1", NO_COLOR: "1", ...env } });
  const m = await child.waitFor(/edgeplane listening on (http:\/\/[^\s]+)/, 60_000);
  const url = m[1];
  return {
    runtime,
    url,
    port,
    child,
    async metrics() {
      const res = await fetch(`${url}/metrics`);
      return await res.json();
    },
    stop: () => child.stop(),
  };
}
