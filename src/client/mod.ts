/**
 * The edgeplane browser/edge client: no dependencies, web standards only (`WebSocket`, and `fetch` for SSE and
 * long-poll). On npm, `edgeplane/client` is one minified ES module (`dist/client.js`, with a source map and
 * `.d.ts`) that a bundler or a `<script type="module">` can load as is.
 *
 * @example
 * ```ts
 * import { EdgeplaneClient } from "edgeplane/client";
 * const client = new EdgeplaneClient({ url: location.origin });
 * client.on("message", (m) => console.log(m.room, m.seq, m.data));
 * await client.join("lobby");
 * ```
 *
 * @module
 */
export { type BackoffOptions, ClientError, type ClientEvents, type ClientMessage, type ClientOptions, type ClientState, EdgeplaneClient } from "./client.ts";
export type { TransportKind } from "../transport/connection.ts";
