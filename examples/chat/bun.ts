/**
 * The chat demo on Bun: `bun run examples/chat/bun.ts` (`PORT` from the environment). Prints the URL it serves on.
 *
 * @module
 */
import { serve, upgradeWebSocket } from "../../adapters/bun.ts";
import { createChatApp } from "./app.ts";

const chat = await createChatApp({ upgradeWebSocket, env: (k) => process.env[k] });
// SIGTERM / SIGINT drain the node: clients move to another node, rooms are handed off, then the process exits.
await serve(chat.app, { drain: chat });
