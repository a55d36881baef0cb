// Test helper: start our own nats-server (or a 3-server cluster with routes) on free loopback ports in a temp dir,
// stop it by PID. A missing nats-server binary is an error (the test fails), never a skip.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Child, freePort, start, waitUntil } from "./process.ts";

/** Path of the nats-server binary: $NATS_SERVER, /usr/sbin, /usr/bin, /usr/local/bin, then PATH. */
export function natsServerBinary(): string {
  const env = globalThis.process.env.NATS_SERVER;
  const candidates = [env, "/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"].filter(Boolean) as string[];
  for (const c of candidates) if (existsSync(c)) return c;
  for (const dir of (globalThis.process.env.PATH ?? "").split(":")) {
    if (dir && existsSync(join(dir, "nats-server"))) return join(dir, "nats-server");
  }
  throw new Error("nats-server not found (set NATS_SERVER or install it, e.g. apt-get install nats-server): NATS tests cannot run");
}

/** One running nats-server. */
export interface NatsServer {
  port: number;
  url: string;
  /** Current child (replaced by restart()). */
  child: Child;
  /** SIGTERM by PID and wait for exit. */
  stop(): Promise<void>;
  /** Start again on the same ports and config, after staying down `downMs` (default 0). */
  restart(downMs?: number): Promise<void>;
  /** Stop and remove the temp dir. */
  cleanup(): Promise<void>;
}

export interface NatsServerOptions {
  /** max_payload in bytes (default server default, 1 MiB). */
  maxPayload?: number;
  /** Cluster: this server's route port and the route ports of the others. */
  cluster?: { name: string; port: number; routes: number[] };
  port?: number;
  /** Also listen for WebSocket clients (plain ws://, loopback) on this port, e.g. nats.js `wsconnect` in workerd. */
  websocketPort?: number;
}

/** Start a nats-server on free loopback ports; resolves when it accepts clients. */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServer> {
  const bin = natsServerBinary();
  const port = opts.port ?? await freePort();
  const dir = mkdtempSync(join(tmpdir(), "edgeplane-nats-"));
  const conf = join(dir, "nats.conf");
  const lines = [`host: "127.0.0.1"`, `port: ${port}`, `pid_file: "${join(dir, "nats.pid")}"`];
  if (opts.maxPayload) lines.push(`max_payload: ${opts.maxPayload}`);
  if (opts.websocketPort) lines.push(`websocket {`, `  listen: "127.0.0.1:${opts.websocketPort}"`, `  no_tls: true`, `}`);
  if (opts.cluster) {
    lines.push(`cluster {`, `  name: "${opts.cluster.name}"`, `  host: "127.0.0.1"`, `  port: ${opts.cluster.port}`);
    lines.push(`  routes: [${opts.cluster.routes.map((p) => `"nats://127.0.0.1:${p}"`).join(", ")}]`, `}`);
  }
  writeFileSync(conf, lines.join("\n") + "\n");
  const launch = async (): Promise<Child> => {
    const child = start(bin, ["-c", conf], { cwd: dir });
    await child.waitFor(/Server is ready/, 15_000);
    return child;
  };
  const server: NatsServer = {
    port,
    url: `nats://127.0.0.1:${port}`,
    child: await launch(),
    async stop() {
      await server.child.stop();
    },
    async restart(downMs = 0) {
      await server.child.stop();
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs)); // the outage itself, not a wait for a condition
      server.child = await launch();
    },
    async cleanup() {
      await server.child.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/** A cluster of `size` servers with full-mesh routes. */
export interface NatsCluster {
  servers: NatsServer[];
  cleanup(): Promise<void>;
}

/** Start `size` servers routed to each other; resolves once every server logs a route to every other. */
export async function startNatsCluster(size = 3, opts: { maxPayload?: number } = {}): Promise<NatsCluster> {
  const routePorts: number[] = [];
  for (let i = 0; i < size; i++) routePorts.push(await freePort());
  const servers: NatsServer[] = [];
  try {
    for (let i = 0; i < size; i++) {
      servers.push(await startNatsServer({
        maxPayload: opts.maxPayload,
        cluster: { name: "edgeplane-test", port: routePorts[i], routes: routePorts.filter((_, j) => j !== i) },
      }));
    }
    const routes = (s: NatsServer) => (s.child.output().match(/Route connection created/g) ?? []).length;
    await waitUntil(() => servers.every((s) => routes(s) >= size - 1), `every server has ${size - 1} routes`, 20_000, 50);
  } catch (err) {
    await Promise.all(servers.map((s) => s.cleanup()));
    throw err;
  }
  return { servers, cleanup: async () => void await Promise.all(servers.map((s) => s.cleanup())) };
}
