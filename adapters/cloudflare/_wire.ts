// Private: what Durable Objects of the adapter say to each other (JSON over `stub.fetch`), and the internal paths.
// The Worker forwards only the public routes to a hub, so these paths are reachable from other objects only.
import { EdgeplaneError, type ErrorCode } from "../../src/errors.ts";
import type { SequencedMessage } from "../../src/exchange/exchange.ts";
import { fromBase64, toBase64 } from "../../src/_utf8.ts";
import type { DurableObjectStubLike } from "./_types.ts";

/** Internal paths (never forwarded by the Worker). */
export const PATHS = {
  publish: "/__edgeplane/room/publish",
  subscribe: "/__edgeplane/room/subscribe",
  unsubscribe: "/__edgeplane/room/unsubscribe",
  history: "/__edgeplane/room/history",
  deliver: "/__edgeplane/hub/deliver",
} as const;

/** Header that tells a hub object its name (set by the Worker and by room objects). */
export const HUB_HEADER = "x-edgeplane-hub";

/** A sequenced message as JSON: text in `p`, bytes as base64 in `b`. */
export interface WireMessage {
  room: string;
  seq: number;
  ts: number;
  epoch: number;
  id: string;
  origin: string;
  p?: string;
  b?: string;
}

/** An unsequenced publish as JSON. */
export interface WirePublish {
  id: string;
  origin: string;
  p?: string;
  b?: string;
}

/** Where a room delivers: a hub object by name, and the exchange (node) inside it. */
export interface DeliveryTarget {
  hub: string;
  node: string;
}

export function payloadFields(payload: string | Uint8Array): { p: string } | { b: string } {
  return typeof payload === "string" ? { p: payload } : { b: toBase64(payload) };
}

export function payloadOf(w: { p?: string; b?: string }): string | Uint8Array {
  if (typeof w.p === "string") return w.p;
  if (typeof w.b === "string") return fromBase64(w.b);
  throw new EdgeplaneError("BAD_ENVELOPE", "message has neither a text nor a binary payload");
}

export function toWire(m: SequencedMessage): WireMessage {
  return { room: m.room, seq: m.seq, ts: m.timestamp, epoch: m.epoch, id: m.id, origin: m.origin, ...payloadFields(m.payload) };
}

export function fromWire(w: WireMessage): SequencedMessage {
  if (!w || typeof w.room !== "string" || !Number.isSafeInteger(w.seq) || typeof w.id !== "string") {
    throw new EdgeplaneError("BAD_ENVELOPE", "malformed sequenced message");
  }
  return { room: w.room, seq: w.seq, timestamp: w.ts, epoch: w.epoch, id: w.id, origin: w.origin, payload: payloadOf(w) };
}

/** JSON response helper for the internal API. */
export function reply(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

/** An internal error answer: `{ error: { code, message } }`. */
export function replyError(err: unknown, status = 400): Response {
  const code: ErrorCode = err instanceof EdgeplaneError ? err.code : "REMOTE_ERROR";
  return reply({ error: { code, message: err instanceof Error ? err.message : String(err) } }, status);
}

/**
 * POST `body` as JSON to `path` of a Durable Object and parse the JSON answer. Rejects `TIMEOUT` after `timeoutMs`,
 * `BACKPLANE_UNAVAILABLE` when the object cannot be reached, or the object's own error code.
 */
export async function call<T>(stub: DurableObjectStubLike, path: string, body: unknown, opts: { timeoutMs: number; headers?: Record<string, string> }): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const ac = new AbortController();
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ac.abort();
      reject(new EdgeplaneError("TIMEOUT", `${path} did not answer within ${opts.timeoutMs} ms`));
    }, opts.timeoutMs);
  });
  try {
    const res = await Promise.race([
      stub.fetch(`https://edgeplane.internal${path}`, {
        method: "POST",
        body: JSON.stringify(body),
        headers: { "content-type": "application/json", ...opts.headers },
        signal: ac.signal,
      }),
      timeout,
    ]).catch((err) => {
      if (err instanceof EdgeplaneError) throw err;
      throw new EdgeplaneError("BACKPLANE_UNAVAILABLE", `durable object unreachable: ${err instanceof Error ? err.message : String(err)}`);
    });
    const data = await Promise.race([res.json(), timeout]).catch((err) => {
      if (err instanceof EdgeplaneError) throw err;
      throw new EdgeplaneError("BACKPLANE_UNAVAILABLE", `bad answer from ${path} (${res.status})`);
    }) as T & { error?: { code: ErrorCode; message: string } };
    if (data && typeof data === "object" && "error" in data && data.error) throw new EdgeplaneError(data.error.code, data.error.message);
    if (!res.ok) throw new EdgeplaneError("BACKPLANE_UNAVAILABLE", `${path} answered ${res.status}`);
    return data;
  } finally {
    clearTimeout(timer);
  }
}
