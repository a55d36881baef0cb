// Test helper: a fleet of chat-demo nodes (mixed Node/Deno/Bun) sharing one NATS, with the demo's publish and
// cluster routes on. Nodes keep their port across restarts so clients' URL lists stay valid.
import { EdgeplaneClient } from "../../src/client/mod.ts";
import type { ClientMessage } from "../../src/client/client.ts";
import { chatCommand, ROOT, type ServerRuntime } from "./chat-server.ts";
import { type Child, freePort, start } from "./process.ts";
import { webSocketClass } from "./test-clients.ts";

export interface FleetNode {
  id: string;
  runtime: ServerRuntime;
  port: number;
  url: string;
  child: Child;
}

export class Fleet {
  readonly nodes = new Map<string, FleetNode>();
  constructor(readonly natsUrl: string, readonly prefix = `fleet${Date.now().toString(36)}`) {}

  async start(id: string, runtime: ServerRuntime, port?: number): Promise<FleetNode> {
    port ??= await freePort();
    const { cmd, args } = chatCommand(runtime, port);
    const child = start(cmd, args, {
      cwd: ROOT,
      env: {
        PORT: String(port),
        HOST: "127.0.0.1",
        NO_COLOR: "1",
        NATS_URL: this.natsUrl,
        NODE_ID: id,
        EDGEPLANE_PREFIX: this.prefix,
        EDGEPLANE_PUBLISH_ROUTE: "1",
        EDGEPLANE_ADMIN_ROUTES: "1",
        EDGEPLANE_HEARTBEAT_MS: "250",
      },
    });
    const m = await child.waitFor(/edgeplane listening on (http:\/\/[^\s]+)/, 60_000);
    const node = { id, runtime, port, url: m[1], child };
    this.nodes.set(id, node);
    return node;
  }

  get(id: string): FleetNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  async publish(id: string, room: string, body: string): Promise<{ seq: number; ts: number }> {
    const res = await fetch(`${this.get(id).url}/publish?room=${encodeURIComponent(room)}`, { method: "POST", body });
    const json = await res.json();
    if (res.status !== 200) throw Object.assign(new Error(`publish on ${id}: ${JSON.stringify(json)}`), { code: json?.error?.code });
    return json;
  }

  async get_json(id: string, path: string, init?: RequestInit): Promise<{ status: number; json: any }> {
    const res = await fetch(`${this.get(id).url}${path}`, init);
    return { status: res.status, json: await res.json() };
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n.child.stop()));
  }
}

/** A client of the fleet that records messages and discontinuities per room. */
export async function fleetClient(urls: string[], transports?: Array<"ws" | "sse" | "poll">) {
  const client = new EdgeplaneClient({
    url: urls,
    transports,
    WebSocket: await webSocketClass(),
    backoff: { initialMs: 50, maxMs: 400 },
    connectTimeoutMs: 3000,
    pollWaitMs: 3000,
  });
  const messages: ClientMessage[] = [];
  const discontinuities: Array<{ room: string; afterSeq: number; nextSeq: number; reason: string }> = [];
  const directs: Array<{ from: string; data: string }> = [];
  client.on("message", (m) => messages.push(m));
  client.on("discontinuity", (d) => discontinuities.push(d));
  client.on("direct", (d) => directs.push(d));
  return { client, messages, discontinuities, directs, seqs: (room: string) => messages.filter((m) => m.room === room).map((m) => m.seq) };
}
