// The Worker of the README's "Cloudflare Workers" section (the workerd tests run this file with that section's
// wrangler config). Without NATS_WS_URL the hubs use the Durable Object exchange (room objects); with it, every hub
// object joins the NATS fleet of your Node/Deno/Bun servers.
import {
  connectNatsWebSocket,
  DurableObjectExchange,
  type DurableObjectNamespaceLike,
  edgeplaneWorker,
  hubObject,
  NatsExchange,
  roomObject,
} from "../../adapters/cloudflare.ts";

interface Env {
  EDGEPLANE_HUB: DurableObjectNamespaceLike;
  EDGEPLANE_ROOM: DurableObjectNamespaceLike;
  /** e.g. "wss://nats.example.com:8443"; unset: Durable Object exchange. */
  NATS_WS_URL?: string;
  /** Node id prefix in the NATS fleet, unique per deployment (default "edge"). */
  NODE_PREFIX?: string;
}

export const EdgeplaneHub = hubObject<Env>({
  exchange: async (env, { name }) =>
    env.NATS_WS_URL
      ? new NatsExchange(await connectNatsWebSocket({ servers: env.NATS_WS_URL, name }), { nodeId: `${env.NODE_PREFIX ?? "edge"}-${name}` })
      : new DurableObjectExchange({ rooms: env.EDGEPLANE_ROOM, hub: name }),
  routes: { publishRoute: true, metricsRoute: true },
});

export const EdgeplaneRoom = roomObject({ history: { maxMessages: 2000 } });

export default edgeplaneWorker<Env>({ shards: 2 });
