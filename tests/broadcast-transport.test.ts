import { describe, it } from "node:test";
import { assertEquals, assertRejects } from "@std/assert";
import type { BroadcastTransport } from "telefunc";
import { broadcastTransport } from "../src/broadcast-transport.ts";
import type { Exchange, ExchangeEvent, SequencedMessage } from "../src/exchange/exchange.ts";
import { MemoryBus, MemoryExchange } from "../src/exchange/memory.ts";
import { EdgeplaneError } from "../src/errors.ts";
import { chain } from "../src/exchange/chain.ts";
import { connectRedis } from "../src/exchange/redis-connect.ts";
import { broadcastContract } from "./helpers/broadcast-contract.ts";
import { startRedis } from "./helpers/redis-server.ts";
import { startNatsServer } from "./helpers/nats-server.ts";
import { natsNodes } from "./helpers/nats-nodes.ts";

// Compile-time check (tsc --noEmit in `npm test`): our transport is a Telefunc 0.2.23 BroadcastTransport.
const _typeCheck: (ex: MemoryExchange) => BroadcastTransport = (ex) => broadcastTransport(ex);
void _typeCheck;

broadcastContract("memory", () => {
  const bus = new MemoryBus();
  const nodes = [new MemoryExchange({ bus }), new MemoryExchange({ bus })];
  return Promise.resolve({ nodes, cleanup: async () => void (await Promise.all(nodes.map((x) => x.close()))) });
}, { subscribeThenPublish: true });

broadcastContract("redis", async () => {
  const server = await startRedis();
  const nodes = await Promise.all(["ba", "bb"].map((nodeId) => connectRedis(server.url, { nodeId, timeoutMs: 10_000 })));
  return { nodes, cleanup: async () => void (await Promise.all(nodes.map((x) => x.close())), await server.stop()) };
}, { subscribeThenPublish: true });

broadcastContract("nats", async () => {
  const server = await startNatsServer();
  const set = await natsNodes([server.url], 2, { prefix: "bt" });
  return { nodes: set.exs, cleanup: async () => void (await set.close(), await server.cleanup()) };
}, { subscribeThenPublish: true });

broadcastContract("chain [redis, memory] authority=redis", async () => {
  const server = await startRedis();
  const bus = new MemoryBus();
  const nodes = await Promise.all(["ca", "cb"].map(async (nodeId) => {
    const redis = await connectRedis(server.url, { nodeId, timeoutMs: 10_000 });
    return chain([{ name: "redis", exchange: redis }, { name: "memory", exchange: new MemoryExchange({ bus, nodeId }) }], { authority: "redis" });
  }));
  return { nodes, cleanup: async () => void (await Promise.all(nodes.map((x) => x.close())), await server.stop()) };
}, { subscribeThenPublish: true });

describe("broadcast transport input", () => {
  it("wrong payload types and bad keys reject with typed errors", async () => {
    const t = broadcastTransport(new MemoryExchange());
    assertEquals((await assertRejects(() => t.send("k", new Uint8Array(1) as unknown as string), EdgeplaneError)).code, "BAD_ENVELOPE");
    assertEquals((await assertRejects(() => t.sendBinary("k", "x" as unknown as Uint8Array), EdgeplaneError)).code, "BAD_ENVELOPE");
    assertEquals((await assertRejects(() => t.send("x".repeat(300), "x"), EdgeplaneError)).code, "BAD_ROOM");
  });
});

describe("broadcast transport generations", () => {
  it("follows a generation that restarts below its position, and still drops stale and duplicate messages", () => {
    // An exchange whose sequencer lost the room's history may start a new epoch below the listener's position.
    let push!: (m: SequencedMessage) => void;
    let event!: (e: ExchangeEvent) => void;
    const stub = {
      subscribe: (_room: string, on: (m: SequencedMessage) => void, o?: { onEvent?: (e: ExchangeEvent) => void }) => {
        push = on;
        event = o?.onEvent ?? (() => {});
        return () => {};
      },
    } as unknown as Exchange;
    const got: Array<[number, string]> = [];
    broadcastTransport(stub).listen("k", (payload, { seq }) => got.push([seq, payload]));
    const msg = (seq: number, epoch: number, payload: string): SequencedMessage =>
      ({ room: "telefunc:t:k", seq, epoch, timestamp: seq, id: `${epoch}-${seq}`, origin: "n", payload }) as SequencedMessage;
    for (let s = 1; s <= 5; s++) push(msg(s, 1, `a${s}`));
    push(msg(5, 1, "dup")); // duplicate of the old generation
    push(msg(1, 2, "b1")); // new generation starts below the position
    push(msg(2, 2, "b2"));
    push(msg(2, 2, "dup")); // duplicate inside the new generation
    push(msg(4, 1, "stale")); // late message of the old generation
    event({ type: "discontinuity", room: "telefunc:t:k", afterSeq: 2, nextSeq: 4, epoch: 3, reason: "test" });
    push(msg(3, 3, "skipped")); // inside the reported gap
    push(msg(4, 3, "c4"));
    assertEquals(got, [[1, "a1"], [2, "a2"], [3, "a3"], [4, "a4"], [5, "a5"], [1, "b1"], [2, "b2"], [4, "c4"]]);
  });
});
