// Private: routing and retries. A request goes to the room's owner in this node's view, or to the node a redirect
// named, and is retried until `sendTimeout`: on a redirect at the named node, after a timeout at the same owner while
// it is live (a slow owner is not a dead one), after no-responders at the next ranked node. Publishes go through
// PublishQueue (admission, one ordered queue per room); relay, seed, history and position requests through `routed`.
// Remote publishes travel through OwnerRequests (batched per owner and turn).
import { EdgeplaneError } from "../../errors.ts";
import type { RelayResult, SeqInfo } from "../exchange.ts";
import type { DecodedRequest } from "./_codec.ts";
import type { Core } from "./_core.ts";
import { OwnerRequests, type SendHost } from "./_publisher.ts";
import { PublishQueue, type QueueLimits } from "./_publish-queue.ts";
import { classify, type Outcome, parseReply } from "./_replies.ts";
import type { RoomKey } from "./_subjects.ts";
import type { NatsMsgLike } from "./_types.ts";

/** Where this node's owner-bound requests go, and their retries. */
export class Router {
  readonly #hints = new Map<string, { node: string; version: number }>();
  readonly #queue: PublishQueue;

  constructor(readonly core: Core, send: SendHost, limits: QueueLimits) {
    this.#queue = new PublishQueue(core, new OwnerRequests(send), limits, this.#hints);
  }

  /** A publish of this node: admitted (or waiting for a slot), sent in call order per room (see PublishQueue). */
  publish(key: RoomKey, req: DecodedRequest, raw: Uint8Array): Promise<SeqInfo> {
    return this.#queue.publish(key, req, raw);
  }

  /**
   * Route a request to the room's owner: the owner in this view (or a redirect hint), retrying on redirects, timeouts
   * and no-responders with the next ranked node, until `sendTimeout`. The first attempt is sent synchronously, so
   * publishes from one node reach the owner in call order.
   */
  async routed<T>(
    key: RoomKey,
    what: string,
    attempt: (target: string, timeout: number) => Promise<Outcome<T>>,
  ): Promise<T> {
    const c = this.core, m = c.membership;
    const deadline = c.now() + c.sendTimeout;
    const suspects = new Set<string>();
    let lastErr: EdgeplaneError | undefined;
    for (let i = 0;; i++) {
      if (c.closed) throw new EdgeplaneError("CLOSED", "exchange is closed");
      const remaining = deadline - c.now();
      if (remaining <= 0) {
        throw lastErr ?? new EdgeplaneError("BACKPLANE_UNAVAILABLE", `${what}: no owner reachable within ${c.sendTimeout} ms`);
      }
      if (i > 0) c.counters.retries++;
      if (!c.connected) {
        lastErr = new EdgeplaneError("BACKPLANE_UNAVAILABLE", `${what}: disconnected from NATS`);
        await c.wait("conn", remaining);
        continue;
      }
      const hint = this.#hints.get(key.token);
      let target: string | undefined;
      if (hint && hint.version === m.version && m.isLive(hint.node) && !suspects.has(hint.node)) {
        target = hint.node;
      } else target = c.owner.ownerFor(key, suspects);
      if (!target) {
        lastErr ??= new EdgeplaneError("BACKPLANE_UNAVAILABLE", `${what}: no eligible owner`);
        if (suspects.size) suspects.clear();
        await c.wait("change", Math.min(remaining, c.hbMs / 2));
        continue;
      }
      let out: Outcome<T>;
      try {
        out = await attempt(target, Math.min(remaining, Math.max(100, c.sendTimeout / 2)));
      } catch (err) {
        if (err instanceof EdgeplaneError) throw err;
        out = { retry: new EdgeplaneError("BACKPLANE_UNAVAILABLE", `${what}: ${String(err)}`) };
      }
      if ("ok" in out) return out.ok;
      if ("fail" in out) throw out.fail;
      if ("redirect" in out) {
        c.counters.redirects++;
        const to = out.redirect;
        if (to && to !== target && m.isLive(to)) {
          this.#hints.set(key.token, { node: to, version: m.version });
          if (this.#hints.size > 50_000) this.#hints.delete(this.#hints.keys().next().value as string);
        } else {
          this.#hints.delete(key.token);
          lastErr = new EdgeplaneError("BACKPLANE_UNAVAILABLE", `${what}: owners disagree (membership settling)`);
          await c.wait("change", Math.min(remaining, 20 * Math.min(i + 1, 10)));
        }
        if (i > 2) await c.wait("change", Math.min(remaining, 10 * Math.min(i, 20)));
        continue;
      }
      lastErr = out.retry;
      if (out.suspect) {
        suspects.add(target);
        if (this.#hints.get(key.token)?.node === target) this.#hints.delete(key.token);
      } else if (out.retry.code !== "TIMEOUT") await c.wait("change", Math.min(remaining, 50));
    }
  }

  /** A relay or seed request to a remote owner. */
  async remoteChain(target: string, headers: unknown, raw: Uint8Array, timeout: number): Promise<Outcome<RelayResult>> {
    const c = this.core;
    let resp: NatsMsgLike;
    try {
      resp = await c.nc.request(c.subjects.rel(target), raw, { timeout, headers });
    } catch (err) {
      return classify(err, c.counters, target, "relay");
    }
    return parseReply(resp, c.counters, (b) => {
      if (b.r !== "ok" && b.r !== "dup" && b.r !== "conflict") throw new EdgeplaneError("BAD_ENVELOPE", "bad relay reply");
      return b.r;
    });
  }
}
