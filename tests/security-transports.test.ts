// Origin checks, authentication and every limit over real connections, on each of ws, SSE and long-poll: the security
// example (examples/security) served on the runtime running this file (so node, deno and bun each test their own
// server). Raw clients (tests/helpers/raw-transport.ts) set the Origin / Sec-Fetch-Site / Authorization headers a
// browser or an attacker would.
import { after, before, describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import type { TransportKind } from "../src/transport/connection.ts";
import { openRaw, type RawConn, refusedCode } from "./helpers/raw-transport.ts";
import { startSecurityServer, type SecurityServer } from "./helpers/security-server.ts";
import { waitUntil } from "./helpers/process.ts";
import { opened, recorder } from "./helpers/test-clients.ts";

const KINDS: TransportKind[] = ["ws", "sse", "poll"];
const ALLOWED = "http://app.example";

describe("security over ws, SSE and long-poll", () => {
  let server: SecurityServer;
  const open: RawConn[] = [];

  before(async () => {
    server = await startSecurityServer({
      EDGEPLANE_ALLOWED_ORIGINS: ALLOWED,
      EDGEPLANE_MAX_CONNECTIONS: "10",
      EDGEPLANE_MAX_PER_USER: "2",
      EDGEPLANE_MAX_ROOMS: "3",
      EDGEPLANE_PUBLISH_RATE: "10/4/15",
      EDGEPLANE_MAX_META_BYTES: "64",
      EDGEPLANE_SSE_HEARTBEAT_MS: "500", // a vanished SSE client is noticed at the next write
    });
  });

  after(async () => {
    for (const c of open) await c.close().catch(() => {});
    await server?.stop();
  });

  async function conn(kind: TransportKind, user: string | undefined, headers: Record<string, string> = {}, query = ""): Promise<RawConn> {
    const q = [user ? `token=tok-${user}` : "", query].filter(Boolean).join("&");
    const c = await openRaw(server.url, kind, { headers, query: q });
    open.push(c);
    return c;
  }

  async function closeAll(): Promise<void> {
    for (const c of open.splice(0)) await c.close().catch(() => {});
    let m = await server.metrics();
    await waitUntil(async () => (m = await server.metrics()).connections === 0, () => `server-side connections closed (${m.connections} open: ${m.sseSessions} sse, ${m.pollSessions} poll)`, 15_000);
  }

  for (const kind of KINDS) {
    it(`${kind}: other origins are refused with 403 FORBIDDEN_ORIGIN before any upgrade or session; same origin, listed origins and non-browser clients connect`, async () => {
      const refused: Array<Record<string, string>> = [{ origin: "http://evil.example" }, { origin: "null" }, { "sec-fetch-site": "cross-site" }, { origin: `${ALLOWED}.evil.example` }];
      for (const headers of refused) {
        const c = await conn(kind, "ada", headers);
        assertEquals([c.status, refusedCode(c)], [403, "FORBIDDEN_ORIGIN"], JSON.stringify(headers));
      }
      const admitted: Array<Record<string, string>> = [{ origin: server.url }, { origin: ALLOWED }, {}, { "sec-fetch-site": "same-origin" }];
      for (const headers of admitted) {
        const c = await conn(kind, "ada", headers);
        assertEquals(c.status, kind === "ws" ? 101 : 200, JSON.stringify(headers));
        assertEquals(c.frames[0]?.t, "welcome");
        if (kind !== "ws") {
          // The session's POSTs are origin-checked too.
          const res = await fetch(`${server.url}/${kind}/any-token`, { method: "POST", body: "{}", headers: { origin: "http://evil.example" } });
          assertEquals(res.status, 403);
          assertEquals(((await res.json()) as { error: { code: string } }).error.code, "FORBIDDEN_ORIGIN");
        }
        await c.close();
      }
      await closeAll();
    });

    it(`${kind}: without a valid token 401 UNAUTHENTICATED; the identity decides authorize and the presence name`, async () => {
      for (const user of [undefined, "NOT VALID"]) {
        const c = await openRaw(server.url, kind, { query: user ? `token=${encodeURIComponent(user)}` : "" });
        assertEquals([c.status, refusedCode(c)], [401, "UNAUTHENTICATED"]);
      }
      const ada = await conn(kind, undefined, { authorization: "Bearer tok-ada" });
      assertEquals(ada.frames[0]?.t, "welcome");
      await ada.send(JSON.stringify({ t: "join", room: "user:ada", ref: "own" }));
      await ada.send(JSON.stringify({ t: "join", room: "user:bob", ref: "other" }));
      await ada.send(JSON.stringify({ t: "join", room: `lobby-${kind}`, ref: "lobby", meta: { name: "Bob", mood: "ok" } }));
      const lobby = () => ada.frames.find((f) => f.t === "presence" && f.room === `lobby-${kind}`) as { members: Array<{ meta: unknown }> } | undefined;
      await waitUntil(() => lobby() !== undefined, "presence frame", 10_000);
      assertEquals(ada.errors().map((e) => [e.code, e.ref]), [["FORBIDDEN", "other"]]);
      assertEquals(ada.frames.filter((f) => f.t === "joined").map((f) => (f as { room: string }).room), ["user:ada", `lobby-${kind}`]);
      assertEquals(lobby()!.members.map((m) => m.meta), [{ name: "Ada", mood: "ok" }], "the authenticated name, not the claimed one");
      await closeAll();
    });

    it(`${kind}: at most 2 connections per user (429 LIMIT_SESSIONS); other users unaffected; a closed one frees its slot`, async () => {
      const a1 = await conn(kind, "kim");
      await conn(kind, "kim");
      const a3 = await conn(kind, "kim");
      assertEquals([a3.status, refusedCode(a3)], [429, "LIMIT_SESSIONS"]);
      const other = await conn(kind, "lee");
      assertEquals(other.frames[0]?.t, "welcome");
      await a1.close();
      await waitUntil(async () => (await server.metrics()).connections === 2, "the closed one is gone", 10_000);
      const again = await conn(kind, "kim");
      assertEquals(again.frames[0]?.t, "welcome");
      await closeAll();
    });

    it(`${kind}: joins over 3 rooms get LIMIT_ROOMS; presence meta over 64 bytes gets PAYLOAD_TOO_LARGE`, async () => {
      const c = await conn(kind, "max");
      const lines = [1, 2, 3, 4, 5].map((i) => JSON.stringify({ t: "join", room: `r${i}-${kind}`, ref: `j${i}` }));
      if (kind === "ws") for (const l of lines) await c.send(l);
      else assertEquals(await c.send(lines.join("\n")), 202);
      await c.send(JSON.stringify({ t: "leave", room: `r1-${kind}`, ref: "l1" }));
      await waitUntil(() => c.frames.some((f) => f.t === "left"), "left", 10_000);
      await c.send(JSON.stringify({ t: "join", room: `m-${kind}`, ref: "meta", meta: { bio: "x".repeat(80) } }));
      await waitUntil(() => c.errors().length >= 3, "errors", 10_000);
      assertEquals(c.errors().map((e) => [e.code, e.ref]), [["LIMIT_ROOMS", "j4"], ["LIMIT_ROOMS", "j5"], ["PAYLOAD_TOO_LARGE", "meta"]]);
      await closeAll();
    });

    it(`${kind}: publishes over 10/s (burst 4) get RATE_LIMITED and the connection stays; one that keeps going is closed with 4029`, async () => {
      const sub = await conn(kind, "sub");
      await sub.send(JSON.stringify({ t: "join", room: `rate-${kind}` }));
      await waitUntil(() => sub.frames.some((f) => f.t === "joined"), "subscriber joined", 10_000);
      const c = await conn(kind, "pub");
      const pubs = (n: number, tag: string) => Array.from({ length: n }, (_, i) => JSON.stringify({ t: "pub", room: `rate-${kind}`, data: `${tag}${i}`, ref: `${tag}${i}` }));
      const burst = async (lines: string[]) => {
        if (kind === "ws") for (const l of lines) await c.send(l);
        else await c.send(lines.join("\n"));
      };
      await burst(pubs(8, "a"));
      await waitUntil(() => c.frames.filter((f) => f.t === "ack").length + c.errors().length >= 8, "answers to 8 publishes", 10_000);
      const acked = c.frames.filter((f) => f.t === "ack").length;
      assert(acked >= 4 && acked < 8, `the burst went through, the rest was refused (${acked} acked)`);
      assert(c.errors().every((e) => e.code === "RATE_LIMITED"), JSON.stringify(c.errors()));
      await new Promise((r) => setTimeout(r, 300)); // 3 tokens back
      await burst(pubs(1, "b"));
      await waitUntil(() => c.frames.some((f) => f.t === "ack" && f.ref === "b0"), "publish after slowing down", 10_000);
      assertEquals(c.closed, undefined);
      await burst(pubs(40, "c"));
      await waitUntil(() => c.closed !== undefined, "flooding connection closed", 10_000);
      assertEquals(c.closed?.code, 4029);
      // The subscriber got every acknowledged publish, in order, none twice (a publish accepted just before the close
      // may have lost its ack with the connection, never its place in the room).
      const acks = c.frames.filter((f) => f.t === "ack").map((f) => f.ref);
      const got = () => sub.frames.filter((f) => f.t === "msg").map((f) => (f as { data: string }).data);
      await waitUntil(() => got().length >= acks.length, "subscriber got the accepted ones", 10_000);
      assertEquals(got().slice(0, acks.length), acks);
      assertEquals(new Set(got()).size, got().length);
      assert(got().length <= acks.length + 4, `at most the burst more than acknowledged (${got().length} vs ${acks.length})`);
      await closeAll();
    });
  }

  for (const kind of KINDS) {
    it(`${kind}: the edgeplane client authenticates with a token in its URL's query (sent with every request)`, async () => {
      const refused = await recorder(server.url, kind);
      const r = await recorder(`${server.url}/?token=tok-cli`, kind);
      try {
        await opened(r);
        const joined = await r.client.join("user:cli");
        assertEquals(joined.room, "user:cli");
        const ack = await r.client.publish("user:cli", "hi");
        assertEquals(typeof ack.seq, "number");
        assertEquals(refused.welcomes, 0, "without the token the client never gets in");
      } finally {
        r.client.close();
        refused.client.close();
      }
      await closeAll();
    });
  }

  it("the node takes at most 10 connections: the 11th is refused with 503 LIMIT_CONNECTIONS on every transport; every refusal is in metrics()", async () => {
    for (let i = 0; i < 10; i++) {
      const c = await conn(KINDS[i % 3], `n${i}`);
      assertEquals(c.frames[0]?.t, "welcome");
    }
    for (const kind of KINDS) {
      const c = await conn(kind, "late");
      assertEquals([c.status, refusedCode(c)], [503, "LIMIT_CONNECTIONS"], kind);
    }
    await closeAll();
    const again = await conn("ws", "late");
    assertEquals(again.frames[0]?.t, "welcome");
    await closeAll();
    const m = await server.metrics();
    const r = m.refused;
    assertEquals(r.origin, 12 + 8, "4 bad origins per transport, 8 POSTs");
    assert(r.unauthenticated >= 6 + 3, `6 raw refusals plus the token-less clients' attempts (${r.unauthenticated})`);
    assertEquals(r.identity, 3);
    assertEquals(r.connections, 3);
    assertEquals(r.rooms, 6);
    assertEquals(r.meta, 3);
    assertEquals(r.rateCloses, 3);
    assert(r.rate >= 3 * 15, `rate refusals (${r.rate})`);
    assertEquals([m.connections, m.sseSessions, m.pollSessions], [0, 0, 0]);
  });
});
