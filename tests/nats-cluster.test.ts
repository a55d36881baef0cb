// A 3-server NATS cluster (full-mesh routes), each exchange node connected to a different server: the whole Exchange
// contract (one order everywhere, history, fromSeq, idempotency, payloads, hostile rooms) holds across routes.
import { CONTRACT_HISTORY, exchangeContract } from "./helpers/exchange-contract.ts";
import { type NatsCluster, startNatsCluster } from "./helpers/nats-server.ts";
import { natsNodes } from "./helpers/nats-nodes.ts";

exchangeContract("nats, 3-server cluster, one node per server", async () => {
  let cluster: NatsCluster | undefined;
  try {
    cluster = await startNatsCluster(3);
    const set = await natsNodes(cluster.servers.map((s) => s.url), 3, { prefix: "cl", history: { maxMessages: CONTRACT_HISTORY } });
    const serverIds = new Set(set.conns.map((c) => c.info?.server_id));
    if (serverIds.size !== 3) throw new Error(`nodes must sit on 3 different servers, got ${serverIds.size}`);
    return {
      nodes: set.exs,
      cleanup: async () => {
        await set.close();
        await cluster?.cleanup();
      },
    };
  } catch (err) {
    await cluster?.cleanup();
    throw err;
  }
}, { subscribeThenPublish: true });
