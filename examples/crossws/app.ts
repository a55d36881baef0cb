/**
 * The crossws demo's hooks: a topic relay. Connect to `/_ws?topics=a,b` (default `lobby`) to subscribe; then
 * - a text frame `{"topic":"a","data":"hi"}` is `peer.publish(topic, data)` (crossws's path: local subscribers first),
 * - `{"topic":"a","data":"hi","ordered":true}` goes through `sync.publishOrdered` (one order on every server),
 * - a binary frame is published as bytes to the peer's first topic.
 * Subscribers receive the published data as it was sent (text or bytes). Bad frames get `{"type":"error",…}` back.
 *
 * @module
 */
import type { Hooks, Peer } from "crossws";
import type { EdgeplaneSync } from "../../src/crossws/sync.ts";
import { isEdgeplaneError } from "../../src/errors.ts";

/** What a text frame from a client says. */
interface Command {
  topic?: string;
  data?: string;
  ordered?: boolean;
}

/** Options of {@link relayHooks}. */
export interface RelayHooksOptions {
  /** The ordered path; without it, `"ordered": true` is refused (crossws's own drivers have none). */
  publishOrdered?: EdgeplaneSync["publishOrdered"];
}

const topicsOf = (peer: Peer): string[] => {
  const list = new URL(peer.request.url).searchParams.get("topics") ?? "lobby";
  return list.split(",").filter(Boolean);
};

const sendError = (peer: Peer, code: string, message: string): void => void peer.send(JSON.stringify({ type: "error", code, message }));

/**
 * The relay's crossws hooks.
 *
 * @example
 * ```ts
 * const sync = edgeplaneSync(exchange, { channel: "demo" });
 * const served = await serveCrossws({ sync, hooks: relayHooks({ publishOrdered: sync.publishOrdered }) }, 3000);
 * ```
 */
export function relayHooks(opts: RelayHooksOptions = {}): Partial<Hooks> {
  return {
    open(peer) {
      const topics = topicsOf(peer);
      for (const t of topics) peer.subscribe(t);
      peer.send(JSON.stringify({ type: "welcome", topics }));
    },
    async message(peer, message) {
      const topics = [...peer.topics];
      if (typeof message.rawData !== "string") { // every crossws adapter hands text frames over as strings
        if (topics.length > 0) peer.publish(topics[0], message.uint8Array());
        return;
      }
      let cmd: Command;
      try {
        cmd = message.json<Command>();
      } catch {
        sendError(peer, "BAD_FRAME", "send JSON: {\"topic\":\"lobby\",\"data\":\"hi\",\"ordered\":false}");
        return;
      }
      const topic = cmd.topic ?? topics[0];
      if (typeof topic !== "string" || typeof cmd.data !== "string") {
        sendError(peer, "BAD_FRAME", "topic and data must be strings");
      } else if (!cmd.ordered) {
        peer.publish(topic, cmd.data);
      } else if (!opts.publishOrdered) {
        sendError(peer, "BAD_FRAME", "this server has no ordered path");
      } else {
        await publishOrdered(peer, opts.publishOrdered, topic, cmd.data);
      }
    },
  };
}

async function publishOrdered(peer: Peer, publish: EdgeplaneSync["publishOrdered"], topic: string, data: string): Promise<void> {
  try {
    await publish(topic, data, { namespace: peer.namespace });
  } catch (err) {
    sendError(peer, isEdgeplaneError(err) ? err.code : "REMOTE_ERROR", err instanceof Error ? err.message : String(err));
  }
}

