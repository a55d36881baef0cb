// Test suite shared by tests/adapters-{node,deno,bun}.test.ts: the chat demo server process on one runtime, clients
// over ws, sse and long-poll (the edgeplane client), raw sockets for stalled clients and hostile frames.
import { after, before, describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import { MAX_CLIENT_FRAME_BYTES, type ServerFrame } from "../../src/protocol.ts";
import type { TransportKind } from "../../src/transport/connection.ts";
import { SseParser } from "../../src/client/_sse-parser.ts";
import { type ChatServer, type ServerRuntime, startChatServer } from "./chat-server.ts";
import { waitUntil } from "./process.ts";
import { rawClient, type StalledClient } from "./raw-socket.ts";
import { tcpProxy } from "./tcp-proxy.ts";
import { opened, publishMany, range, recorder, type Recorder, webSocketClass } from "./test-clients.ts";

const KINDS: TransportKind[] = ["ws", "sse", "poll"];

export function adapterSuite(runtime: ServerRuntime): void {
  describe(`chat server on ${runtime}: ws, sse and long-poll`, () => {
    let server: ChatServer;
    const clients: Recorder[] = [];
    const cleanups: Array<() => void> = [];

    before(async () => {
      server = await startChatServer(runtime, {
        EDGEPLANE_QUEUE_BYTES: String(256 * 1024),
        EDGEPLANE_SLOW_CONSUMER_MS: "400",
        EDGEPLANE_SSE_HEARTBEAT_MS: "1000",
        // A poll session whose client vanished (e.g. its DELETE was lost in the simulated outage) is reaped after 2 s.
        EDGEPLANE_POLL_IDLE_MS: "2000",
      });
    });

    after(async () => {
      for (const c of clients) c.client.close();
      for (const f of cleanups) f();
      await server?.stop();
    });

    async function rec(kind: TransportKind): Promise<Recorder> {
      const r = await recorder(server.url, kind);
      clients.push(r);
      return r;
    }

    it("clients over ws, sse and long-poll each receive all 1,000 messages in seq order, none twice", async () => {
      const room = "fanout";
      const subs = await Promise.all(KINDS.map((k) => rec(k)));
      await Promise.all(subs.map((s) => s.client.join(room)));
      for (const s of subs) assertEquals(s.client.transport, s.kind);
      const pub = await rec("ws");
      const acked = await publishMany(pub.client, room, 1000, { window: 100 });
      assertEquals(acked, range(1, 1000));
      await waitUntil(() => subs.every((s) => s.seqs(room).length >= 1000), "every client got 1,000 messages", 60_000);
      for (const s of subs) {
        assertEquals(s.rawSeqs.get(room), range(1, 1000), `${s.kind}: frames as received are 1..1000, in order, none twice`);
        assertEquals(s.seqs(room), range(1, 1000), `${s.kind}: delivered seqs`);
        assertEquals(s.messages.map((m) => m.data), range(0, 999).map((i) => `m${i}`), `${s.kind}: payloads`);
        assertEquals(s.client.stats.duplicatesDropped, 0);
        assertEquals(s.client.stats.gaps, 0);
        assertEquals(s.errors, []);
      }
      assertEquals(pub.messages.length, 0, "the publisher is not in the room");
      for (const s of [...subs, pub]) s.client.close();
    });

    for (const kind of KINDS) {
      it(`${kind}: a connection killed mid-stream reconnects and resumes from its last seq: no gap, no duplicate`, async () => {
        const room = `resume-${kind}`;
        // The subscriber goes through a TCP proxy. After 170 messages every proxied connection is destroyed (no
        // close handshake) and new ones are refused until the client has noticed, like a network failure. 151..170 are
        // in flight at that moment, 171..400 are published while it is cut off, so only the resume (rejoin with its
        // last seq, replay from history) can deliver what it missed. Then 401..600 arrive live.
        const proxy = await tcpProxy(server.port);
        cleanups.push(() => void proxy.close());
        const sub = await recorder(proxy.url, kind);
        clients.push(sub);
        await sub.client.join(room);
        const pub = await rec("ws");
        await opened(pub);
        const N = 600;
        await publishMany(pub.client, room, 150, { window: 16 });
        await waitUntil(() => sub.seqs(room).length >= 150, "first 150 delivered", 30_000);
        sub.client.on("state", (s) => {
          if (s.state === "reconnecting") proxy.outage(false);
        });
        await publishMany(pub.client, room, 20, { window: 20, from: 150 }); // 151..170 on their way to the client
        proxy.outage(true);
        const killed = proxy.killAll();
        await publishMany(pub.client, room, 230, { window: 16, from: 170 });
        await waitUntil(() => sub.welcomes >= 2 && sub.seqs(room).length >= 400, `${kind} client reconnected and got 151..400`, 30_000);
        await publishMany(pub.client, room, 200, { window: 16, from: 400 });
        await waitUntil(() => sub.seqs(room).length >= N, `${kind} client got all ${N}`, 30_000);
        assert(killed >= 1, "connections were killed mid-stream");
        assert(sub.frames.filter((f) => f.t === "joined").length >= 2, "rejoined the room");
        assertEquals(sub.frames.filter((f) => f.t === "discontinuity"), [], "history covered the gap");
        assertEquals(sub.rawSeqs.get(room), range(1, N), "frames received: no gap, no duplicate");
        assertEquals(sub.seqs(room), range(1, N));
        assertEquals(sub.client.stats.duplicatesDropped, 0);
        assertEquals(sub.client.transport, kind);
        sub.client.close();
        pub.client.close();
        await proxy.close();
      });
    }

    for (const kind of KINDS) {
      it(`${kind}: a client that stops reading is closed as a slow consumer while the others keep receiving`, async () => {
        const room = `slow-${kind}`;
        const fast = await Promise.all(KINDS.map((k) => rec(k)));
        await Promise.all(fast.map((f) => f.client.join(room)));
        let stalled: StalledClient | undefined;
        let pollToken = "";
        if (kind === "poll") {
          // Opens a session, joins, then never polls again.
          const res = await fetch(`${server.url}/poll?room=${room}`);
          pollToken = ((await res.json()) as { session: string }).session;
        } else {
          stalled = await rawClient(server.port, kind, room);
          stalled.stall();
          cleanups.push(() => stalled?.destroy());
        }
        const before = (await server.metrics()).slowConsumerCloses;
        const pub = await rec("ws");
        await opened(pub);
        const big = "x".repeat(8 * 1024);
        let sent = 0;
        // Publish in rounds the fast clients keep up with, until the stalled one is closed (bounded).
        while ((await server.metrics()).slowConsumerCloses === before) {
          assert(sent < 8000, `stalled ${kind} client not closed after ${sent} messages of 8 KiB`);
          await publishMany(pub.client, room, 25, { from: sent, payload: (i) => `${i}:${big}` });
          sent += 25;
          await waitUntil(() => fast.every((f) => f.seqs(room).length >= sent), "fast clients keep up", 30_000);
        }
        if (globalThis.process.env.EDGEPLANE_TEST_DEBUG) console.log(`stalled ${kind} closed after ${sent} messages`);
        await publishMany(pub.client, room, 25, { from: sent, payload: (i) => `${i}:after` });
        sent += 25;
        await waitUntil(() => fast.every((f) => f.seqs(room).length >= sent), "fast clients still receive after the close", 30_000);
        for (const f of fast) {
          assertEquals(f.seqs(room), range(1, sent), `${f.kind} fast client got everything in order`);
          assertEquals(f.client.stats.duplicatesDropped, 0);
          assertEquals(f.welcomes, 1, `${f.kind} fast client was never disconnected`);
        }
        if (kind === "poll") {
          const res = await fetch(`${server.url}/poll?session=${pollToken}&cursor=0&wait=0`);
          const body = (await res.json()) as { closed?: { code: number } };
          assertEquals(res.status, 200);
          assertEquals(body.closed?.code, 4008, "the poller learns it was closed as a slow consumer");
        } else {
          const s = stalled!;
          s.resume();
          const marker = kind === "ws" ? "slow consumer" : "SLOW_CONSUMER";
          await waitUntil(() => s.closed() || s.text().includes(marker), "the stalled connection was closed by the server", 60_000);
          s.destroy();
        }
        for (const f of fast) f.client.close();
        pub.client.close();
      });
    }

    it("bad frames get typed error frames; the server stays up and other clients see nothing odd", async () => {
      const calm = await rec("sse");
      await calm.client.join("calm");
      const WS = await webSocketClass();
      const ws = new WS(`${server.url.replace(/^http/, "ws")}/ws`);
      const got: ServerFrame[] = [];
      ws.onmessage = (e: MessageEvent) => got.push(JSON.parse(String(e.data)));
      await waitUntil(() => got.some((f) => f.t === "welcome"), "raw ws welcome", 10_000);
      const errors = () => got.filter((f): f is Extract<ServerFrame, { t: "error" }> => f.t === "error");
      const byRef = (ref: string) => errors().find((e) => e.ref === ref);

      // Without a ref (the frame could not be read):
      ws.send("this is not json");
      ws.send(JSON.stringify({ t: "nope" }));
      ws.send("[1,2,3]");
      ws.send(JSON.stringify({ t: "pub", room: "calm", data: "x".repeat(MAX_CLIENT_FRAME_BYTES + 10) }));
      ws.send(new Uint8Array([0xff, 0xfe, 0xfd]));
      // With a ref (malformed shapes echo it too, so the client can match the error to its request):
      const cases: Array<[string, unknown, string]> = [
        ["x1", { t: "join", room: "calm", lastSeq: -1 }, "BAD_FRAME"],
        ["x2", { t: "pub", room: "calm" }, "BAD_FRAME"],
        ["e1", { t: "join", room: "" }, "BAD_ROOM"],
        ["e2", { t: "join", room: "a\u0000b" }, "BAD_ROOM"],
        ["e3", { t: "join", room: "r".repeat(300) }, "BAD_ROOM"],
        ["e4", { t: "join", room: "\ud800" }, "BAD_ROOM"],
        ["e7", { t: "join", room: "private:secret" }, "FORBIDDEN"],
        ["e8", { t: "pub", room: "private:secret", data: "hi" }, "FORBIDDEN"],
        ["e9", { t: "pub", room: "calm", b64: "%%%not base64" }, "BAD_FRAME"],
      ];
      for (const [ref, f] of cases) ws.send(JSON.stringify({ ...(f as object), ref }));
      await waitUntil(() => errors().length >= 5 + cases.length, "an error frame for every bad frame", 15_000);
      for (const [ref, , code] of cases) assertEquals(byRef(ref)?.code, code, `error for ${ref}`);
      assertEquals(byRef("e7")?.room, "private:secret", "a denied join names the room");
      const unref = errors().filter((e) => e.ref === undefined).map((e) => e.code).sort();
      assertEquals(unref, ["BAD_FRAME", "BAD_FRAME", "BAD_FRAME", "BAD_FRAME", "PAYLOAD_TOO_LARGE"]);

      // Odd but valid names are just names: isolated rooms, nothing leaks into "calm".
      for (const room of [">", "*", "../etc/passwd", "room with spaces", "ü😀"]) ws.send(JSON.stringify({ t: "join", room, ref: `j:${room}` }));
      await waitUntil(() => got.filter((f) => f.t === "joined").length === 5, "odd rooms joined", 10_000);
      ws.send(JSON.stringify({ t: "pub", room: ">", data: "wild", ref: "p1" }));
      ws.send(JSON.stringify({ t: "ping", ref: "still-there" }));
      await waitUntil(() => got.some((f) => f.t === "pong"), "pong after all that", 10_000);
      await waitUntil(() => got.some((f) => f.t === "msg" && f.room === ">"), "message in room >", 10_000);

      // SSE and long-poll: bad POST bodies and unknown sessions.
      const ac = new AbortController();
      cleanups.push(() => ac.abort());
      const res = await fetch(`${server.url}/sse`, { signal: ac.signal });
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      const parser = new SseParser();
      const sseFrames: Array<{ event: string; data: string }> = [];
      void (async () => {
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            sseFrames.push(...parser.push(value));
          }
        } catch { /* aborted */ }
      })();
      await waitUntil(() => sseFrames.some((e) => e.event === "session"), "sse session", 10_000);
      const token = JSON.parse(sseFrames.find((e) => e.event === "session")!.data).token as string;
      const post = (body: string, t = token) => fetch(`${server.url}/sse/${t}`, { method: "POST", body });
      assertEquals((await post("garbage\n" + JSON.stringify({ t: "nope" }) + "\n" + JSON.stringify({ t: "join", room: "private:x", ref: "s1" }))).status, 202);
      const tooBig = await post("x".repeat(4 * MAX_CLIENT_FRAME_BYTES + 1));
      assertEquals(tooBig.status, 413);
      await tooBig.body?.cancel();
      const unknown = await post("{}", "0123456789abcdef0123456789abcdef");
      assertEquals(unknown.status, 404);
      await unknown.body?.cancel();
      const sseErrors = () => sseFrames.filter((e) => e.event === "message").map((e) => JSON.parse(e.data)).filter((f) => f.t === "error");
      await waitUntil(() => sseErrors().length >= 4, "sse error frames", 10_000);
      assertEquals(sseErrors().map((e) => e.code).sort(), ["BAD_FRAME", "BAD_FRAME", "FORBIDDEN", "PAYLOAD_TOO_LARGE"]);
      ac.abort();

      const noSession = await fetch(`${server.url}/poll?session=nope&cursor=0`);
      assertEquals(noSession.status, 404);
      await noSession.body?.cancel();
      const first = (await (await fetch(`${server.url}/poll`)).json()) as { session: string };
      const badCursor = await fetch(`${server.url}/poll?session=${first.session}&cursor=-3`);
      assertEquals(badCursor.status, 400);
      await badCursor.body?.cancel();
      const ended = await fetch(`${server.url}/poll/${first.session}`, { method: "DELETE" });
      assertEquals(ended.status, 204);
      const wsUpgradeless = await fetch(`${server.url}/ws`);
      assert(wsUpgradeless.status >= 400, "GET /ws without upgrade is refused");
      await wsUpgradeless.body?.cancel();

      // The server is up and the bystander saw only its room's messages, no errors.
      const pub = await rec("poll");
      await publishMany(pub.client, "calm", 10);
      await waitUntil(() => calm.seqs("calm").length >= 10, "bystander receives", 10_000);
      assertEquals(calm.seqs("calm"), range(1, 10));
      assertEquals(calm.errors, []);
      assertEquals(calm.welcomes, 1);
      const m = await server.metrics();
      assert(m.badFrames >= 10, `badFrames counted (${m.badFrames})`);
      ws.close();
      calm.client.close();
      pub.client.close();
    });

    it("every connection of the tests above is gone from the server (no leaked ws, sse or poll sessions; vanished pollers reaped)", async () => {
      for (const c of clients) c.client.close();
      let m = await server.metrics();
      await waitUntil(async () => {
        m = await server.metrics();
        return m.connections === 0 && m.sseSessions === 0 && m.pollSessions === 0;
      }, "server-side connections closed", 15_000).catch(() => {
        throw new Error(`still open on the server: ${JSON.stringify({ connections: m.connections, sse: m.sseSessions, poll: m.pollSessions })}`);
      });
    });
  });
}
