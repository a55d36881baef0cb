// WebSocket transport in process with fake sockets: frames in and out, bufferedAmount → slow-consumer close (4008),
// frames held until a standard WebSocket opens, and the authorize gate (order kept, FORBIDDEN with ref and room).
import { describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import { Hub } from "../src/hub.ts";
import type { ServerFrame } from "../src/protocol.ts";
import { acceptWebSocket, webSocketConnection, type WebSocketLike } from "../src/transport/websocket.ts";
import { waitUntil } from "./helpers/process.ts";

const quiet = { log: () => {} };

class FakeSocket implements WebSocketLike {
  sent: string[] = [];
  closed: { code?: number; reason?: string } | undefined;
  bufferedAmount = 0;
  stalled = false;
  send(data: string): void {
    this.sent.push(data);
    if (this.stalled) this.bufferedAmount += data.length;
  }
  close(code?: number, reason?: string): void {
    this.closed = { code, reason };
  }
  frames(): ServerFrame[] {
    return this.sent.map((t) => JSON.parse(t));
  }
}

/** A standard-WebSocket-shaped fake (EventTarget) that starts CONNECTING. */
class FakeStandardSocket extends EventTarget {
  readyState = 0;
  bufferedAmount = 0;
  sent: string[] = [];
  send(t: string): void {
    if (this.readyState !== 1) throw new Error("InvalidStateError");
    this.sent.push(t);
  }
  close(): void {
    this.readyState = 3;
  }
  open(): void {
    this.readyState = 1;
    this.dispatchEvent(new Event("open"));
  }
  receive(data: unknown): void {
    this.dispatchEvent(new MessageEvent("message", { data }));
  }
}

describe("websocket transport", () => {
  it("messages go to the hub, frames come back one per message; binary UTF-8 is read as text, invalid UTF-8 is refused", async () => {
    const hub = new Hub(quiet);
    const sock = new FakeSocket();
    const h = webSocketConnection(hub, sock);
    h.message('{"t":"join","room":"a","ref":"j"}');
    h.message(new TextEncoder().encode('{"t":"ping","ref":"bin"}'));
    h.message(new Uint8Array([0xc3, 0x28]));
    await waitUntil(() => sock.frames().some((f) => f.t === "joined") && sock.frames().some((f) => f.t === "pong") && sock.frames().some((f) => f.t === "error"), "replies");
    await hub.publish("a", "x");
    await waitUntil(() => sock.frames().some((f) => f.t === "msg"), "msg");
    assertEquals(sock.frames()[0].t, "welcome");
    assertEquals(sock.frames().find((f) => f.t === "error"), { t: "error", code: "BAD_FRAME", message: "frames must be UTF-8 JSON text" });
    h.closed();
    assertEquals(hub.metrics().connections, 0);
    await hub.close();
  });

  it("a socket whose bufferedAmount stays over budget is closed with 4008; the others keep receiving", async () => {
    const hub = new Hub({ ...quiet, queue: { budgetBytes: 4096, slowConsumerMs: 30 } });
    const slow = new FakeSocket();
    slow.stalled = true;
    const fast = new FakeSocket();
    for (const s of [slow, fast]) webSocketConnection(hub, s).message('{"t":"join","room":"r"}');
    await waitUntil(() => hub.metrics().rooms === 1 && [slow, fast].every((s) => s.frames().some((f) => f.t === "joined")), "joined");
    for (let i = 0; i < 200; i++) {
      await hub.publish("r", "q".repeat(100));
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await waitUntil(() => slow.closed !== undefined, "slow closed");
    assertEquals(slow.closed, { code: 4008, reason: "slow consumer" });
    await waitUntil(() => fast.frames().filter((f) => f.t === "msg").length === 200, "fast got all");
    assert(fast.closed === undefined);
    await hub.close();
  });

  it("acceptWebSocket holds frames until the standard socket opens and wires message/close events", async () => {
    const hub = new Hub(quiet);
    const ws = new FakeStandardSocket();
    const conn = acceptWebSocket(hub, ws as unknown as WebSocket);
    await new Promise((r) => setTimeout(r, 5));
    assertEquals(ws.sent, [], "nothing sent while CONNECTING");
    ws.open();
    assertEquals(JSON.parse(ws.sent[0]).t, "welcome");
    ws.receive('{"t":"ping","ref":"1"}');
    await waitUntil(() => ws.sent.some((t) => t.includes('"pong"')), "pong");
    ws.dispatchEvent(new Event("close"));
    assertEquals(hub.connection(conn.id), undefined);
    await hub.close();
  });

  it("authorize: denied joins and publishes get FORBIDDEN with ref and room; allowed frames keep their order", async () => {
    const hub = new Hub(quiet);
    const sock = new FakeSocket();
    const h = webSocketConnection(hub, sock, {
      authorize: async (_c, room, action) => {
        await new Promise((r) => setTimeout(r, room === "slow-check" ? 20 : 0));
        return !(room.startsWith("secret") || (action === "publish" && room === "readonly"));
      },
    });
    h.message('{"t":"join","room":"slow-check","ref":"1"}');
    h.message('{"t":"join","room":"secret","ref":"2"}');
    h.message('{"t":"join","room":"readonly","ref":"3"}');
    h.message('{"t":"pub","room":"readonly","data":"no","ref":"4"}');
    h.message('{"t":"ping","ref":"5"}');
    await waitUntil(() => sock.frames().some((f) => f.t === "pong"), "pong");
    await waitUntil(() => sock.frames().filter((f) => f.t === "joined").length === 2, "joins");
    const errors = sock.frames().flatMap((f) => (f.t === "error" ? [`${f.code}:${f.ref}:${f.room}`] : []));
    assertEquals(errors, ["FORBIDDEN:2:secret", "FORBIDDEN:4:readonly"]);
    // The slow check of frame 1 did not let later frames overtake it.
    assertEquals(sock.frames().flatMap((f) => (f.t === "joined" ? [f.room] : [])), ["slow-check", "readonly"]);
    await hub.close();
  });
});
