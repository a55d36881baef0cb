// SSE transport in process (no server): wire format, resume by Last-Event-ID / resume=, POST frames, heartbeats,
// slow consumers closed with `event: error`.
import { describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import { Hub } from "../src/hub.ts";
import { SseTransport } from "../src/transport/sse.ts";
import { SseParser, type SseEvent } from "../src/client/_sse-parser.ts";
import { waitUntil } from "./helpers/process.ts";

const quiet = { log: () => {} };

function reader(res: Response) {
  const r = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser();
  const events: SseEvent[] = [];
  let raw = "";
  let ended: "done" | "error" | undefined;
  let reading = true;
  const pump = async () => {
    try {
      while (reading) {
        const { done, value } = await r.read();
        if (done) {
          ended = "done";
          return;
        }
        raw += value;
        events.push(...parser.push(value));
      }
    } catch {
      ended = "error";
    }
  };
  void pump();
  return {
    events,
    raw: () => raw,
    ended: () => ended,
    frames: () => events.filter((e) => e.event === "message").map((e) => ({ ...JSON.parse(e.data), _id: e.id })),
    token: () => JSON.parse(events.find((e) => e.event === "session")!.data).token as string,
    cancel: () => r.cancel(),
  };
}

describe("SSE transport", () => {
  it("streams session, welcome, joined and msg frames (id = seq), heartbeats, and takes POSTed frames", async () => {
    const hub = new Hub(quiet);
    const sse = new SseTransport(hub, { heartbeatMs: 20 });
    const res = sse.open(new Request("http://x/sse?room=a"));
    assertEquals(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
    const s = reader(res);
    await waitUntil(() => s.frames().some((f) => f.t === "joined"), "joined");
    await hub.publish("a", "one");
    await hub.publish("a", "two");
    await waitUntil(() => s.frames().filter((f) => f.t === "msg").length === 2, "two messages");
    const msgs = s.frames().filter((f) => f.t === "msg");
    assertEquals(msgs.map((m) => [m._id, m.seq, m.data]), [["1", 1, "one"], ["2", 2, "two"]]);
    assert(s.raw().startsWith("retry: 2000\n\nevent: session\n"), "retry hint and session first");
    await waitUntil(() => s.raw().includes(": hb\n\n"), "heartbeat comment");
    const post = await sse.post(s.token(), new Request("http://x/sse/t", { method: "POST", body: '{"t":"ping","ref":"p1"}\n{"t":"pub","room":"a","data":"three","ref":"p2"}' }));
    assertEquals(post.status, 202);
    await waitUntil(() => s.frames().some((f) => f.t === "ack" && f.ref === "p2"), "ack over the stream");
    assert(s.frames().some((f) => f.t === "pong" && f.ref === "p1"));
    assertEquals(sse.size, 1);
    await s.cancel();
    await waitUntil(() => hub.metrics().connections === 0 && sse.size === 0, "cancel disconnects");
    assertEquals((await sse.post(s.token(), new Request("http://x", { method: "POST", body: "{}" }))).status, 404);
    await hub.close();
  });

  it("Last-Event-ID resumes the single room; resume=<seq>:<room> resumes any room (names may contain ':')", async () => {
    const hub = new Hub(quiet);
    const sse = new SseTransport(hub, { heartbeatMs: 0 });
    for (let i = 1; i <= 5; i++) await hub.publish("a", `a${i}`);
    for (let i = 1; i <= 3; i++) await hub.publish("b:c", `b${i}`);
    const one = reader(sse.open(new Request("http://x/sse?room=a", { headers: { "last-event-id": "3" } })));
    const two = reader(sse.open(new Request(`http://x/sse?resume=${encodeURIComponent("1:b:c")}&room=a`)));
    await waitUntil(() => one.frames().filter((f) => f.t === "msg").length === 2, "replayed a4, a5");
    await waitUntil(() => two.frames().filter((f) => f.t === "msg").length === 2 && two.frames().filter((f) => f.t === "joined").length === 2, "replayed b2, b3");
    assertEquals(one.frames().filter((f) => f.t === "msg").map((m) => m.data), ["a4", "a5"]);
    assertEquals(two.frames().filter((f) => f.t === "msg").map((m) => `${m.room}/${m.data}`), ["b:c/b2", "b:c/b3"]);
    await one.cancel();
    await two.cancel();
    await hub.close();
  });

  it("a client that stops reading goes over budget and is closed as a slow consumer; others keep receiving", async () => {
    const hub = new Hub({ ...quiet, queue: { budgetBytes: 8 * 1024, slowConsumerMs: 40 } });
    const sse = new SseTransport(hub, { heartbeatMs: 0, closeGraceMs: 30 });
    const res = sse.open(new Request("http://x/sse?room=r"));
    const body = res.body!.getReader();
    let head = "";
    while (!head.includes('"t":"joined"')) head += new TextDecoder().decode((await body.read()).value);
    // ...and now it stops reading. A second client keeps reading.
    const fast = reader(sse.open(new Request("http://x/sse?room=r")));
    await waitUntil(() => fast.frames().some((f) => f.t === "joined"), "fast joined");
    const N = 300;
    for (let i = 0; i < N; i++) {
      await hub.publish("r", `${i}:${"y".repeat(200)}`);
      if (i % 30 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await waitUntil(() => hub.metrics().slowConsumerCloses === 1, "slow consumer closed");
    await waitUntil(() => fast.frames().filter((f) => f.t === "msg").length === N, "fast client got all");
    assertEquals(fast.frames().filter((f) => f.t === "msg").map((m) => m.seq), Array.from({ length: N }, (_, i) => i + 1));
    // The stalled stream ends (cut off after the grace period, or with the `event: error` if it drained in time).
    let tail = "";
    let errored = false;
    for (let i = 0; i < 10_000; i++) {
      try {
        const { done, value } = await body.read();
        if (done) break;
        tail += new TextDecoder().decode(value);
      } catch {
        errored = true;
        break;
      }
    }
    assert(errored || tail.includes('"code":"SLOW_CONSUMER"'), "stream cut off or told SLOW_CONSUMER");
    await fast.cancel();
    await hub.close();
  });

  it("on close, a reading client gets `event: error` with the close code", async () => {
    const hub = new Hub(quiet);
    const sse = new SseTransport(hub, { heartbeatMs: 0 });
    const s = reader(sse.open(new Request("http://x/sse")));
    await waitUntil(() => s.frames().some((f) => f.t === "welcome"), "welcome");
    sse.close();
    await waitUntil(() => s.ended() === "done", "stream ended");
    const err = s.events.find((e) => e.event === "error");
    assertEquals(JSON.parse(err!.data), { t: "error", code: "CLOSED", message: "server closing", closeCode: 1001 });
    await hub.close();
  });
});
