// Real browser failover: a Chromium page of the chat demo, given two nodes of a NATS fleet, keeps chatting after its
// node is SIGKILLed — the built client resumes on the other node by seq (no sticky sessions).
import { after, before, describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import { existsSync, mkdirSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";
import { ROOT } from "./helpers/chat-server.ts";
import { startNatsServer, type NatsServer } from "./helpers/nats-server.ts";
import { currentRuntime, waitUntil } from "./helpers/process.ts";
import { Fleet } from "./helpers/fleet.ts";

const CHROMIUM = globalThis.process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTIFACTS = `${ROOT}tests/artifacts`;
const runtime = currentRuntime();

describe(`chat demo in Chromium fails over between nodes (nodes on ${runtime} and node)`, () => {
  let nats: NatsServer;
  let fleet: Fleet;
  let browser: Browser;

  before(async () => {
    assert(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)`);
    mkdirSync(ARTIFACTS, { recursive: true });
    nats = await startNatsServer();
    fleet = new Fleet(nats.url);
    await Promise.all([fleet.start("a", runtime), fleet.start("b", "node")]);
    await waitUntil(async () => (await fleet.get_json("b", "/cluster/nodes")).json.nodes.length === 2, "cluster formed", 20_000, 100);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
  });

  after(async () => {
    await browser?.close();
    await fleet?.stopAll();
    await nats?.cleanup();
  });

  it("the page moves from node a to node b when a is killed and misses nothing", async () => {
    const [a, b] = [fleet.get("a"), fleet.get("b")];
    const page = await browser.newPage();
    await page.goto(`${a.url}/?name=frida&room=lobby&nodes=${encodeURIComponent(`${a.url},${b.url}`)}`);
    await page.locator("#status", { hasText: "connected via ws" }).waitFor({ timeout: 15_000 });
    const client = () => page.evaluate(() => {
      const c = (globalThis as unknown as { chatClient: { url: string; connectionId?: string; lastSeq(r: string): number | undefined } }).chatClient;
      return { url: c.url, conn: c.connectionId, last: c.lastSeq("lobby") };
    });
    assertEquals((await client()).url, new URL(a.url).href);
    // "connected" is the welcome; wait for the join itself (the client knows the room's seq) before publishing.
    await page.waitForFunction(() =>
      (globalThis as unknown as { chatClient: { lastSeq(r: string): number | undefined } }).chatClient.lastSeq("lobby") !== undefined, undefined, {
      timeout: 15_000,
    });
    const line = (text: string) => JSON.stringify({ k: "chat", user: "server", text });
    await fleet.publish("b", "lobby", line("before the crash"));
    await page.locator("#messages .msg .text", { hasText: "before the crash" }).waitFor({ timeout: 15_000 });
    a.child.kill("SIGKILL");
    await a.child.exited;
    fleet.nodes.delete("a");
    // Published while the page has no connection: it must arrive after the page resumes on b.
    const missed = [];
    for (let i = 0; i < 3; i++) missed.push(await fleet.publish("b", "lobby", line(`while away ${i}`)));
    await page.locator("#status", { hasText: "connected via ws" }).waitFor({ timeout: 30_000 });
    for (let i = 0; i < 3; i++) await page.locator("#messages .msg .text", { hasText: `while away ${i}` }).waitFor({ timeout: 30_000 });
    const after = await client();
    assertEquals(after.url, new URL(b.url).href, "the page now talks to node b");
    assert(after.conn?.startsWith("b~"), after.conn);
    assert((after.last ?? 0) >= missed[2].seq);
    await page.fill("#text", "typed after failover");
    await page.press("#text", "Enter");
    await page.locator("#messages .msg .text", { hasText: "typed after failover" }).waitFor({ timeout: 15_000 });
    assertEquals(await page.locator("#messages .msg .text", { hasText: "while away 1" }).count(), 1, "no duplicate");
    await page.screenshot({ path: `${ARTIFACTS}/failover-${runtime}.png` });
    await page.close();
  });
});
