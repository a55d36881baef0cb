// The client in process: against the Hono routes through an in-process fetch (no sockets), with a WebSocket that
// cannot connect. Fallback ws → sse → poll, resume with discontinuity, dedupe, backoff, SSE parsing.
import { describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import { Hub } from "../src/hub.ts";
import { MemoryExchange } from "../src/exchange/memory.ts";
import { EdgeplaneClient } from "../src/client/mod.ts";
import { backoffDelay } from "../src/client/_backoff.ts";
import { SseParser } from "../src/client/_sse-parser.ts";
import { edgeplaneRoutes } from "../adapters/hono.ts";
import { waitUntil } from "./helpers/process.ts";

const quiet = { log: () => {} };

/** A WebSocket that always fails to connect. */
class DeadSocket {
  static instances = 0;
  readyState = 0;
  onopen: (() => void) | null = null;
  onmessage: ((e: unknown) => void) | null = null;
  onclose: ((e: { code: number; reason: string }) => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(_url: string) {
    DeadSocket.instances++;
    setTimeout(() => {
      this.readyState = 3;
      this.onerror?.();
      this.onclose?.({ code: 1006, reason: "" });
    }, 1);
  }
  send(): void {}
  close(): void {}
}

function setup(hubOpts: ConstructorParameters<typeof Hub>[0] = {}) {
  const hub = new Hub({ ...quiet, ...hubOpts });
  const routes = edgeplaneRoutes(hub, { authorize: (_r, room) => room !== "nope" });
  const fetchIn = ((input: RequestInfo | URL, init?: RequestInit) => Promise.resolve(routes.app.fetch(new Request(input, init)))) as typeof fetch;
  const client = (transports?: ("ws" | "sse" | "poll")[]) =>
    new EdgeplaneClient({
      url: "http://in-process/",
      fetch: fetchIn,
      WebSocket: DeadSocket as unknown as new (url: string) => WebSocket,
      transports,
      backoff: { initialMs: 5, maxMs: 20 },
      pollWaitMs: 200,
    });
  return { hub, routes, client };
}

describe("client", () => {
  it("falls back from a failing WebSocket to SSE, joins, publishes and receives; a refused join rejects with FORBIDDEN", async () => {
    const { hub, routes, client } = setup();
    const states: string[] = [];
    const c = client();
    c.on("state", (s) => states.push(`${s.state}/${s.transport}`));
    const got: string[] = [];
    c.on("message", (m) => got.push(`${m.seq}:${m.data}`));
    await c.join("lobby");
    assertEquals(c.transport, "sse");
    assert(states.includes("open/sse"), states.join(","));
    assert(DeadSocket.instances >= 1, "ws was tried first");
    assertEquals((await c.publish("lobby", "hi")).seq, 1);
    await waitUntil(() => got.length >= 1, "own message back");
    assertEquals(got[0], "1:hi");
    let code = "";
    await c.join("nope").catch((e) => (code = e.code));
    assertEquals(code, "FORBIDDEN");
    assertEquals(c.rooms, ["lobby"]);
    c.close();
    routes.close();
    await hub.close();
  });

  it("with transports [ws, poll] it ends up on long-poll; binary payloads round-trip", async () => {
    const { hub, routes, client } = setup();
    const c = client(["ws", "poll"]);
    const bytes: Uint8Array[] = [];
    c.on("message", (m) => m.bytes && bytes.push(m.bytes));
    await c.join("bin");
    assertEquals(c.transport, "poll");
    await c.publish("bin", new Uint8Array([0, 1, 2, 255]));
    await waitUntil(() => bytes.length === 1, "binary message");
    assertEquals([...bytes[0]], [0, 1, 2, 255]);
    c.close();
    routes.close();
    await hub.close();
  });

  it("resumes after a dropped connection; when history cannot cover the gap it emits `discontinuity`", async () => {
    const { hub, routes, client } = setup({ exchange: new MemoryExchange({ history: { maxMessages: 5 } }) });
    const c = client(["sse"]);
    const seqs: number[] = [];
    const disc: unknown[] = [];
    c.on("message", (m) => seqs.push(m.seq));
    c.on("discontinuity", (d) => disc.push(d));
    await c.join("r");
    await hub.publish("r", "1");
    await waitUntil(() => seqs.length === 1, "first");
    // Drop and publish while it is away: 3 messages (history holds them) → replayed.
    c.dropConnection();
    for (let i = 2; i <= 4; i++) await hub.publish("r", String(i));
    await waitUntil(() => seqs.length === 4, "replayed");
    assertEquals(seqs, [1, 2, 3, 4]);
    assertEquals(disc, []);
    // Drop again and publish more than history keeps → discontinuity, then live messages continue.
    await waitUntil(() => c.state === "open", "open again");
    c.dropConnection();
    for (let i = 5; i <= 14; i++) await hub.publish("r", String(i));
    await waitUntil(() => disc.length === 1, "discontinuity event");
    const d = disc[0] as { room: string; afterSeq: number; nextSeq: number };
    assertEquals([d.room, d.afterSeq], ["r", 4]);
    assertEquals(c.lastSeq("r"), d.nextSeq - 1);
    await hub.publish("r", "15");
    await waitUntil(() => seqs.includes(15), "live after discontinuity");
    assertEquals(c.stats.duplicatesDropped, 0);
    c.close();
    routes.close();
    await hub.close();
  });

  it("backoff grows exponentially with jitter and is capped", () => {
    assertEquals(backoffDelay(0, { initialMs: 100, jitter: 0 }), 100);
    assertEquals(backoffDelay(3, { initialMs: 100, jitter: 0 }), 800);
    assertEquals(backoffDelay(50, { initialMs: 100, maxMs: 5000, jitter: 0 }), 5000);
    assertEquals(backoffDelay(2, { initialMs: 100, jitter: 0.5 }, () => 1), 200);
    assertEquals(backoffDelay(2, { initialMs: 100, jitter: 0.5 }, () => 0), 400);
  });

  it("parses text/event-stream across chunk boundaries (CRLF, comments, multi-line data, ids)", () => {
    const p = new SseParser();
    const out = [
      ...p.push("retry: 10\r\n\r\n: comment\n\nid: 7\nda"),
      ...p.push("ta: {\"a\":1}\n\nevent: session\ndata: x\ndata: y\n"),
      ...p.push("\n"),
    ];
    assertEquals(out, [
      { event: "message", data: '{"a":1}', id: "7" },
      { event: "session", data: "x\ny", id: "7" },
    ]);
  });
});
