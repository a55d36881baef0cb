/**
 * Typed errors. Every failure edgeplane reports on purpose is an {@link EdgeplaneError} with a stable `code`.
 *
 * @module
 */

/**
 * Stable error codes; switch on these, never on messages.
 *
 * @example
 * ```ts
 * const retryable = (code: ErrorCode): boolean => code === "BACKPLANE_UNAVAILABLE" || code === "TIMEOUT";
 * ```
 */
export type ErrorCode =
  | "BAD_ENVELOPE"
  | "BAD_ROOM"
  | "BAD_FRAME"
  | "BAD_OPTION"
  | "PAYLOAD_TOO_LARGE"
  | "UNKNOWN_CONNECTION"
  | "FORBIDDEN"
  | "BACKPLANE_UNAVAILABLE"
  | "TIMEOUT"
  | "NO_RESPONDERS"
  | "CLOSED"
  | "SLOW_CONSUMER"
  | "GAP"
  | "REMOTE_ERROR"
  /** A browser request from an origin the routes do not allow (`allowedOrigins`); HTTP 403. */
  | "FORBIDDEN_ORIGIN"
  /** The `authenticate` hook refused the request (returned null/undefined or threw); HTTP 401. */
  | "UNAUTHENTICATED"
  /** The node is at its `limits.maxConnections`; HTTP 503 (try another node or later). */
  | "LIMIT_CONNECTIONS"
  /** The identity is at its `limits.maxConnectionsPerIdentity` (ws, SSE and poll sessions); HTTP 429. */
  | "LIMIT_SESSIONS"
  /** The connection is in `limits.maxRoomsPerConnection` rooms already; the join is refused. */
  | "LIMIT_ROOMS"
  /** The connection publishes faster than `limits.publishRate`; the publish is refused (the connection stays open). */
  | "RATE_LIMITED"
  /** An optional peer dependency the feature needs is not installed (`details.package` names it). */
  | "MISSING_DEPENDENCY";

/**
 * The one error type edgeplane throws or rejects with on purpose.
 *
 * @example
 * ```ts
 * try {
 *   await hub.publish("", "hi");
 * } catch (err) {
 *   if (err instanceof EdgeplaneError && err.code === "BAD_ROOM") console.log("bad room");
 * }
 * ```
 */
export class EdgeplaneError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** Optional structured details (room, sizes, limits). */
  readonly details?: Record<string, unknown>;

  /** An error with a stable `code`, a human-readable `message` and optional structured `details`. */
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = "EdgeplaneError";
    this.code = code;
    if (details) this.details = details;
  }
}

/**
 * True when `err` is an {@link EdgeplaneError}, optionally with the given code.
 *
 * @example
 * ```ts
 * if (isEdgeplaneError(err, "TIMEOUT")) retry();
 * ```
 */
export function isEdgeplaneError(err: unknown, code?: ErrorCode): err is EdgeplaneError {
  return err instanceof EdgeplaneError && (code === undefined || err.code === code);
}
