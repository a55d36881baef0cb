// A real browser (Debian chromium driven by playwright-core) against the chat demo: two pages chat over WebSocket,
// a third page whose WebSocket is forced to fail falls back to SSE and still chats. Screenshots go to tests/artifacts/.
// The server runtime follows the test runner (node → Node server, deno → `deno serve`, bun → `bun run`), so the full
// suite drives the demo on all three.
import { after, before, describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import { existsSync, mkdirSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { type ChatServer, ROOT, startChatServer } from "./helpers/chat-server.ts";
import { currentRuntime } from "./helpers/process.ts";

const CHROMIUM = globalThis.process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTIFACTS = `${ROOT}tests/artifacts`;
const runtime = currentRuntime();

describe(`chat demo in Chromium (server on ${runtime})`, () => {
  let server: ChatServer;
  let browser: Browser;

  before(async () => {
    assert(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)`);
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startChatServer(runtime);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  async function openChat(name: string, opts: { breakWebSocket?: boolean } = {}): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 900, height: 600 } });
    if (opts.breakWebSocket) {
      // Every WebSocket the page opens goes to a closed port: the ws path fails for real, as behind a proxy that
      // refuses upgrades.
      await context.addInitScript({
        content: `{ const Real = WebSocket;
          globalThis.WebSocket = class extends Real { constructor(_url, protocols) { super("ws://127.0.0.1:9/blocked", protocols); } }; }`,
      });
    }
    const page = await context.newPage();
    await page.goto(`${server.url}/?name=${name}&room=lobby`);
    return page;
  }

  async function say(page: Page, text: string): Promise<void> {
    await page.fill("#text", text);
    await page.press("#text", "Enter");
  }

  const seen = (page: Page, text: string) => page.locator("#messages .msg .text", { hasText: text }).first().waitFor({ timeout: 15_000 });
  const online = (page: Page, names: string[]) =>
    page.waitForFunction((names) => {
      const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): Iterable<{ textContent: string | null }> } }).document;
      const shown = [...doc.querySelectorAll("#online li")].map((li) => li.textContent);
      return names.every((n) => shown.includes(n));
    }, names, { timeout: 15_000 });

  it("a message typed in one page appears in the other; presence and connection state are shown", async () => {
    const alice = await openChat("alice");
    const bob = await openChat("bob");
    for (const p of [alice, bob]) await p.locator("#status", { hasText: "connected via ws" }).waitFor({ timeout: 15_000 });
    await online(alice, ["alice", "bob"]);
    await online(bob, ["alice", "bob"]);
    await say(alice, "hello from alice");
    await seen(bob, "hello from alice");
    await say(bob, "hi alice, bob here");
    await seen(alice, "hi alice, bob here");
    await seen(bob, "hi alice, bob here"); // bob's own message is shown when the server echoes it
    assertEquals(await bob.locator("#messages .msg").count(), 2);
    await alice.screenshot({ path: `${ARTIFACTS}/chat-${runtime}-alice.png` });
    await bob.screenshot({ path: `${ARTIFACTS}/chat-${runtime}-bob.png` });
    assert(existsSync(`${ARTIFACTS}/chat-${runtime}-bob.png`));

    // A page whose WebSocket cannot connect falls back to SSE and chats with the others.
    const carol = await openChat("carol", { breakWebSocket: true });
    await carol.locator("#status", { hasText: "connected via sse" }).waitFor({ timeout: 20_000 });
    await online(alice, ["alice", "bob", "carol"]);
    await say(carol, "carol over sse");
    await seen(alice, "carol over sse");
    await seen(bob, "carol over sse");
    await say(alice, "welcome carol");
    await seen(carol, "welcome carol");
    assertEquals(await carol.evaluate(() => (globalThis as unknown as { chatClient: { transport: string } }).chatClient.transport), "sse");
    await online(carol, ["alice", "bob", "carol"]);
    await carol.screenshot({ path: `${ARTIFACTS}/chat-${runtime}-carol-sse.png` });

    // The authorize hook: private rooms are refused with a visible reason.
    await carol.fill("#room-input", "private:staff");
    await carol.press("#room-input", "Enter");
    await carol.locator(".note", { hasText: "cannot join private:staff" }).waitFor({ timeout: 10_000 });
    await carol.screenshot({ path: `${ARTIFACTS}/chat-${runtime}-carol-denied.png` });
    for (const p of [alice, bob, carol]) await p.context().close();
  });
});
