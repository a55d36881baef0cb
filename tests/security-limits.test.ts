// Hub limits in process (recording sinks, no sockets): rooms per connection (joins in flight included), the publish
// token bucket (refuse, recover, close 4029 only for a client that keeps going), presence meta bytes, connections
// per node and per identity (released on close), presenceMeta from the identity, option validation, and every
// refusal in metrics() (JSON and Prometheus). The same limits over real servers: tests/security-transports.test.ts.
import { describe, it } from "node:test";
import { assert, assertEquals, assertThrows } from "@std/assert";
import { EdgeplaneError } from "../src/errors.ts";
import { Hub, type HubOptions } from "../src/hub.ts";
import { identityKey } from "../src/limits.ts";
import { prometheusText } from "../src/metrics.ts";
import { admit, originAllowed } from "../src/transport/admission.ts";
import { RecordingSink } from "./helpers/sinks.ts";
import { waitUntil } from "./helpers/process.ts";

const quiet = { log: () => {} };

function client(hub: Hub, identity?: unknown) {
  const sink = new RecordingSink();
  const conn = hub.connect(sink, { identity });
  const send = (f: unknown) => hub.receive(conn.id, JSON.stringify(f));
  const errors = () => sink.ofType("error");
  return { sink, conn, send, errors };
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof EdgeplaneError ? err.code : `untyped: ${err}`;
  }
  return undefined;
}

