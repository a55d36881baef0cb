// Fuzz: 10,000 seeded random and mutated client frames (tests/helpers/fuzz-frames.ts: truncated JSON, huge numbers,
// deep nesting, wrong types, prototype keys, invalid UTF-8, binary noise) through each of ws, SSE POST and poll POST
// of the security example served on the runtime running this file. Every frame is answered with a typed error (a
// known code, never INTERNAL) or handled/ignored; each fuzzing connection stays open and answers a ping after every
// chunk (its frames are processed in order); the server stays up; bystanders on ws, SSE and poll receive every
// message of their room in seq order, none twice. EDGEPLANE_FUZZ_FRAMES / EDGEPLANE_FUZZ_SEED override the defaults.
import { after, before, describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import type { ErrorCode } from "../src/errors.ts";
import type { TransportKind } from "../src/transport/connection.ts";
import { type FuzzFrame, fuzzBytes, fuzzText, prng } from "./helpers/fuzz-frames.ts";
import { openRaw, type RawConn } from "./helpers/raw-transport.ts";
import { startSecurityServer, type SecurityServer } from "./helpers/security-server.ts";
import { currentRuntime, waitUntil } from "./helpers/process.ts";
import { wsFrame } from "./helpers/raw-socket.ts";

const env = globalThis.process.env;
const FRAMES = Number(env.EDGEPLANE_FUZZ_FRAMES ?? 10_000);
const SEED = Number(env.EDGEPLANE_FUZZ_SEED ?? 20);
const CHUNK = 250;
const KINDS: TransportKind[] = ["ws", "sse", "poll"];
const KNOWN: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "BAD_ENVELOPE", "BAD_ROOM", "BAD_FRAME", "BAD_OPTION", "PAYLOAD_TOO_LARGE", "UNKNOWN_CONNECTION", "FORBIDDEN", "CLOSED",
  "LIMIT_ROOMS", "RATE_LIMITED",
]);

