// A strict TypeScript consumer: compiled with the tsconfig `tsc --init` writes (strict, nodenext,
// exactOptionalPropertyTypes, noUncheckedIndexedAccess, verbatimModuleSyntax, no @types/node).
import { Hono } from "hono";
import {
  chain,
  EdgeplaneError,
  type Exchange,
  Hub,
  type HubMetrics,
  type HubOptions,
  isEdgeplaneError,
  isGap,
  MemoryExchange,
  type NatsConnectionLike,
  NatsExchange,
  RedisExchange,
  type SeqInfo,
  type SequencedMessage,
} from "edgeplane";
import { ClientError, type ClientMessage, type ClientOptions, EdgeplaneClient } from "edgeplane/client";
import { edgeplaneRoutes, type EdgeplaneRoutes, type EdgeplaneRoutesOptions } from "edgeplane/adapters/hono";
import * as node from "edgeplane/adapters/node";
import * as deno from "edgeplane/adapters/deno";
import * as bun from "edgeplane/adapters/bun";
import { type DurableObjectNamespaceLike, edgeplaneWorker, hubObject, roomObject } from "edgeplane/adapters/cloudflare";

const opts: HubOptions = {
  exchange: new MemoryExchange({ nodeId: "node-a", history: { maxMessages: 100 } }),
  authorize: (_conn, room, action) => action === "join" || !room.startsWith("readonly:"),
  queue: { budgetBytes: 64 * 1024 },
};
const hub = new Hub(opts);
const info: SeqInfo = await hub.publish("lobby", "hello");
const seq: number = info.seq;
const history = await hub.exchange.history("lobby", 0);
const held: SequencedMessage[] = isGap(history) ? [] : history;
const first: SequencedMessage | undefined = held[0]; // noUncheckedIndexedAccess: maybe undefined
const metrics: HubMetrics = hub.metrics();

try {
  await hub.publish("", "no room");
} catch (err) {
  if (isEdgeplaneError(err, "BAD_ROOM")) console.log(err.code satisfies string, err instanceof EdgeplaneError);
}

declare const nc: NatsConnectionLike;
const exchanges: Exchange[] = [new NatsExchange(nc, { prefix: "app", sendTimeout: 2000 })];
declare const redis: RedisExchange;
const migrating: Exchange = chain([{ name: "redis", exchange: redis }, { name: "nats", exchange: exchanges[0]! }], { authority: "redis" });

const routeOpts: EdgeplaneRoutesOptions = { upgradeWebSocket: node.upgradeWebSocket, metricsRoute: true };
const routes: EdgeplaneRoutes = edgeplaneRoutes(hub, routeOpts);
const app = new Hono().route("/rt", routes.app);
const served: Promise<node.Served> = node.serve(app, { port: 0, drain: hub });
const forDeno = deno.fetchExport(app, { drain: hub });
const onBun: Promise<bun.Served> = bun.serve(app, { hostname: "0.0.0.0" });

interface Env {
  EDGEPLANE_HUB: DurableObjectNamespaceLike;
  EDGEPLANE_ROOM: DurableObjectNamespaceLike;
}
const worker = edgeplaneWorker<Env>({ shards: 2 });
const EdgeplaneHub = hubObject<Env>();
const EdgeplaneRoom = roomObject({ history: { maxMessages: 100 } });

const clientOptions: ClientOptions = { url: ["https://a.example", "https://b.example"], transports: ["ws", "sse"] };
const client = new EdgeplaneClient(clientOptions);
client.on("message", (m: ClientMessage) => console.log(m.room, m.seq, m.data ?? m.bytes?.byteLength));
const joined = await client.join("lobby", { meta: { name: "ada" } }).catch((e: unknown) => (e instanceof ClientError ? e.code : "?"));

// exactOptionalPropertyTypes: an optional option is not `undefined`-able unless it says so.
// @ts-expect-error transports?: TransportKind[] does not accept undefined
const loose: ClientOptions = { url: "https://a.example", transports: undefined };
// @ts-expect-error a misspelled option is an error, not silently ignored
new Hub({ exchnge: new MemoryExchange() });

export { EdgeplaneHub, EdgeplaneRoom, first, forDeno, joined, loose, metrics, migrating, onBun, seq, served, worker };
