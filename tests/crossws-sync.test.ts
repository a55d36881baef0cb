// edgeplaneSync in one process: crossws's own adapter for the runtime (two instances, real ws clients) over memory exchanges
// sharing a bus, and the driver's rules (echo, dedupe, reports) against a scripted exchange.
import { after, before, describe, it } from "node:test";
import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import type { SyncAdapter, SyncMessage } from "crossws/sync";
import { edgeplaneSync, type EdgeplaneSync, type SyncDiscontinuity } from "../src/crossws/mod.ts";
import { decodeWire, encodeWire } from "../src/crossws/_wire.ts";
import { shardOf, shardRoom } from "../src/crossws/_shards.ts";
import { EdgeplaneError, isEdgeplaneError } from "../src/errors.ts";
import type { Exchange, ExchangeEvent, SeqInfo, SequencedMessage } from "../src/exchange/exchange.ts";
import { MemoryBus, MemoryExchange } from "../src/exchange/memory.ts";
import { waitUntil } from "./helpers/process.ts";
import { webSocketClass } from "./helpers/test-clients.ts";
import { serveCrossws } from "../examples/crossws/serve.ts";

// Compile-time check (tsc --noEmit in `npm test`): edgeplaneSync is a crossws 0.4 SyncAdapter.
const _typeCheck: (ex: Exchange) => SyncAdapter = (ex) => edgeplaneSync(ex, { channel: "c" });
void _typeCheck;

type Got = Array<string | Uint8Array>;

/** One crossws instance (the runtime's crossws adapter) on a free port: peers subscribe to the topics in
 * `?topics=a,b`; text frames are JSON commands. */
async function instance(sync: EdgeplaneSync, onError?: (err: unknown, ctx: { stage: string }) => void) {
  const served = await serveCrossws({
    sync,
    onError,
    hooks: {
      open(peer) {
        const topics = new URL(peer.request.url).searchParams.get("topics") ?? "";
        for (const t of topics.split(",").filter(Boolean)) peer.subscribe(t);
        peer.send("joined");
      },
      async message(peer, msg) {
        const cmd = msg.json<{ topic: string; data: string; ordered?: boolean }>();
        if (cmd.ordered) await sync.publishOrdered(cmd.topic, cmd.data, { namespace: peer.namespace });
        else peer.publish(cmd.topic, cmd.data);
      },
    },
  }, 0);
  return { ws: served.adapter, url: `${served.url}/_ws`, close: () => served.close() };
}

async function client(url: string, topics: string[]) {
  const WS = await webSocketClass();
  const sock = new WS(`${url}?topics=${topics.join(",")}`);
  sock.binaryType = "arraybuffer";
  const got: Got = [];
  let joined = false;
  sock.onmessage = (e: MessageEvent) => {
    if (e.data === "joined") joined = true;
    else got.push(typeof e.data === "string" ? e.data : new Uint8Array(e.data as ArrayBuffer));
  };
  await waitUntil(() => joined, "client joined");
  return {
    got,
    send: (cmd: { topic: string; data: string; ordered?: boolean }) => sock.send(JSON.stringify(cmd)),
    close: () => sock.close(),
  };
}