describe(`fuzz: ${FRAMES} random and mutated frames through each of ws, SSE POST and poll POST (seed ${SEED})`, () => {
  let server: SecurityServer;
  const conns: RawConn[] = [];

  before(async () => {
    server = await startSecurityServer({
      EDGEPLANE_MAX_PER_USER: "10",
      EDGEPLANE_MAX_ROOMS: "1000",
      EDGEPLANE_PUBLISH_RATE: "1000000/1000000/1000000",
      EDGEPLANE_SSE_HEARTBEAT_MS: "500",
    });
  });

  after(async () => {
    for (const c of conns) await c.close().catch(() => {});
    await server?.stop();
  });

  async function open(kind: TransportKind, user: string): Promise<RawConn> {
    const c = await openRaw(server.url, kind, { query: `token=tok-${user}` });
    assertEquals(c.frames[0]?.t, "welcome", `${kind} ${user} connected`);
    conns.push(c);
    return c;
  }

  it("every frame gets a typed answer or none, the connections and the server stay up, bystanders' streams stay intact", async () => {
    const bystanders = await Promise.all(KINDS.map((k) => open(k, "calm")));
    for (const b of bystanders) await b.send(JSON.stringify({ t: "join", room: "calm", ref: "j" }));
    await waitUntil(() => bystanders.every((b) => b.frames.some((f) => f.t === "joined")), "bystanders joined", 10_000);
    const publisher = await open("ws", "pub");
    const fuzzers = await Promise.all(KINDS.map((k) => open(k, "fz")));
    const r = prng(SEED);
    const sent = { ws: 0, sse: 0, poll: 0, bytes: 0 };
    let published = 0;
    const t0 = Date.now();

    for (let chunk = 0; chunk * CHUNK < FRAMES; chunk++) {
      const frames: FuzzFrame[] = [];
      for (let i = 0; i < CHUNK && chunk * CHUNK + i < FRAMES; i++) frames.push(r() < 0.12 ? fuzzBytes(r) : fuzzText(r));
      sent.bytes += frames.filter((f) => typeof f !== "string").length;
      await Promise.all(fuzzers.map(async (c) => {
        const sync = JSON.stringify({ t: "ping", ref: `sync${chunk}` });
        if (c.kind === "ws") {
          for (const f of frames) await c.send(f);
          await c.send(sync);
        } else {
          // Text frames one per line, 50 lines per POST; bytes (mostly invalid UTF-8) each in a POST of their own (400).
          const texts = frames.filter((f): f is string => typeof f === "string");
          for (let i = 0; i < texts.length; i += 50) {
            const status = await c.send(texts.slice(i, i + 50).join("\n"));
            assert(status === 202 || status === 413, `${c.kind} POST answered ${status}`);
          }
          for (const b of frames.filter((f): f is Uint8Array => typeof f !== "string")) {
            const status = await c.send(b);
            assert(status === 400 || status === 202, `${c.kind} bytes POST answered ${status}`); // 202: noise that happens to be UTF-8
          }
          await c.send(sync);
        }
        sent[c.kind] += frames.length;
        await waitUntil(() => c.frames.some((f) => f.t === "pong" && f.ref === `sync${chunk}`), `${c.kind} fuzzer answers ping ${chunk}`, 30_000);
      }));
      // Bystanders' room gets a message between chunks.
      await publisher.send(JSON.stringify({ t: "pub", room: "calm", data: `calm${published}`, ref: `c${published}` }));
      published++;
    }
    const ms = Date.now() - t0;

    for (const c of fuzzers) {
      assertEquals(c.closed, undefined, `${c.kind} fuzzer still connected`);
      const codes = new Set(c.errors().map((e) => e.code));
      for (const code of codes) assert(KNOWN.has(code as ErrorCode), `${c.kind}: untyped or unexpected error code ${code}: ${JSON.stringify(c.errors().find((e) => e.code === code))}`);
      assert(c.errors().length > FRAMES / 4, `${c.kind}: most frames are bad and answered (${c.errors().length} errors)`);
      const pongs = c.frames.filter((f): f is Extract<typeof f, { t: "pong" }> => f.t === "pong" && f.ref?.startsWith("sync") === true).map((f) => f.ref);
      assertEquals(pongs, Array.from({ length: Math.ceil(FRAMES / CHUNK) }, (_, i) => `sync${i}`), `${c.kind}: frames processed in order`);
    }
    await waitUntil(() => bystanders.every((b) => b.frames.filter((f) => f.t === "msg").map((f) => (f as { data?: string }).data).filter((d) => d?.startsWith("calm")).length >= published), "bystanders got every calm message", 30_000);
    for (const b of bystanders) {
      const msgs = b.frames.filter((f): f is Extract<typeof f, { t: "msg" }> => f.t === "msg" && f.room === "calm");
      const seqs = msgs.map((m) => m.seq);
      assertEquals(seqs, Array.from({ length: seqs.length }, (_, i) => seqs[0] + i), `${b.kind}: seqs in order, no gap, none twice`);
      assertEquals(msgs.map((m) => m.data).filter((d) => d?.startsWith("calm")), Array.from({ length: published }, (_, i) => `calm${i}`));
      assertEquals(b.errors(), [], `${b.kind} bystander saw no errors`);
      assertEquals(b.closed, undefined);
    }
    assertEquals(server.child.proc.exitCode, null, "server process alive");
    const m = await server.metrics();
    assert(m.badFrames > FRAMES / 2, `badFrames ${m.badFrames}`);
    console.log(
      `fuzz (${currentRuntime()}): ${sent.ws} ws + ${sent.sse} SSE POST + ${sent.poll} poll POST frames (${sent.bytes} byte frames per transport) in ${ms} ms; ` +
        `errors ws=${fuzzers[0].errors().length} sse=${fuzzers[1].errors().length} poll=${fuzzers[2].errors().length}; server badFrames=${m.badFrames}`,
    );
  });

  it("invalid UTF-8 in a ws text frame fails that socket only (WebSocket protocol); the server and the others carry on", async () => {
    const other = await open("ws", "calm2");
    const bad = await open("ws", "bad");
    // A text frame (opcode 1) whose payload is not UTF-8: the WebSocket layer fails the connection (RFC 6455: 1007).
    bad.writeRaw!(wsFrame(new Uint8Array([0xc3, 0x28]), 0x1));
    await waitUntil(() => bad.closed !== undefined, "the bad socket was closed", 10_000);
    console.log(`fuzz (${currentRuntime()}): invalid UTF-8 text frame → close ${bad.closed?.code}`);
    await other.send(JSON.stringify({ t: "ping", ref: "still" }));
    await waitUntil(() => other.frames.some((f) => f.t === "pong" && f.ref === "still"), "other socket answers", 10_000);
    assertEquals(server.child.proc.exitCode, null);
  });
});
