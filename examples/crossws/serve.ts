/**
 * Serve crossws hooks on whichever runtime runs this file, with crossws's own adapter for it: `crossws/adapters/node`
 * on a `node:http` server, `crossws/adapters/deno` on `Deno.serve`, `crossws/adapters/bun` on `Bun.serve`. (crossws's
 * Node adapter refuses to run under Deno or Bun.) Plain HTTP requests get `fetch`'s answer.
 *
 * @module
 */
import type { AdapterInstance, AdapterOptions } from "crossws";

/** A listening crossws server. */
export interface ServedCrossws {
  /** `ws://127.0.0.1:<port>` (the port is the OS's pick when you asked for 0). */
  url: string;
  /** crossws's adapter instance (`publish`, `peers`, `close`). */
  adapter: AdapterInstance;
  /** Which crossws adapter serves it. */
  runtime: "node" | "deno" | "bun";
  /** Close every peer, the sync driver and the listener. */
  close(): Promise<void>;
}

// The globals used here, typed minimally (each branch runs only on its runtime).
type DenoServer = { addr: { port: number }; shutdown(): Promise<void> };
type DenoLike = { serve(o: { port: number; hostname: string; onListen?: () => void }, h: (req: Request, info: unknown) => Response | Promise<Response>): DenoServer };
type BunServer = { port: number; stop(closeActive?: boolean): void };
type BunLike = { serve(o: { port: number; hostname: string; websocket: unknown; fetch(req: Request, server: unknown): unknown }): BunServer };

const isUpgrade = (req: Request) => req.headers.get("upgrade")?.toLowerCase() === "websocket";

/**
 * Listen on 127.0.0.1:`port` (0 = any free port) with crossws `options` (hooks, sync, onError …).
 *
 * @example
 * ```ts
 * const served = await serveCrossws({ hooks: { message: (peer, m) => peer.send(m.text()) } }, 3000);
 * console.log(`listening on ${served.url}`);
 * ```
 */
export async function serveCrossws(
  options: AdapterOptions,
  port: number,
  fetch: (req: Request) => Response = () => new Response("crossws server: connect with a WebSocket\n"),
): Promise<ServedCrossws> {
  const g = globalThis as { Deno?: DenoLike; Bun?: BunLike };
  if (g.Deno) {
    const { default: denoAdapter } = await import("crossws/adapters/deno");
    const adapter = denoAdapter(options);
    let listening!: () => void;
    const up = new Promise<void>((r) => (listening = r));
    const server = g.Deno.serve({ port, hostname: "127.0.0.1", onListen: () => listening() }, (req, info) =>
      isUpgrade(req) ? adapter.handleUpgrade(req, info as Parameters<typeof adapter.handleUpgrade>[1]) : fetch(req));
    await up;
    return {
      url: `ws://127.0.0.1:${server.addr.port}`,
      adapter,
      runtime: "deno",
      async close() {
        await adapter.close();
        await server.shutdown();
      },
    };
  }
  if (g.Bun) {
    const { default: bunAdapter } = await import("crossws/adapters/bun");
    const adapter = bunAdapter(options);
    const server = g.Bun.serve({
      port,
      hostname: "127.0.0.1",
      websocket: adapter.websocket,
      fetch: (req, srv) => isUpgrade(req) ? adapter.handleUpgrade(req, srv as Parameters<typeof adapter.handleUpgrade>[1]) : fetch(req),
    });
    return {
      url: `ws://127.0.0.1:${server.port}`,
      adapter,
      runtime: "bun",
      async close() {
        await adapter.close();
        server.stop(true);
      },
    };
  }
  const [{ default: nodeAdapter }, { createServer }] = await Promise.all([import("crossws/adapters/node"), import("node:http")]);
  const adapter = nodeAdapter(options);
  const server = createServer(async (req, res) => {
    const answer = fetch(new Request(`http://127.0.0.1${req.url ?? "/"}`, { method: req.method }));
    res.writeHead(answer.status, Object.fromEntries(answer.headers));
    res.end(new Uint8Array(await answer.arrayBuffer()));
  });
  server.on("upgrade", (req, socket, head) => adapter.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const addr = server.address();
  return {
    url: `ws://127.0.0.1:${typeof addr === "object" && addr ? addr.port : port}`,
    adapter,
    runtime: "node",
    async close() {
      await adapter.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
