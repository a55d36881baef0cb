// Private: normalize the user's Redis clients (node-redis v4/v5 or ioredis) behind two tiny functions.
import { EdgeplaneError } from "../errors.ts";
import type { RedisCommandClient, RedisSubscriberClient } from "./redis.ts";

/**
 * Run one command on either client flavour. ioredis is recognised by `call` first: it has a `sendCommand` too, but
 * one that takes its own `Command` object, not an argument array.
 */
export function sendCommand(client: RedisCommandClient, args: string[]): Promise<unknown> {
  const c = client as Record<string, unknown>;
  if (typeof c.call === "function") return (c.call as (...a: string[]) => Promise<unknown>).call(client, ...args);
  if (typeof c.sendCommand === "function") return (c.sendCommand as (a: string[]) => Promise<unknown>).call(client, args);
  return Promise.reject(new EdgeplaneError("BAD_OPTION", "redis client has neither sendCommand() nor call()"));
}

/** A normalized pub/sub channel API over either client flavour. */
export interface PubSub {
  subscribe(channel: string, onMessage: (message: string) => void): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  on(event: "ready" | "down" | "error", listener: (err?: unknown) => void): void;
}

/** Wrap a subscriber client. ioredis is recognised by its `call` method. */
export function pubSub(sub: RedisSubscriberClient): PubSub {
  const s = sub as unknown as Record<string, (...a: unknown[]) => unknown>;
  const isIoredis = typeof s.call === "function";
  const handlers = new Map<string, (message: string) => void>();
  const listeners: Record<string, Array<(err?: unknown) => void>> = { ready: [], down: [], error: [] };
  const emit = (ev: string, arg?: unknown) => {
    for (const l of listeners[ev]) {
      try {
        l(arg);
      } catch { /* listener bugs never reach the client's emitter */ }
    }
  };
  if (typeof s.on === "function") {
    s.on.call(sub, "ready", () => emit("ready"));
    s.on.call(sub, "error", (err: unknown) => {
      emit("error", err);
      emit("down", err);
    });
    s.on.call(sub, "end", () => emit("down"));
    s.on.call(sub, "close", () => emit("down"));
    s.on.call(sub, "reconnecting", () => emit("down"));
    if (isIoredis) {
      s.on.call(sub, "message", (channel: unknown, message: unknown) => {
        handlers.get(String(channel))?.(String(message));
      });
    }
  }
  return {
    async subscribe(channel, onMessage) {
      handlers.set(channel, onMessage);
      if (isIoredis) await s.subscribe.call(sub, channel);
      else await s.subscribe.call(sub, channel, (message: unknown) => handlers.get(channel)?.(String(message)));
    },
    async unsubscribe(channel) {
      handlers.delete(channel);
      await s.unsubscribe.call(sub, channel);
    },
    on(event, listener) {
      listeners[event].push(listener);
    },
  };
}
