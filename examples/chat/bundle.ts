/**
 * Browser bundles for the chat demo, built with esbuild at startup (so `npm start`, `deno serve` and `bun run` work
 * from a fresh clone without a build step). Falls back to `dist/` files (`npm run build`) when esbuild is not
 * available.
 *
 * @module
 */
import { readFile } from "node:fs/promises";

const ROOT = new URL("../../", import.meta.url);

/**
 * Entry points: `app` is the chat page script (with the client), `client` the client alone (`dist/client.js`).
 *
 * @example
 * ```ts
 * console.log(ENTRIES.client); // "src/client/mod.ts"
 * ```
 */
export const ENTRIES: Record<"app" | "client", string> = {
  app: "examples/chat/browser.ts",
  client: "src/client/mod.ts",
};

/**
 * Bundle one entry to an ES module string.
 *
 * @example
 * ```ts
 * const js = await bundle("app");
 * ```
 */
export async function bundle(name: keyof typeof ENTRIES): Promise<string> {
  try {
    const esbuild = await import("esbuild");
    const r = await esbuild.build({
      entryPoints: [new URL(ENTRIES[name], ROOT).pathname],
      bundle: true,
      format: "esm",
      target: "es2022",
      platform: "browser",
      write: false,
      logLevel: "silent",
    });
    return r.outputFiles[0].text;
  } catch (err) {
    const file = new URL(`dist/${name === "app" ? "chat-app" : "client"}.js`, ROOT);
    try {
      return await readFile(file, "utf8");
    } catch {
      throw new Error(`cannot bundle ${name}: esbuild failed (${(err as Error).message}) and ${file.pathname} is missing; run npm run build`);
    }
  }
}
