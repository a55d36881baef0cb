/**
 * The chat demo on Deno: `deno serve -A --port ${PORT:-8000} examples/chat/deno.ts` (a default export with `fetch`;
 * `deno serve` takes the port from `--port`). Prints the URL it serves on.
 *
 * @module
 */
import { fetchExport, upgradeWebSocket } from "../../adapters/deno.ts";
import { createChatApp } from "./app.ts";

declare const Deno: { env: { get(name: string): string | undefined } };

const chat = await createChatApp({ upgradeWebSocket, env: (k) => Deno.env.get(k) });

// SIGTERM / SIGINT drain the node: clients move to another node, rooms are handed off, then the process exits.
export default fetchExport(chat.app, { drain: chat });
