// Long-poll transport in process: session, cursor acknowledgement (a lost answer is fetched again), bounded waits,
// superseded polls, vanished and slow pollers closed, POSTed frames.
import { describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import { Hub } from "../src/hub.ts";
import { LongPollTransport } from "../src/transport/long-poll.ts";
import { MAX_CLIENT_FRAME_BYTES, type ServerFrame } from "../src/protocol.ts";
import { waitUntil } from "./helpers/process.ts";

const quiet = { log: () => {} };
type Answer = { session: string; cursor: number; frames: ServerFrame[]; closed?: { code: number; reason: string } };

async function get(poll: LongPollTransport, query: string): Promise<Answer> {
  const res = await poll.poll(new Request(`http://x/poll?${query}`));
  assertEquals(res.status, 200, await res.clone().text());
  return await res.json();
}

describe("long-poll transport", () => {
  it("first answer opens the session; polls wait for frames; the cursor acknowledges; a lost answer is fetched again", async () => {
    const hub = new Hub(quiet);
    const poll = new LongPollTransport(hub, { maxWaitMs: 5000 });
    const first = await get(poll, "room=a");
    assertEquals(first.frames[0].t, "welcome");
    let cursor = first.cursor;
    const more = await get(poll, `session=${first.session}&cursor=${cursor}&wait=1000`);
    const all = [...first.frames, ...more.frames];
    assert(all.some((f) => f.t === "joined"), "joined arrives");
    cursor = more.cursor;
    const waiting = get(poll, `session=${first.session}&cursor=${cursor}&wait=5000`);
    await hub.publish("a", "hello");
    const got = await waiting;
    assertEquals(got.frames.map((f) => f.t === "msg" && f.data), ["hello"]);
    // The answer was "lost": poll again with the old cursor and get the same frames.
    const again = await get(poll, `session=${first.session}&cursor=${cursor}&wait=0`);
    assertEquals(again.frames, got.frames);
    assertEquals(again.cursor, got.cursor);
    // Acknowledged: nothing left.
    const empty = await get(poll, `session=${first.session}&cursor=${got.cursor}&wait=0`);
    assertEquals(empty.frames, []);
    poll.close();
    await hub.close();
  });

  it("a newer poll ends a waiting one; unknown sessions get 404; bad cursors 400", async () => {
    const hub = new Hub(quiet);
    const poll = new LongPollTransport(hub, { maxWaitMs: 10_000 });
    const first = await get(poll, "");
    const older = get(poll, `session=${first.session}&cursor=${first.cursor}&wait=10000`);
    const newer = get(poll, `session=${first.session}&cursor=${first.cursor}&wait=10000`);
    assertEquals((await older).frames, [], "the older poll was answered empty");
    poll.close(); // ends the newer one with the close notice
    const last = await newer;
    assertEquals(last.closed?.code, 1001);
    assertEquals((await poll.poll(new Request("http://x/poll?session=nope"))).status, 404);
    const s2 = await get(poll, "");
    assertEquals((await poll.poll(new Request(`http://x/poll?session=${s2.session}&cursor=-1`))).status, 400);
    poll.close();
    await hub.close();
  });

  it("a poller that vanishes is closed after idleMs (4009)", async () => {
    const hub = new Hub(quiet);
    const poll = new LongPollTransport(hub, { idleMs: 40 });
    await get(poll, "room=a");
    assertEquals(hub.metrics().connections, 1);
    await waitUntil(() => hub.metrics().connections === 0, "idle session closed");
    assertEquals(poll.size, 0);
    await hub.close();
  });

  it("a poller that falls behind is closed as a slow consumer and its next poll says so", async () => {
    const hub = new Hub({ ...quiet, queue: { budgetBytes: 8 * 1024, slowConsumerMs: 30 } });
    const poll = new LongPollTransport(hub, { idleMs: 60_000 });
    const first = await get(poll, "room=r");
    await waitUntil(() => hub.metrics().rooms === 1, "joined");
    for (let i = 0; i < 200; i++) {
      await hub.publish("r", "z".repeat(200));
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await waitUntil(() => hub.metrics().slowConsumerCloses === 1, "closed as slow consumer");
    const a = await get(poll, `session=${first.session}&cursor=${first.cursor}&wait=0`);
    assertEquals(a.closed, { code: 4008, reason: "slow consumer" });
    assertEquals((await poll.poll(new Request(`http://x/poll?session=${first.session}&cursor=0`))).status, 404, "then forgotten");
    await hub.close();
  });

  it("POST: one frame per line, replies by poll; an oversized body is refused with 413 and an error frame", async () => {
    const hub = new Hub(quiet);
    const poll = new LongPollTransport(hub);
    const first = await get(poll, "");
    const post = (body: string) => poll.post(first.session, new Request("http://x", { method: "POST", body }));
    assertEquals((await post('{"t":"ping","ref":"a"}\n\n{"t":"ping","ref":"b"}\nnot json')).status, 202);
    const big = await post("x".repeat(4 * MAX_CLIENT_FRAME_BYTES + 1));
    assertEquals(big.status, 413);
    const got: ServerFrame[] = [];
    let cursor = first.cursor;
    await waitUntil(async () => {
      const a = await get(poll, `session=${first.session}&cursor=${cursor}&wait=0`);
      cursor = a.cursor;
      got.push(...a.frames);
      return got.length >= 4;
    }, "replies");
    assertEquals(got.map((f) => (f.t === "error" ? f.code : `${f.t}:${"ref" in f ? f.ref : ""}`)), ["pong:a", "pong:b", "BAD_FRAME", "PAYLOAD_TOO_LARGE"]);
    assertEquals((await poll.post("nope", new Request("http://x", { method: "POST", body: "{}" }))).status, 404);
    poll.close();
    await hub.close();
  });
});
