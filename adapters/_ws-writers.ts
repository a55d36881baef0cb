// Private: the fastest way each runtime's server socket takes a batch of edgeplane frames (the `writeFrames`
// capability of `WebSocketLike`, src/transport/websocket.ts). The core hands every connection the same frame objects,
// so what can be built once is built once:
//
// - Node (`ws`): the WebSocket frames (RFC 6455, server → client, unmasked) of a batch are built once as one buffer
//   and the same bytes go to every socket that gets the same batch (every member of a room, in the common case):
//   one `socket.write` per connection per turn, no per-socket UTF-8 encode, no per-frame header write. Falls back to
//   `ws.send` while `ws` itself holds queued frames (permessage-deflate in progress), so order is kept.
// - Bun (`ServerWebSocket`): the batch is sent corked (one write per connection per turn).
// - Anything else (Deno's standard WebSocket): one `send` per frame.
import type { Frame } from "../src/protocol.ts";
import type { WebSocketLike } from "../src/transport/websocket.ts";

/** Node `ws` socket: only the parts used here. */
interface NodeWs {
  readyState: number;
  readonly bufferedAmount: number;
  send(text: string): void;
  close(code?: number, reason?: string): void;
  _socket?: { write(chunk: Uint8Array): boolean; writable: boolean; cork(): void; uncork(): void };
  _sender?: { _queue: unknown[]; _state: number };
}

/** Bun `ServerWebSocket`: only the parts used here. */
interface BunWs {
  cork(cb: () => void): unknown;
  sendText(text: string): number;
  getBufferedAmount(): number;
  close(code?: number, reason?: string): void;
}

let lastBatch: readonly Frame[] | undefined;
let lastBytes: Uint8Array | undefined;
const encoder = new TextEncoder();

/**
 * The wire bytes of a batch of text frames: FIN + opcode 1, unmasked payload length (7, 16 or 64 bit), UTF-8 text.
 * The last batch built is reused when the next connection's batch holds the same frames (identity), which is what
 * every member of a room gets.
 */
export function textFrameBytes(frames: readonly Frame[]): Uint8Array {
  const last = lastBatch;
  if (last !== undefined && last.length === frames.length) {
    let same = true;
    for (let i = 0; i < frames.length; i++) {
      if (last[i] !== frames[i]) {
        same = false;
        break;
      }
    }
    if (same) return lastBytes!;
  }
  let total = 0;
  for (const f of frames) total += f.bytes + (f.bytes < 126 ? 2 : f.bytes < 65536 ? 4 : 10);
  const out = new Uint8Array(total);
  let at = 0;
  for (const f of frames) {
    const n = f.bytes;
    out[at] = 0x81;
    if (n < 126) {
      out[at + 1] = n;
      at += 2;
    } else if (n < 65536) {
      out[at + 1] = 126;
      out[at + 2] = n >>> 8;
      out[at + 3] = n & 0xff;
      at += 4;
    } else {
      out[at + 1] = 127;
      // 64-bit big-endian length (bytes at+2 … at+9); the high word is 0 below 4 GiB
      const hi = Math.floor(n / 2 ** 32);
      out[at + 2] = hi >>> 24;
      out[at + 3] = (hi >>> 16) & 0xff;
      out[at + 4] = (hi >>> 8) & 0xff;
      out[at + 5] = hi & 0xff;
      out[at + 6] = n >>> 24;
      out[at + 7] = (n >>> 16) & 0xff;
      out[at + 8] = (n >>> 8) & 0xff;
      out[at + 9] = n & 0xff;
      at += 10;
    }
    const { written } = encoder.encodeInto(f.text, out.subarray(at, at + n));
    at += written;
  }
  lastBatch = frames;
  lastBytes = out;
  return out;
}

/** What Hono's `WSContext` gives us (only the parts used here). */
export interface WsContextLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  raw?: unknown;
}

/**
 * The `WebSocketLike` for a Hono WebSocket context: the runtime's fast path where there is one (Node `ws`, Bun),
 * else `send` per frame. One small object per connection, methods on the prototype.
 */
export function socketOf(ws: WsContextLike): WebSocketLike {
  const raw = ws.raw;
  if (raw !== null && typeof raw === "object") {
    const node = raw as NodeWs;
    if (node._socket && node._sender && typeof node._socket.write === "function" && Array.isArray(node._sender._queue)) return new NodeSocket(node);
    const bun = raw as BunWs;
    if (typeof bun.cork === "function" && typeof bun.sendText === "function" && typeof bun.getBufferedAmount === "function") return new BunSocket(bun);
  }
  return new PlainSocket(ws);
}

class NodeSocket implements WebSocketLike {
  readonly #ws: NodeWs;
  constructor(ws: NodeWs) {
    this.#ws = ws;
  }
  send(text: string): void {
    this.#ws.send(text);
  }
  close(code?: number, reason?: string): void {
    this.#ws.close(code, reason);
  }
  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }
  writeFrames(frames: readonly Frame[]): void {
    const ws = this.#ws, sock = ws._socket!, sender = ws._sender!;
    if (ws.readyState !== 1 || !sock.writable) return;
    if (sender._state !== 0 || sender._queue.length !== 0) {
      // ws holds frames of its own (permessage-deflate at work): queue behind them, in order
      sock.cork();
      try {
        for (const f of frames) ws.send(f.text);
      } finally {
        sock.uncork();
      }
      return;
    }
    sock.write(textFrameBytes(frames));
  }
}

class BunSocket implements WebSocketLike {
  readonly #ws: BunWs;
  constructor(ws: BunWs) {
    this.#ws = ws;
  }
  send(text: string): void {
    this.#ws.sendText(text);
  }
  close(code?: number, reason?: string): void {
    this.#ws.close(code, reason);
  }
  getBufferedAmount(): number {
    return this.#ws.getBufferedAmount();
  }
  writeFrames(frames: readonly Frame[]): void {
    const ws = this.#ws;
    if (frames.length === 1) ws.sendText(frames[0].text);
    else {
      ws.cork(() => {
        for (const f of frames) ws.sendText(f.text);
      });
    }
  }
}

class PlainSocket implements WebSocketLike {
  readonly #ws: WsContextLike;
  constructor(ws: WsContextLike) {
    this.#ws = ws;
  }
  send(text: string): void {
    this.#ws.send(text);
  }
  close(code?: number, reason?: string): void {
    this.#ws.close(code, reason);
  }
  get bufferedAmount(): number {
    return (this.#ws.raw as { bufferedAmount?: number } | undefined)?.bufferedAmount ?? 0;
  }
}
