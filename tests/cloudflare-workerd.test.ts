// Cloudflare Workers and Durable Objects, in a real workerd (the npm package's binary) on free loopback ports,
// stopped by PID. The app Worker is examples/cloudflare/worker.ts with the README's wrangler config block, bundled
// the way wrangler bundles. One workerd process serves three Workers: "app" (Durable Object exchange, storage on
// disk so a restart keeps it), "nats" (the same Worker with NATS_WS_URL: hub objects in the NATS fleet of our own
// nats-server's WebSocket listener) and "contract" (the exchange and broadcast contract suites run inside workerd).
//
// The workerd side is the same process whichever runner runs this file, so the heavy mixed-fleet case (a Node node
// and the workerd hub on one nats-server, workerd SIGKILLed, its client resuming on the Node node) runs once, under
// the Node runner; Deno and Bun run a smaller NATS case (the workerd hub and an in-process NatsExchange of the
// runtime share one order), and every other case on all three.
import { after, before, describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EdgeplaneClient, type ClientMessage } from "../src/client/mod.ts";
import { connectNats } from "../src/exchange/nats/connect.ts";
import { NatsExchange } from "../src/exchange/nats/nats-exchange.ts";
import type { SequencedMessage } from "../src/exchange/exchange.ts";
import type { ServerFrame } from "../src/protocol.ts";
import type { TransportKind } from "../src/transport/connection.ts";
import { currentRuntime, freePort, waitUntil } from "./helpers/process.ts";
import { type NatsServer, startNatsServer } from "./helpers/nats-server.ts";
import { tcpProxy } from "./helpers/tcp-proxy.ts";
import { opened, publishMany, range, recorder, type Recorder, webSocketClass } from "./helpers/test-clients.ts";
import { bundle, readmeBlock, readmeWranglerConfig, startWorkerd, type WranglerConfig, type Workerd } from "./helpers/workerd.ts";

const RUNTIME = currentRuntime();
const KINDS: TransportKind[] = ["ws", "sse", "poll"];

const CONTRACT_CONFIG: WranglerConfig = {
  name: "edgeplane-contract",
  main: "contract-worker.ts",
  compatibility_date: "2026-11-17",
  durable_objects: { bindings: [{ name: "ROOMS", class_name: "ContractRoom" }, { name: "RUNNER", class_name: "ContractRunner" }] },
  migrations: [{ tag: "v1", new_sqlite_classes: ["ContractRoom", "ContractRunner"] }],
};

