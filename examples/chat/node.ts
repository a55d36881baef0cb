/**
 * The chat demo on Node: `npm start` (or `PORT=8787 npx tsx examples/chat/node.ts`). Prints the URL it serves on.
 *
 * @module
 */
import { serve, upgradeWebSocket } from "../../adapters/node.ts";
import { createChatApp } from "./app.ts";

const chat = await createChatApp({ upgradeWebSocket, env: (k) => process.env[k] });
// SIGTERM / SIGINT drain the node: clients move to another node, rooms are handed off, then the process exits.
await serve(chat.app, { drain: chat });