describe("edgeplaneSync with crossws's adapter for this runtime (two instances, memory exchange)", () => {
  const bus = new MemoryBus();
  const exA = new MemoryExchange({ bus }), exB = new MemoryExchange({ bus });
  const syncA = edgeplaneSync(exA, { channel: "app" }), syncB = edgeplaneSync(exB, { channel: "app" });
  let a: Awaited<ReturnType<typeof instance>>, b: Awaited<ReturnType<typeof instance>>;
  const errors: Array<{ err: unknown; stage: string }> = [];

  before(async () => {
    a = await instance(syncA, (err, ctx) => errors.push({ err, stage: ctx.stage }));
    b = await instance(syncB, (err, ctx) => errors.push({ err, stage: ctx.stage }));
    await Promise.all([syncA.ready(), syncB.ready()]);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await Promise.all([exA.close(), exB.close()]);
  });

  it("ready() resolves once every shard room is live, and status says so", () => {
    for (const s of [syncA, syncB]) {
      const st = s.status();
      assertEquals([st.ready, st.instances, st.shards, st.channel], [true, 1, 16, "app"]);
    }
  });

  it("peer.publish on A reaches B's subscribers exactly once and in order, and is not echoed back to A", async () => {
    const [pub, onA, onB, other] = [
      await client(a.url, ["news"]),
      await client(a.url, ["news"]),
      await client(b.url, ["news"]),
      await client(b.url, ["sport"]),
    ];
    const N = 200;
    for (let i = 0; i < N; i++) pub.send({ topic: "news", data: `n${i}` });
    const want = Array.from({ length: N }, (_, i) => `n${i}`);
    await waitUntil(() => onB.got.length >= N && onA.got.length >= N, "both instances delivered");
    // a last marker through the same path: anything extra (an echo, a duplicate) would have arrived before it
    pub.send({ topic: "news", data: "end" });
    await waitUntil(() => onB.got.at(-1) === "end" && onA.got.at(-1) === "end", "marker delivered");
    assertEquals(onB.got, [...want, "end"], "remote: every message once, in publish order");
    assertEquals(onA.got, [...want, "end"], "local (crossws's own fanout): once, no echo from the exchange");
    assertEquals(pub.got, [], "crossws never sends a peer its own publish");
    assertEquals(other.got, [], "other topics untouched");
    assert(syncA.status().counters.echoSkipped >= N + 1, "A saw its own messages come back and skipped them");
    for (const c of [pub, onA, onB, other]) c.close();
  });

  it("text and binary payloads arrive intact (server-side adapter.publish, all namespaces)", async () => {
    const onB = await client(b.url, ["bin"]);
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const text = "héllo\n{\"json\":true}\u2028 👋 \u0000";
    a.ws.publish("bin", bytes);
    a.ws.publish("bin", text);
    a.ws.publish("bin", "");
    await waitUntil(() => onB.got.length >= 3, "three messages on B");
    assertEquals(onB.got[0], bytes);
    assertEquals(onB.got[1], text);
    assertEquals(onB.got[2], "");
    onB.close();
  });

  it("publishOrdered: both instances deliver the same order, the publisher included", async () => {
    const a1 = await client(a.url, ["doc"]), a2 = await client(a.url, ["doc"]);
    const b1 = await client(b.url, ["doc"]), b2 = await client(b.url, ["doc"]);
    const N = 100;
    for (let i = 0; i < N; i++) {
      a1.send({ topic: "doc", data: `a${i}`, ordered: true });
      b1.send({ topic: "doc", data: `b${i}`, ordered: true });
    }
    const all = [a1, a2, b1, b2];
    await waitUntil(() => all.every((c) => c.got.length >= 2 * N), "every client has both streams");
    for (const c of all) assertEquals(c.got, a1.got, "one order on every client of both instances");
    assertEquals(a1.got.filter((d) => String(d).startsWith("a")), Array.from({ length: N }, (_, i) => `a${i}`), "publisher's own order");
    assertEquals(new Set(a1.got).size, 2 * N, "none twice");
    all.forEach((c) => c.close());
  });

  it("publishOrdered rejects bad input with typed errors and never relays it", async () => {
    const e1 = await assertRejects(() => syncA.publishOrdered(1 as unknown as string, "x"), EdgeplaneError);
    assertEquals(e1.code, "BAD_ENVELOPE");
    const e2 = await assertRejects(() => syncA.publishOrdered("t", new Date() as unknown as string), EdgeplaneError);
    assertEquals(e2.code, "BAD_ENVELOPE");
    const e3 = await assertRejects(() => syncA.publishOrdered("t", "x".repeat(2 * 1024 * 1024)), EdgeplaneError);
    assertEquals(e3.code, "PAYLOAD_TOO_LARGE");
    assertEquals(errors, [], "nothing reached crossws's onError so far");
  });
});