/** Bound a step that has no timeout of its own, so a broken Worker fails the test instead of hanging the run. */
async function within<T>(p: Promise<T>, what: string, ms = 60_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

describe(`Cloudflare Workers in workerd (runner: ${RUNTIME})`, () => {
  let dir: string;
  let wd: Workerd;
  let nats: NatsServer;
  let wsPort: number;
  const clients: Recorder[] = [];
  const closers: Array<() => unknown> = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "edgeplane-cf-"));
    wsPort = await freePort();
    nats = await startNatsServer({ websocketPort: wsPort });
    await Promise.all([
      bundle("examples/cloudflare/worker.ts", join(dir, "app.js")),
      bundle("tests/cloudflare/contract-worker.ts", join(dir, "contract.js"), {
        "node:test": "tests/cloudflare/_node-test-shim.ts",
        "@std/assert": "tests/_assert/mod.ts",
      }),
    ]);
    const config = readmeWranglerConfig();
    wd = await startWorkerd([
      { name: "app", module: join(dir, "app.js"), config, storage: { dir: join(dir, "app-storage") } },
      { name: "nats", module: join(dir, "app.js"), config, vars: { NATS_WS_URL: `ws://127.0.0.1:${wsPort}` }, storage: "memory" },
      { name: "contract", module: join(dir, "contract.js"), config: CONTRACT_CONFIG, storage: "memory" },
      // The same Worker again, for the hibernation case: its hub objects must sit idle, which the other cases'
      // SSE streams and long-poll sessions on "app" would prevent.
      // Storage on disk: workerd evicts the idle room objects too, and in-memory storage would go with them.
      { name: "hib", module: join(dir, "app.js"), config, storage: { dir: join(dir, "hib-storage") } },
    ], join(dir, "workerd"));
  });

  after(async () => {
    for (const c of clients) c.client.close();
    for (const f of closers.reverse()) await f();
    await wd?.cleanup();
    await nats?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function rec(url: string, kind: TransportKind): Promise<Recorder> {
    const r = await recorder(url, kind, { pollWaitMs: 2000 });
    clients.push(r);
    return r;
  }

  it("the README's Worker block is examples/cloudflare/worker.ts, and its wrangler block is the config under test", () => {
    const example = readFileSync(new URL("../examples/cloudflare/worker.ts", import.meta.url), "utf8");
    const code = example.slice(example.indexOf("import {")).replace('"../../adapters/cloudflare.ts"', '"edgeplane/adapters/cloudflare"');
    assertEquals(readmeBlock("Cloudflare Workers", "ts"), code);
    const cfg = readmeWranglerConfig();
    assertEquals(cfg.durable_objects.bindings.map((b) => b.name).sort(), ["EDGEPLANE_HUB", "EDGEPLANE_ROOM"]);
  });

  for (const suite of ["exchange", "broadcast"]) {
    it(`${suite} contract suite inside workerd on the Durable Object exchange`, async () => {
      const res = await fetch(`${wd.urls.contract}/run?suite=${suite}`, { signal: AbortSignal.timeout(120_000) });
      const body = await res.json() as { suite: string; results: Array<{ name: string; ok: boolean; error?: string; skipped?: string }> };
      assertEquals(res.status, 200, JSON.stringify(body));
      assert(body.results.length >= 4, `ran ${body.results.length} cases`);
      const failed = body.results.filter((r) => !r.ok);
      for (const r of body.results) if (r.skipped) console.log(`[workerd ${suite}] skipped: ${r.name} (${r.skipped})`);
      assertEquals(failed.map((f) => `${f.name}: ${f.error}`), [], `${body.suite}: ${body.results.length - failed.length}/${body.results.length} passed`);
    });
  }

  it("clients over ws, sse and long-poll through the Worker each get 1,000 messages in seq order, none twice", async () => {
    const room = "fanout";
    const subs = await Promise.all(KINDS.map((k) => rec(wd.urls.app, k)));
    await within(Promise.all(subs.map((s) => s.client.join(room))), "joins");
    for (const s of subs) assertEquals(s.client.transport, s.kind);
    const pub = await rec(wd.urls.app, "ws");
    assertEquals(await within(publishMany(pub.client, room, 1000, { window: 100 }), "publishes"), range(1, 1000));
    await waitUntil(
      () => subs.every((s) => s.seqs(room).length >= 1000),
      () => `every client got 1,000 messages (${subs.map((s) => `${s.kind}: ${s.seqs(room).length}, state ${s.client.state}, errors ${JSON.stringify(s.errors).slice(0, 200)}`).join("; ")})`,
      60_000,
    );
    for (const s of subs) {
      assertEquals(s.rawSeqs.get(room), range(1, 1000), `${s.kind}: frames as received are 1..1000, in order, none twice`);
      assertEquals(s.messages.map((m) => m.data), range(0, 999).map((i) => `m${i}`), `${s.kind}: payloads`);
      assertEquals(s.errors, []);
    }
  });

  it("rooms span shards: connections on both hub objects see the same message at the same seq", async () => {
    const room = "shards";
    const seen = new Set<string>();
    const subs: Recorder[] = [];
    // Connections land on a random shard of 2; open until both hub objects (welcome.node) hold one.
    for (let i = 0; i < 24 && seen.size < 2; i++) {
      const r = await rec(wd.urls.app, "ws");
      await opened(r);
      const node = (r.frames.find((f) => f.t === "welcome") as Extract<ServerFrame, { t: "welcome" }>).node;
      if (!seen.has(node)) subs.push(r);
      seen.add(node);
    }
    assertEquals([...seen].sort(), ["hub-0", "hub-1"]);
    await within(Promise.all(subs.map((s) => s.client.join(room))), "joins");
    await within(Promise.all(subs.map((s, i) => publishMany(s.client, room, 100, { payload: (k) => `s${i}-${k}` }))), "publishes");
    await waitUntil(() => subs.every((s) => s.seqs(room).length >= 200), "both shards got 200", 30_000);
    const ids = (r: Recorder) => r.messages.filter((m) => m.room === room).map((m) => `${m.seq}:${m.id}`);
    assertEquals(subs[0].seqs(room), range(1, 200));
    assertEquals(ids(subs[1]), ids(subs[0]));
  });

  it("a dropped connection (ws, sse, poll) resumes by seq with no gap and no duplicate", async () => {
    const proxy = await tcpProxy(wd.ports.app);
    closers.push(() => proxy.close());
    for (const kind of KINDS) {
      const room = `drop-${kind}`;
      const sub = await rec(proxy.url, kind);
      await within(sub.client.join(room), "join");
      const pub = await rec(wd.urls.app, "ws");
      await within(publishMany(pub.client, room, 50), "publishes");
      await waitUntil(() => sub.seqs(room).length >= 50, `${kind}: first 50`);
      // Cut every connection and refuse new ones until the client has noticed (a network failure, not a pooled
      // connection the runtime's fetch would silently replace); 51..100 are published while it is cut off.
      const off = sub.client.on("state", (st) => {
        if (st.state === "reconnecting") proxy.outage(false);
      });
      proxy.outage(true);
      assert(proxy.killAll() >= 1, "cut the client's connection");
      await within(publishMany(pub.client, room, 50, { from: 50 }), "publishes");
      await waitUntil(() => sub.seqs(room).length >= 100, `${kind}: resumed to 100`, 30_000);
      assertEquals(sub.seqs(room), range(1, 100), `${kind}: no gap, no duplicate`);
      assert(sub.welcomes >= 2, `${kind}: reconnected (${sub.welcomes} welcomes)`);
      assertEquals(sub.client.stats.gaps, 0);
      off();
    }
  });

  it("hibernation: an idle hub object is evicted with its WebSocket open; the next delivery wakes it, no gap", async () => {
    const room = "hibernate";
    const sub = await rec(wd.urls.hib, "ws");
    await within(sub.client.join(room), "join");
    const pub = await rec(wd.urls.hib, "ws");
    await within(publishMany(pub.client, room, 5), "publishes");
    await waitUntil(() => sub.seqs(room).length >= 5, "first 5");
    assertEquals([sub.welcomes, pub.welcomes], [1, 1]);
    // workerd evicts a Durable Object after 10 s without events (production does the same, later); nothing of ours
    // can be awaited instead, since any request to the object would keep it awake. Both sockets stay open.
    await new Promise((r) => setTimeout(r, 12_000));
    assertEquals([sub.client.state, pub.client.state], ["open", "open"]);
    // The publish wakes pub's object (its client frame), the delivery wakes sub's: each re-registers its
    // hibernated sockets with a new `welcome`, the clients rejoin from their last seq and history fills the rest.
    assertEquals(await within(publishMany(pub.client, room, 45, { from: 5 }), "publishes after hibernation"), range(6, 50));
    await waitUntil(() => sub.seqs(room).length >= 50, () => `resumed to 50 (${sub.seqs(room).length}, ${sub.welcomes} welcomes)`, 30_000);
    assertEquals(sub.seqs(room), range(1, 50), "no gap, no duplicate");
    assert(sub.welcomes >= 2 && pub.welcomes >= 2, `the objects were evicted and woke (welcomes ${sub.welcomes}, ${pub.welcomes})`);
    assertEquals(sub.client.stats.gaps, 0);
    assertEquals(sub.errors, []);
  });

  it("bad input through the Worker gets typed error frames; the hub object keeps serving others", async () => {
    const room = "bad-input";
    const good = await rec(wd.urls.app, "sse");
    await within(good.client.join(room), "join");
    const WS = await webSocketClass();
    const ws = new WS(`${wd.urls.app.replace("http", "ws")}/ws`);
    const frames: Array<Record<string, unknown>> = [];
    ws.onmessage = (e: MessageEvent) => frames.push(JSON.parse(String(e.data)));
    await waitUntil(() => frames.some((f) => f.t === "welcome"), "raw socket welcomed");
    const hostile: Array<[string | Uint8Array, string]> = [
      ["not json", "BAD_FRAME"],
      ['{"t":"nope","ref":"r2"}', "BAD_FRAME"],
      ['{"t":"join","room":"","ref":"r3"}', "BAD_ROOM"],
      [JSON.stringify({ t: "pub", room: "x".repeat(10_000), data: "y", ref: "r4" }), "BAD_ROOM"],
      [JSON.stringify({ t: "join", room: "a\u0000b", ref: "r5" }), "BAD_ROOM"],
      [JSON.stringify({ t: "pub", room, data: "z".repeat(70 * 1024), ref: "r6" }), "PAYLOAD_TOO_LARGE"],
      [JSON.stringify({ t: "pub", room, b64: "!!!", ref: "r7" }), "BAD_FRAME"],
      [new Uint8Array([0xff, 0xfe, 0x00]), "BAD_FRAME"],
    ];
    for (const [data] of hostile) ws.send(data);
    await waitUntil(() => frames.filter((f) => f.t === "error").length >= hostile.length, "an error frame per hostile frame", 15_000);
    // Each hostile frame gets its typed error (handled concurrently, so compared as a multiset).
    assertEquals(frames.filter((f) => f.t === "error").map((f) => String(f.code)).sort(), hostile.map(([, code]) => code).sort());
    // Rooms that look like wildcards or prototype keys are plain, isolated rooms.
    const odd = await rec(wd.urls.app, "ws");
    await within(Promise.all(["__proto__", "*", ">", "a b"].map((r) => odd.client.join(r))), "joins");
    for (const r of ["__proto__", "*", ">", "a b"]) await odd.client.publish(r, `to ${r}`);
    await waitUntil(() => odd.messages.length >= 4, "odd rooms delivered");
    assertEquals(odd.messages.map((m) => `${m.room}=${m.data}`), ["__proto__", "*", ">", "a b"].map((r) => `${r}=to ${r}`));
    // HTTP: unknown and foreign session tokens, internal paths.
    for (const path of ["/sse/1.0123456789abcdef0123456789abcdef", "/sse/999.0123456789abcdef0123456789abcdef", "/poll/zz", "/sse/%E0%A4%A"]) {
      const r = await fetch(`${wd.urls.app}${path}`, { method: "POST", body: '{"t":"ping"}' });
      const body = await r.json() as { error: { code: string } };
      assertEquals([r.status, body.error.code], [404, "UNKNOWN_CONNECTION"], path);
    }
    const internal = await fetch(`${wd.urls.app}/__edgeplane/room/publish`, { method: "POST", body: "{}" });
    assertEquals(internal.status, 404);
    await internal.body?.cancel();
    // The hub object still serves: the good client gets what follows, and the raw socket is still open.
    const pub = await rec(wd.urls.app, "ws");
    assertEquals((await within(publishMany(pub.client, room, 10), "publishes")).length, 10);
    await waitUntil(() => good.seqs(room).length >= 10, "good client keeps receiving");
    assertEquals(good.seqs(room), range(1, 10));
    assertEquals(good.errors, []);
    assertEquals(ws.readyState, 1);
    ws.close();
  });

  it("restart workerd with persistent Durable Object storage: seqs continue above the old ones, history replays", async () => {
    const room = "persist";
    const a = await rec(wd.urls.app, "ws");
    await within(a.client.join(room), "join");
    assertEquals(await within(publishMany(a.client, room, 40), "publishes"), range(1, 40));
    await waitUntil(() => a.seqs(room).length >= 40, "40 before restart");
    await wd.restart(); // SIGTERM by PID: every object gone, storage on disk
    // A client that saw up to 25 resumes after the restart: the room object replays 26..40 from storage.
    const b = await rec(wd.urls.app, "sse");
    await opened(b);
    await within(b.client.join(room, { lastSeq: 25 }), "resume join");
    await waitUntil(() => b.seqs(room).length >= 15, "replayed 26..40");
    const next = await b.client.publish(room, "after restart");
    assertEquals(next.seq, 41, "seq continues above the old ones");
    // The client that was connected through the restart reconnects and resumes without gap or duplicate.
    await waitUntil(() => a.seqs(room).length >= 41 && b.seqs(room).length >= 16, "41 delivered to both", 30_000);
    assertEquals(a.seqs(room), range(1, 41));
    assertEquals(b.seqs(room), range(26, 41));
    assertEquals(b.messages.map((m) => m.data), [...range(25, 39).map((i) => `m${i}`), "after restart"]);
  });

  it("a workerd hub and a NatsExchange of this runtime share one order over one nats-server (WebSocket and TCP)", async () => {
    const room = "nats-mixed";
    const nc = await connectNats({ servers: nats.url });
    const local = new NatsExchange(nc, { nodeId: `local-${RUNTIME}`, prefix: "edgeplane" });
    closers.push(async () => {
      await local.close();
      await nc.close();
    });
    await local.ready();
    const got: SequencedMessage[] = [];
    const unsub = local.subscribe(room, (m) => got.push(m));
    closers.push(unsub);
    const edge = await rec(wd.urls.nats, "ws");
    await within(edge.client.join(room), "join");
    const fromEdge = await within(publishMany(edge.client, room, 100, { payload: (i) => `edge-${i}` }), "publishes");
    const fromLocal = await Promise.all(range(0, 99).map((i) => local.publish(room, `local-${i}`)));
    assertEquals([...fromEdge, ...fromLocal.map((x) => x.seq)].sort((x, y) => x - y), range(1, 200));
    await waitUntil(() => got.length >= 200 && edge.seqs(room).length >= 200, "200 on both sides", 30_000);
    assertEquals(got.map((m) => m.seq), range(1, 200));
    assertEquals(edge.messages.map((m) => `${m.seq}:${m.id}`), got.map((m) => `${m.seq}:${m.id}`), "same id at the same seq");
  });

  if (RUNTIME === "node") {
    it("mixed fleet: a Node node and the workerd hub; kill workerd → its client resumes on the Node node, no gap, no duplicate", async () => {
      const { Hub } = await import("../src/hub.ts");
      const { edgeplaneRoutes } = await import("../adapters/hono.ts");
      const { serve, upgradeWebSocket } = await import("../adapters/node.ts");
      const { Hono } = await import("hono");
      const nc = await connectNats({ servers: nats.url });
      const hub = new Hub({ exchange: new NatsExchange(nc, { nodeId: "node-1" }), log: () => {} });
      await hub.ready();
      const routes = edgeplaneRoutes(hub, { upgradeWebSocket });
      const served = await serve(new Hono().route("/", routes.app), { port: 0, onListen: () => {} });
      closers.push(async () => {
        routes.close();
        await hub.close();
        await served.close();
        await nc.close();
      });
      const room = "fleet";
      const WS = await webSocketClass();
      const client = (url: string[]) => new EdgeplaneClient({ url, transports: ["ws"], WebSocket: WS, backoff: { initialMs: 50, maxMs: 300 } });
      const edge = client([wd.urls.nats, served.url]);
      const nodeSide = client([served.url]);
      closers.push(() => edge.close(), () => nodeSide.close());
      const seen = { edge: [] as ClientMessage[], node: [] as ClientMessage[] };
      edge.on("message", (m) => seen.edge.push(m));
      nodeSide.on("message", (m) => seen.node.push(m));
      await within(Promise.all([edge.join(room), nodeSide.join(room)]), "joins");
      const publish = async (c: EdgeplaneClient, tag: string, n: number) => {
        for (let i = 0; i < n; i++) await c.publish(room, `${tag}-${i}`);
      };
      // While the fleet has not yet declared the killed hub dead, a publish may be refused (it never gets a seq):
      // an app retries it, as here.
      const publishRetrying = async (c: EdgeplaneClient, tag: string, n: number) => {
        for (let i = 0; i < n; i++) {
          for (let attempt = 0;; attempt++) {
            try {
              await c.publish(room, `${tag}-${i}`);
              break;
            } catch (err) {
              if (attempt > 50) throw err;
              await new Promise((r) => setTimeout(r, 100));
            }
          }
        }
      };
      await within(Promise.all([publish(edge, "edge", 100), publish(nodeSide, "node", 100)]), "publishes");
      await waitUntil(() => seen.edge.length >= 200 && seen.node.length >= 200, "200 on both nodes", 30_000);
      const key = (m: ClientMessage) => `${m.seq}:${m.id}`;
      assertEquals(seen.edge.map(key), seen.node.map(key), "same seq for the same message on the edge hub and the Node node");
      await wd.kill(); // SIGKILL by PID: the edge hub leaves the fleet without a word
      await within(publishRetrying(nodeSide, "after", 100), "publishes after the kill", 90_000);
      const total = seen.node.length;
      assert(total >= 300, `node side saw ${total}`);
      assertEquals(seen.node.map((m) => m.seq), range(1, total));
      await waitUntil(() => seen.edge.length >= total, "the edge client resumed on the Node node", 60_000);
      assertEquals(seen.edge.map((m) => m.seq), range(1, total), "no gap, no duplicate");
      assertEquals(seen.edge.map(key), seen.node.map(key));
    });
  }
});
