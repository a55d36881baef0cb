// The contract Worker the workerd test runs beside the app Worker: the exchange contract suite and the broadcast
// transport contract suite (tests/helpers/*-contract.ts, the same files every other exchange is tested with), run
// inside workerd against the Durable Object exchange. Bundled with `node:test` mapped to ./_node-test-shim.ts.
import { CONTRACT_HISTORY, exchangeContract } from "../helpers/exchange-contract.ts";
import { broadcastContract } from "../helpers/broadcast-contract.ts";
import { DurableObjectExchange, type DurableObjectNamespaceLike, type DurableObjectStateLike, roomObject } from "../../adapters/cloudflare.ts";
import { runSuite, suites } from "./_node-test-shim.ts";

interface Env {
  ROOMS: DurableObjectNamespaceLike;
  RUNNER: DurableObjectNamespaceLike;
}

/** Room objects with the small history the contract expects; they deliver to the runner object. */
export const ContractRoom = roomObject({ history: { maxMessages: CONTRACT_HISTORY }, hubBinding: "RUNNER" });

let live: DurableObjectExchange[] = [];
let runId = 0;

function nodes(env: Env, names: string[]) {
  const run = ++runId;
  const exchanges = names.map((n) => new DurableObjectExchange({ rooms: env.ROOMS, hub: "runner", nodeId: `${n}${run}` }));
  live.push(...exchanges);
  return Promise.resolve({
    nodes: exchanges,
    cleanup: async () => {
      await Promise.all(exchanges.map((x) => x.close()));
      live = live.filter((x) => !exchanges.includes(x));
    },
  });
}

let registeredEnv: Env | undefined;
function register(env: Env): void {
  if (registeredEnv) return;
  registeredEnv = env;
  exchangeContract("durable objects (inside workerd)", () => nodes(env, ["a", "b", "c"]), { subscribeThenPublish: true });
  broadcastContract("durable objects (inside workerd)", () => nodes(env, ["x", "y"]), { subscribeThenPublish: true });
}

/** Holds the contract's exchanges (three nodes in one object) and runs the suites. */
export class ContractRunner {
  constructor(_state: DurableObjectStateLike, readonly env: Env) {}

  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/__edgeplane/hub/deliver") {
      const body = await request.json() as { room: string; node: string; msgs: never[] };
      const ex = live.find((x) => x.nodeId === body.node);
      return Response.json(ex ? ex.deliver(body.room, body.msgs) : { gone: true });
    }
    register(this.env);
    const wanted = url.searchParams.get("suite") ?? "";
    const s = suites.find((x) => x.name.startsWith(wanted));
    if (!s) return Response.json({ error: `no suite ${wanted}; have ${suites.map((x) => x.name).join(", ")}` }, { status: 404 });
    return Response.json({ suite: s.name, results: await runSuite(s) });
  }
}

export default {
  fetch(request: Request, env: Env): Promise<Response> {
    if (new URL(request.url).pathname !== "/run") return Promise.resolve(new Response("contract worker: GET /run?suite=exchange|broadcast", { status: 404 }));
    return env.RUNNER.get(env.RUNNER.idFromName("runner")).fetch(request);
  },
};