/** An exchange whose deliveries and failures the test scripts. */
class ScriptedExchange implements Exchange {
  readonly nodeId = "scripted";
  readonly maxPayloadBytes = 1024;
  subs = new Map<string, { onMessage: (m: SequencedMessage) => void; onEvent?: (e: ExchangeEvent) => void }>();
  published: Array<{ room: string; payload: string | Uint8Array }> = [];
  failWith?: Error;
  #seq = 0;
  publish(room: string, payload: string | Uint8Array): Promise<SeqInfo> {
    if (this.failWith) return Promise.reject(this.failWith);
    this.published.push({ room, payload });
    return Promise.resolve({ seq: ++this.#seq, timestamp: 1 });
  }
  subscribe(room: string, onMessage: (m: SequencedMessage) => void, opts: { onEvent?: (e: ExchangeEvent) => void } = {}) {
    this.subs.set(room, { onMessage, onEvent: opts.onEvent });
    return () => void this.subs.delete(room);
  }
  positionAll(): void {
    for (const [room, s] of this.subs) s.onEvent?.({ type: "position", room, seq: 0, epoch: 1 });
  }
  deliver(room: string, payload: string | Uint8Array, id: string, seq: number): void {
    this.subs.get(room)!.onMessage({ room, seq, timestamp: 1, epoch: 1, id, origin: "x", payload });
  }
  history(): Promise<SequencedMessage[]> {
    return Promise.resolve([]);
  }
  ready(): Promise<void> {
    return Promise.resolve();
  }
  status() {
    return { kind: "scripted", state: "ready" as const, nodeId: this.nodeId, epoch: 1, counters: {} };
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const msg = (sender: string, topic: string, data: string | Uint8Array, extra: { ordered?: boolean; shards?: number } = {}) =>
  encodeWire({ sender, namespace: "", topic, data, ordered: extra.ordered ?? false, shards: extra.shards ?? 4 });

describe("edgeplaneSync driver rules (scripted exchange)", () => {
  it("option errors are typed", () => {
    const ex = new ScriptedExchange();
    for (
      const bad of [
        undefined,
        {},
        { channel: "" },
        { channel: "c", shards: 0 },
        { channel: "c", shards: 1.5 },
        { channel: "c", shards: 5000 },
        { channel: "c", onDiscontinuity: 1 },
        { channel: "x".repeat(300) },
        { channel: "bad\u0000" },
      ]
    ) {
      const err = assertThrows(() => edgeplaneSync(ex, bad as never), EdgeplaneError);
      assertEquals(err.code, "BAD_OPTION", JSON.stringify(bad));
    }
  });

  it("topics spread over exactly `shards` rooms, one room per topic", () => {
    const ex = new ScriptedExchange();
    const sync = edgeplaneSync(ex, { channel: "c", shards: 8 });
    const driver = sync({ id: "i1" });
    void driver.subscribe(() => {});
    assertEquals([...ex.subs.keys()].sort(), Array.from({ length: 8 }, (_, i) => shardRoom("c", i)).sort());
    const used = new Set(Array.from({ length: 400 }, (_, i) => shardOf(`topic-${i}`, 8)));
    assertEquals(used.size, 8, "400 topics use every shard");
    assertEquals(shardOf("chat", 8), shardOf("chat", 8));
  });

  it("deliver gets other instances' messages once, never its own (unless ordered); ready waits for every shard", async () => {
    const ex = new ScriptedExchange();
    const sync = edgeplaneSync(ex, { channel: "c", shards: 4 });
    const got: SyncMessage[] = [];
    const live = sync({ id: "me" }).subscribe((m) => got.push(m));
    let ready = false;
    void sync.ready().then(() => (ready = true));
    const room = shardRoom("c", shardOf("t", 4));
    ex.subs.get(room)!.onEvent?.({ type: "position", room, seq: 0, epoch: 1 });
    await Promise.resolve();
    assertEquals([ready, sync.status().ready], [false, false], "one shard live is not ready");
    ex.positionAll();
    await live;
    await sync.ready();
    ex.deliver(room, msg("other", "t", "1"), "id1", 1);
    ex.deliver(room, msg("me", "t", "mine"), "id2", 2);
    ex.deliver(room, msg("other", "t", "1"), "id1", 1); // the same message again (say, from a second broker)
    ex.deliver(room, msg("", "t", "ordered", { ordered: true }), "id3", 3);
    ex.deliver(room, msg("other", "t", Uint8Array.of(0, 255)), "id4", 4);
    assertEquals(got, [
      { namespace: "", topic: "t", data: "1" },
      { namespace: "", topic: "t", data: "ordered" },
      { namespace: "", topic: "t", data: Uint8Array.of(0, 255) },
    ]);
    const c = sync.status().counters;
    assertEquals([c.delivered, c.echoSkipped, c.duplicatesDropped], [3, 1, 1]);
  });

  it("discontinuities and malformed payloads reach onDiscontinuity and crossws's onError (stage delivery)", async () => {
    const ex = new ScriptedExchange();
    const seen: SyncDiscontinuity[] = [];
    const sync = edgeplaneSync(ex, { channel: "c", shards: 4, onDiscontinuity: (d) => seen.push(d) });
    const errors: Array<{ err: unknown; stage: string }> = [];
    const { adapter, close } = await serveCrossws({ sync, onError: (err, ctx) => errors.push({ err, stage: ctx.stage }), hooks: {} }, 0);
    ex.positionAll();
    await sync.ready();
    const room = shardRoom("c", 2);
    ex.subs.get(room)!.onEvent?.({ type: "discontinuity", room, afterSeq: 10, nextSeq: 15, epoch: 1, reason: "history evicted" });
    ex.deliver(room, "not ours", "idx", 16);
    ex.deliver(room, Uint8Array.of(1, 2, 3), "idy", 17);
    assertEquals(seen.length, 1);
    assertEquals({ ...seen[0], instance: "" }, { channel: "c", shard: 2, room, afterSeq: 10, nextSeq: 15, epoch: 1, reason: "history evicted", instance: "" });
    assertEquals(errors.map((e) => [e.stage, isEdgeplaneError(e.err) ? e.err.code : String(e.err)]), [
      ["delivery", "GAP"],
      ["delivery", "BAD_ENVELOPE"],
      ["delivery", "BAD_ENVELOPE"],
    ]);
    assertEquals((errors[0].err as EdgeplaneError).details?.afterSeq, 10);
    assertEquals(sync.status().counters.malformed, 2);
    await close();
    assertEquals(sync.status().instances, 0);
    await assertRejects(() => sync.ready(), EdgeplaneError);
  });

  it("a publish the exchange refuses reaches crossws's onError (stage publish) with its topic", async () => {
    const ex = new ScriptedExchange();
    const sync = edgeplaneSync(ex, { channel: "c", shards: 4 });
    const errors: Array<{ err: unknown; stage: string }> = [];
    const { adapter, close } = await serveCrossws({ sync, onError: (err, ctx) => errors.push({ err, stage: ctx.stage }), hooks: {} }, 0);
    adapter.publish("up", "ok");
    ex.failWith = new EdgeplaneError("BACKPLANE_UNAVAILABLE", "broker down");
    adapter.publish("down", "lost?");
    await waitUntil(() => errors.length === 1, "publish failure reported");
    const err = errors[0].err as EdgeplaneError;
    assertEquals([errors[0].stage, err.code, err.details?.topic], ["publish", "BACKPLANE_UNAVAILABLE", "down"]);
    assertEquals(ex.published.length, 1);
    assertEquals(decodeWire(ex.published[0].payload).data, "ok");
    const c = sync.status().counters;
    assertEquals([c.published, c.publishFailed], [1, 1]);
    await close();
  });

  it("an instance with another shards value is reported once, its messages still delivered", async () => {
    const ex = new ScriptedExchange();
    const sync = edgeplaneSync(ex, { channel: "c", shards: 4 });
    const got: SyncMessage[] = [];
    const reported: unknown[] = [];
    void sync({ id: "me" }).subscribe((m) => {
      try {
        got.push({ ...m });
      } catch (err) {
        reported.push(err); // the report channel: reading the message throws the error
      }
    });
    const room = shardRoom("c", 0);
    ex.deliver(room, msg("other", "x", "a", { shards: 8 }), "m1", 1);
    ex.deliver(room, msg("other", "x", "b", { shards: 8 }), "m2", 2);
    assertEquals(got.map((m) => m.data), ["a", "b"]);
    assertEquals(reported.length, 1);
    assertEquals((reported[0] as EdgeplaneError).code, "BAD_OPTION");
    assertEquals(sync.status().counters.shardMismatches, 2);
  });

  it("a closed driver refuses to subscribe; closing before readiness rejects ready()", async () => {
    const ex = new ScriptedExchange();
    const sync = edgeplaneSync(ex, { channel: "c", shards: 2 });
    const d = sync({ id: "me" });
    const live = d.subscribe(() => {});
    await d.close();
    assertEquals(ex.subs.size, 0, "unsubscribed every shard");
    assertEquals((await assertRejects(() => live, EdgeplaneError)).code, "CLOSED");
    assertEquals((await assertRejects(() => d.subscribe(() => {}), EdgeplaneError)).code, "CLOSED");
    assertThrows(() => sync({} as { id: string }), EdgeplaneError);
  });
});

describe("crossws sync wire format", () => {
  it("round-trips text byte-identically and bytes exactly, with the head", () => {
    for (const data of ["", "plain", "line\nbreaks\n\n", "[1,\"json\"]\n", "👋 \u2028", Uint8Array.of(), Uint8Array.from({ length: 300 }, (_, i) => i % 256)]) {
      for (const ordered of [false, true]) {
        const m = { sender: "s-1", namespace: "/_ws", topic: "t\n\"x\"", data, ordered, shards: 16 };
        assertEquals(decodeWire(encodeWire(m)), m);
      }
    }
    const wire = encodeWire({ sender: "", namespace: "", topic: "t", data: Uint8Array.of(9), ordered: false, shards: 1 }) as Uint8Array;
    assertEquals(decodeWire(wire.subarray(0)).data, Uint8Array.of(9), "a view decodes the same");
  });

  it("rejects what is not ours with BAD_ENVELOPE", () => {
    for (const p of ["", "x", "{}\nx", "[2,\"\",\"\",\"t\",0,1]\nx", "[1,\"\",\"\",3,0,1]\nx", Uint8Array.of(1, 2), Uint8Array.of(0xec, 1, 0, 0, 0, 9, 1)]) {
      assertEquals(assertThrows(() => decodeWire(p), EdgeplaneError).code, "BAD_ENVELOPE", String(p));
    }
  });
});
