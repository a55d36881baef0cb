/**
 * Serve the security example on the runtime that runs this file: `npx tsx examples/security/server.ts`,
 * `deno run -A examples/security/server.ts` or `bun run examples/security/server.ts`. Reads `PORT`; prints its URL.
 *
 * Try it: `curl -i localhost:8787/sse` → 401; `curl -i -H 'Origin: https://evil.example' 'localhost:8787/sse?token=tok-ada'`
 * → 403; `curl -N 'localhost:8787/sse?token=tok-ada&room=lobby'` streams.
 *
 * @module
 */
import { createSecureApp } from "./app.ts";

const g = globalThis as { Deno?: { env: { get(k: string): string | undefined } }; process?: { env: Record<string, string | undefined> } };
const env = (k: string): string | undefined => (g.Deno ? g.Deno.env.get(k) : g.process?.env[k]);
const adapter = "Deno" in globalThis
  ? await import("../../adapters/deno.ts")
  : "Bun" in globalThis
  ? await import("../../adapters/bun.ts")
  : await import("../../adapters/node.ts");
const secure = createSecureApp({ upgradeWebSocket: adapter.upgradeWebSocket, env });
await adapter.serve(secure.app, { drain: secure.hub });
