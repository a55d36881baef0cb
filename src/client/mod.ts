/**
 * The edgeplane browser/edge client (no dependencies). Bundled by `npm run build:client` into `dist/client.js`.
 *
 * @example
 * ```ts
 * import { EdgeplaneClient } from "./dist/client.js";
 * const client = new EdgeplaneClient({ url: location.origin });
 * await client.join("lobby");
 * ```
 *
 * @module
 */
export { type BackoffOptions, ClientError, type ClientEvents, type ClientMessage, type ClientOptions, type ClientState, EdgeplaneClient } from "./client.ts";
export type { TransportKind } from "../transport/connection.ts";