describe("security limits (hub)", () => {
  it("rooms per connection: the join over the limit gets LIMIT_ROOMS with its ref; rejoining a room and joining after a leave are fine", async () => {
    const hub = new Hub({ ...quiet, limits: { maxRoomsPerConnection: 3 } });
    const c = client(hub);
    // Sent together: joins in flight count, so a burst cannot overshoot the limit.
    await Promise.all(["a", "b", "c", "d", "e"].map((room) => c.send({ t: "join", room, ref: room })));
    await waitUntil(() => c.sink.ofType("joined").length + c.errors().length === 5, "answers");
    assertEquals(c.sink.ofType("joined").map((j) => j.room).sort(), ["a", "b", "c"]);
    assertEquals(c.errors().map((e) => [e.code, e.ref, e.room]), [["LIMIT_ROOMS", "d", "d"], ["LIMIT_ROOMS", "e", "e"]]);
    await c.send({ t: "join", room: "a", ref: "again" }); // already in it: not a new room
    await c.send({ t: "leave", room: "b" });
    await c.send({ t: "join", room: "d", ref: "d2" });
    await waitUntil(() => c.sink.ofType("joined").length === 5, "rejoin and d after the leave");
    assertEquals(c.errors().length, 2);
    assertEquals([...c.conn.rooms].sort(), ["a", "c", "d"]);
    assertEquals(hub.metrics().refused.rooms, 2);
    // The default is 100.
    const dflt = new Hub(quiet);
    const d = client(dflt);
    for (let i = 0; i <= 100; i++) void d.send({ t: "join", room: `r${i}`, ref: `j${i}` });
    await waitUntil(() => d.sink.ofType("joined").length + d.errors().length === 101, "101 answers");
    assertEquals(d.errors().map((e) => [e.code, e.ref]), [["LIMIT_ROOMS", "j100"]]);
    await hub.close();
    await dflt.close();
  });

  it("publish rate: a burst beyond the bucket is refused (RATE_LIMITED with ref), tokens come back with time, a client that keeps going is closed with 4029", async () => {
    const hub = new Hub({ ...quiet, limits: { publishRate: { perSecond: 20, burst: 5, closeAfter: 20 } } });
    const c = client(hub);
    const other = client(hub);
    await other.send({ t: "join", room: "r" });
    for (let i = 0; i < 8; i++) await c.send({ t: "pub", room: "r", data: `m${i}`, ref: `p${i}` });
    await waitUntil(() => c.sink.ofType("ack").length + c.errors().length === 8, "8 answers");
    const acked = c.sink.ofType("ack").map((a) => a.ref);
    const refused = c.errors().map((e) => [e.code, e.ref, e.room]);
    assert(acked.length >= 5 && acked.length <= 7, `the burst of 5 (plus what refilled meanwhile) went through: ${acked}`);
    assertEquals(refused.length, 8 - acked.length);
    for (const r of refused) assertEquals([r[0], r[2]], ["RATE_LIMITED", "r"]);
    assertEquals(c.sink.closed, undefined, "refused, not closed");
    // 20/s: after 120 ms two tokens are back.
    await new Promise((r) => setTimeout(r, 120));
    await c.send({ t: "pub", room: "r", data: "later", ref: "later" });
    await waitUntil(() => c.sink.ofType("ack").some((a) => a.ref === "later"), "publish after the refill");
    await waitUntil(() => other.sink.messages("r").length === acked.length + 1, "the room got exactly the accepted ones");
    assertEquals(other.sink.messages("r").map((m) => m.data), [...acked.map((r) => `m${r!.slice(1)}`), "later"]);
    // Keep going regardless: after 20 refusals in a row the connection is closed.
    for (let i = 0; i < 60 && !c.sink.closed; i++) await c.send({ t: "pub", room: "r", data: "flood" });
    assertEquals(c.sink.closed, { code: 4029, reason: "rate limited" });
    const m = hub.metrics();
    assertEquals(m.refused.rateCloses, 1);
    assert(m.refused.rate >= 20, `refusals counted (${m.refused.rate})`);
    assertEquals(m.connections, 1);
    // Server-side publishes are never rate-limited.
    for (let i = 0; i < 50; i++) await hub.publish("r", `s${i}`);
    await hub.close();
  });

  it("presence meta: over maxPresenceMetaBytes (UTF-8 bytes) the join is refused with PAYLOAD_TOO_LARGE; presenceMeta fills meta from the identity", async () => {
    const hub = new Hub({
      ...quiet,
      presence: { intervalMs: 5 },
      limits: { maxPresenceMetaBytes: 32 },
      presenceMeta: (conn, _room, meta) => ({ ...meta, name: (conn.identity as { name: string }).name }),
    });
    const a = client(hub, { id: "u1", name: "Ada" });
    await a.send({ t: "join", room: "p", ref: "big", meta: { bio: "é".repeat(12) } }); // 24 characters, 35 bytes
    await a.send({ t: "join", room: "p", ref: "ok", meta: { name: "Bob (not me)", x: 1 } });
    await waitUntil(() => a.sink.ofType("presence").length > 0, "presence");
    assertEquals(a.errors().map((e) => [e.code, e.ref]), [["PAYLOAD_TOO_LARGE", "big"]]);
    assertEquals(a.sink.ofType("presence").at(-1)?.members?.map((m) => m.meta), [{ name: "Ada", x: 1 }]);
    assertEquals(hub.presence("p")[0].meta, { name: "Ada", x: 1 });
    assertEquals(hub.metrics().refused.meta, 1);
    await hub.close();
  });

  it("connections per node and per identity: LIMIT_CONNECTIONS / LIMIT_SESSIONS, admits() says so first, closing frees the slot", async () => {
    const hub = new Hub({ ...quiet, limits: { maxConnections: 4, maxConnectionsPerIdentity: 2 } });
    const ada1 = client(hub, "ada");
    client(hub, { id: "ada", name: "Ada" });
    assertEquals(hub.admits("ada")?.code, "LIMIT_SESSIONS");
    assertEquals(code(() => hub.connect(new RecordingSink(), { identity: { id: "ada" } })), "LIMIT_SESSIONS");
    assertEquals(hub.admits("bob"), undefined);
    client(hub, "bob");
    client(hub); // no identity: not counted per identity
    assertEquals(hub.admits()?.code, "LIMIT_CONNECTIONS");
    assertEquals(code(() => hub.connect(new RecordingSink())), "LIMIT_CONNECTIONS");
    assertEquals(code(() => hub.connect(new RecordingSink(), { identity: "carol" })), "LIMIT_CONNECTIONS");
    ada1.conn.close();
    assertEquals(hub.admits("ada"), undefined);
    client(hub, "ada");
    assertEquals(hub.metrics().connections, 4);
    const m = hub.metrics();
    assertEquals([m.refused.identity, m.refused.connections], [2, 3]);
    await hub.drain();
    assertEquals(hub.admits()?.code, "CLOSED");
  });

  it("originAllowed and admit: same-origin by Host (ports count, default ports do not), lists, functions, opt-out; refusals as typed JSON responses", async () => {
    const req = (url: string, headers: Record<string, string> = {}) => new Request(url, { headers });
    assert(originAllowed(req("http://a.example:8080/ws", { origin: "http://a.example:8080" })));
    assert(originAllowed(req("http://a.example/ws", { origin: "https://a.example:443" })), "TLS ends at a proxy: hosts compare");
    assert(!originAllowed(req("http://a.example:8080/ws", { origin: "http://a.example:8081" })));
    assert(!originAllowed(req("http://a.example/ws", { origin: "http://a.example.evil.test" })));
    assert(!originAllowed(req("http://a.example/ws", { origin: "null" })));
    assert(!originAllowed(req("http://a.example/ws", { origin: "not a url" })));
    assert(originAllowed(req("http://a.example/ws")), "no Origin: not a browser");
    assert(!originAllowed(req("http://a.example/ws", { "sec-fetch-site": "cross-site" })));
    assert(originAllowed(req("http://[::1]:9/ws", { origin: "http://[::1]:9" })));
    assert(originAllowed(req("http://a.example/ws", { origin: "https://b.example" }), ["https://b.example"]));
    assert(!originAllowed(req("http://a.example/ws", { origin: "https://c.example" }), ["https://b.example"]));
    assert(originAllowed(req("http://a.example/ws", { origin: "https://x.b.example" }), (o) => o.endsWith(".b.example")));
    assert(!originAllowed(req("http://a.example/ws", { origin: "https://x.b.example" }), () => {
      throw new Error("bug");
    }), "a throwing check refuses");
    assert(originAllowed(req("http://a.example/ws", { origin: "https://anything" }), "*"));

    const errors: string[] = [];
    const orig = console.error;
    console.error = (line: string) => errors.push(line);
    const hub = new Hub({ ...quiet, limits: { maxConnections: 1 } });
    try {
      const body = async (r: unknown) => [(r as Response).status, ((await (r as Response).json()) as { error: { code: string } }).error.code];
      assertEquals(await body(await admit(hub, req("http://a.example/sse", { origin: "https://evil.example" }), {})), [403, "FORBIDDEN_ORIGIN"]);
      assertEquals(await body(await admit(hub, req("http://a.example/sse"), { authenticate: () => null })), [401, "UNAUTHENTICATED"]);
      assertEquals(await body(await admit(hub, req("http://a.example/sse"), { authenticate: () => Promise.reject(new Error("db down")) })), [401, "UNAUTHENTICATED"]);
      assert(errors.some((l) => l.includes("authenticate threw") && l.includes("db down")), "a throwing authenticate is logged");
      assertEquals(await admit(hub, req("http://a.example/sse"), { authenticate: () => ({ id: 1 }) }), { identity: { id: 1 } });
      hub.connect(new RecordingSink());
      const full = (await admit(hub, req("http://a.example/sse"), {})) as Response;
      assertEquals([full.status, full.headers.get("retry-after")], [503, "5"]);
      assertEquals(hub.metrics().refused, { origin: 1, unauthenticated: 2, connections: 1, identity: 0, rooms: 0, rate: 0, rateCloses: 0, meta: 0 });
    } finally {
      console.error = orig;
      await hub.close();
    }
  });

  it("identityKey, option validation, and every refusal reason in the Prometheus text", async () => {
    assertEquals(identityKey("x"), "x");
    assertEquals(identityKey({ id: 7 }), "7");
    assertEquals(identityKey({ id: "u" }), "u");
    assertEquals([identityKey({}), identityKey(null), identityKey(3), identityKey({ id: NaN })], [undefined, undefined, undefined, undefined]);
    const bad: Array<HubOptions["limits"]> = [
      { maxConnections: 0 },
      { maxRoomsPerConnection: -1 },
      { maxPresenceMetaBytes: Number.NaN },
      { publishRate: { perSecond: 0 } },
      { publishRate: { perSecond: 5, burst: -2 } },
      { maxConnectionsPerIdentity: "3" as unknown as number },
    ];
    for (const limits of bad) assertThrows(() => new Hub({ ...quiet, limits }), EdgeplaneError, "must be a positive number");
    const hub = new Hub(quiet);
    hub.countRefusal("origin");
    hub.countRefusal("unauthenticated");
    hub.countRefusal("unauthenticated");
    const text = prometheusText(hub.metrics());
    assert(text.includes(`edgeplane_refused_total{node="${hub.nodeId}",reason="origin"} 1`), text);
    assert(text.includes(`reason="unauthenticated"} 2`));
    for (const r of ["connections", "identity", "rooms", "rate", "rate_closes", "meta"]) assert(text.includes(`reason="${r}"} 0`), r);
    await hub.close();
  });
});
