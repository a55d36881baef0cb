/**
 * The chat demo on Node: `npm start` (or `PORT=8787 npx tsx examples/chat/node.ts`). Prints the URL it serves on.
 *
 * @module
 */
import { serve, upgradeWebSocket } from "../../adapters/node.ts";
import { createChatApp } from "./app.ts";

const chat = await createChatApp({ upgradeWebSocket, env: (k) => process.env[k] });
const server = await serve(chat.app);
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, async () => {
    await chat.close();
    await server.close();
    process.exit(0);
  });
}
