// Private: outcomes of owner-bound requests (publish, relay, seed, history, position) on both sides. The requester
// classifies transport errors and parses replies into an Outcome; the owner turns its Outcome into a reply body.
// Replies are small JSON: `{s, t, e}` (a publish ack), `{redirect}`, `{err, msg}`, or a request's own ok shape.
import { EdgeplaneError } from "../../errors.ts";
import { validateId } from "../../envelope.ts";
import type { SeqInfo } from "../exchange.ts";
import { parseJson } from "./_codec.ts";
import { validateAuthority } from "../_authority.ts";
import type { NatsMsgLike } from "./_types.ts";

/** What one attempt at an owner-bound request came to. */
export type Outcome<T> =
  | { ok: T }
  | { redirect: string | null }
  | { retry: EdgeplaneError; suspect?: boolean }
  | { fail: EdgeplaneError };

/** The counters the requester side bumps. */
export type ReplyCounters = Record<"malformedDropped" | "noResponders" | "requestTimeouts", number>;

/** A failed request (no responders, timeout, anything else) as a retry on another node. */
export function classify(err: unknown, c: ReplyCounters, target: string, what: string): { retry: EdgeplaneError; suspect: boolean } {
  const e = err as { code?: unknown; name?: unknown; message?: unknown };
  const code = String(e?.code ?? ""), name = String(e?.name ?? ""), message = String(e?.message ?? "");
  if (code === "503" || /no ?responders/i.test(name + message)) {
    c.noResponders++;
    return { retry: new EdgeplaneError("NO_RESPONDERS", `${what}: owner ${target} has no responders`, { target }), suspect: true };
  }
  if (code === "TIMEOUT" || /timeout/i.test(name + message)) {
    c.requestTimeouts++;
    // Not suspect: a live owner that is slow (a stalled event loop, a long burst) is asked again, not passed over
    // (the next ranked node would only redirect back to it); a dead one leaves the member view within missedBeats.
    return { retry: new EdgeplaneError("TIMEOUT", `${what}: owner ${target} did not answer in time`, { target }), suspect: false };
  }
  return { retry: new EdgeplaneError("BACKPLANE_UNAVAILABLE", `${what}: ${message || code || name}`, { target }), suspect: true };
}

/** Parse a reply: a redirect, an error, or `ok(body)`; anything malformed is a retry elsewhere. */
export function parseReply<T>(resp: NatsMsgLike, c: ReplyCounters, ok: (b: Record<string, unknown>) => T): Outcome<T> {
  let b: Record<string, unknown>;
  try {
    b = parseJson(resp.data);
  } catch {
    c.malformedDropped++;
    return { retry: new EdgeplaneError("BAD_ENVELOPE", "malformed reply from owner"), suspect: true };
  }
  return outcomeOf(b, c, ok);
}

/** An owner's answer (a reply, or one entry of a batch reply): a redirect, an error, or `ok(b)`. */
export function outcomeOf<T>(b: unknown, c: ReplyCounters, ok: (b: Record<string, unknown>) => T): Outcome<T> {
  try {
    if (b === null || typeof b !== "object") throw new EdgeplaneError("BAD_ENVELOPE", "bad reply");
    const o = b as Record<string, unknown>;
    if ("redirect" in o) return { redirect: typeof o.redirect === "string" ? validateId(o.redirect) : null };
    if ("err" in o) {
      const code = String(o.err);
      if (typeof o.sealedBy === "string") {
        // The backplane is sealed (chain extension): final, and the caller follows `sealedBy` to the new authority.
        return { fail: new EdgeplaneError(code as EdgeplaneError["code"], String(o.msg ?? code), { sealedBy: validateAuthority(o.sealedBy), maybeSequenced: false }) };
      }
      const e = new EdgeplaneError(code as EdgeplaneError["code"], String(o.msg ?? code));
      return code === "BACKPLANE_UNAVAILABLE" || code === "CLOSED" ? { retry: e, suspect: code === "CLOSED" } : { fail: e };
    }
    return { ok: ok(o) };
  } catch {
    c.malformedDropped++;
    return { retry: new EdgeplaneError("BAD_ENVELOPE", "malformed reply from owner"), suspect: true };
  }
}

/** The reply body of an error. */
export function errorBody(err: unknown): { err: string; msg: string; sealedBy?: string } {
  const body: { err: string; msg: string; sealedBy?: string } = { err: (err as EdgeplaneError).code ?? "BAD_ENVELOPE", msg: String((err as Error).message) };
  const sealedBy = (err as EdgeplaneError).details?.sealedBy;
  if (typeof sealedBy === "string") body.sealedBy = sealedBy;
  return body;
}

/** The reply body of an owner-side outcome that is not ok: a redirect or an error. */
export function failureBody(out: Exclude<Outcome<unknown>, { ok: unknown }>): unknown {
  return "redirect" in out ? { redirect: out.redirect } : errorBody("fail" in out ? out.fail : out.retry);
}

/** The reply body of a publish outcome (single request). */
export function replyBody(out: Outcome<SeqInfo>): unknown {
  return "ok" in out ? { s: out.ok.seq, t: out.ok.timestamp, e: out.ok.epoch } : failureBody(out);
}

/** One entry of a batch reply: `[seq, ts, epoch]`, or the body of a single reply. */
export function batchEntry(out: Outcome<SeqInfo>): unknown {
  return "ok" in out ? [out.ok.seq, out.ok.timestamp, out.ok.epoch] : replyBody(out);
}
