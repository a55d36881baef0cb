// An `authorize` hook that throws denies (FORBIDDEN) and is logged, on every path that asks it: the hub's own hook,
// the transports' per-connection hook, and the Hono publish route.
import { describe, it } from "node:test";
import { assert, assertEquals, assertMatch } from "@std/assert";
import { Hub } from "../src/hub.ts";
import { webSocketConnection } from "../src/transport/websocket.ts";
import { edgeplaneRoutes } from "../adapters/hono.ts";

const bug = () => {
  throw new TypeError("session store unavailable");
};

/** Run `fn` with console.error captured. */
async function capturingConsoleError(fn: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
  try {
    await fn();
  } finally {
    console.error = original;
  }
  return lines;
}

describe("a throwing authorize", () => {
  it("HubOptions.authorize: a client's join is answered FORBIDDEN and the throw goes to the hub's log", async () => {
    const log: string[] = [];
    const hub = new Hub({ authorize: bug, log: (l) => log.push(l) });
    let answered!: (f: { t: string; code?: string; ref?: string }) => void;
    const errorFrame = new Promise<{ t: string; code?: string; ref?: string }>((r) => (answered = r));
    const conn = hub.connect({
      write: (frames) => frames.map((f) => JSON.parse(f.text)).filter((f) => f.t === "error").forEach(answered),
      close() {},
    });
    await hub.receive(conn.id, JSON.stringify({ t: "join", room: "lobby", ref: "1" }));
    const f = await errorFrame;
    assertEquals([f.code, f.ref], ["FORBIDDEN", "1"]);
    assert(!conn.rooms.has("lobby"));
    assertEquals(log.length, 1);
    assertMatch(log[0], /authorize threw on join of room "lobby"; denied\. TypeError: session store unavailable/);
    await hub.close();
  });

  it("a transport's authorize: an error frame answers the frame, and the throw is logged", async () => {
    const hub = new Hub();
    const sent: string[] = [];
    let answered!: () => void;
    const errorFrame = new Promise<void>((r) => (answered = r));
    const lines = await capturingConsoleError(async () => {
      const h = webSocketConnection(hub, {
        send: (t) => {
          sent.push(t);
          if (t.includes('"t":"error"')) answered();
        },
        close() {},
      }, { authorize: bug });
      h.message(JSON.stringify({ t: "pub", room: "lobby", data: "x", ref: "7" }));
      await errorFrame;
      h.closed();
    });
    const f = JSON.parse(sent.find((t) => t.includes('"t":"error"'))!);
    assertEquals([f.code, f.ref, f.room], ["FORBIDDEN", "7", "lobby"]);
    assertEquals(lines.length, 1);
    assertMatch(lines[0], /authorize threw on publish of room "lobby"; denied/);
    await hub.close();
  });

  it("the Hono publish route: 403 FORBIDDEN (not a 503), and the throw is logged", async () => {
    const hub = new Hub();
    const routes = edgeplaneRoutes(hub, { authorize: bug, publishRoute: true });
    let res!: Response;
    const lines = await capturingConsoleError(async () => {
      res = await routes.app.request("/publish?room=lobby", { method: "POST", body: "hi" });
    });
    assertEquals(res.status, 403);
    assertEquals((await res.json()).error.code, "FORBIDDEN");
    assertEquals(lines.length, 1);
    assertMatch(lines[0], /authorize threw on publish of room "lobby"/);
    routes.close();
    await hub.close();
  });
});
