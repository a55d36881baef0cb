// Test helper: raw TCP clients speaking just enough HTTP / WebSocket to join a room and then stop reading
// (socket paused, so TCP backpressure reaches the server like a real client that stalls).
import { connect, type Socket } from "node:net";
import { waitUntil } from "./process.ts";

export interface StalledClient {
  socket: Socket;
  /** Everything received (latin1). */
  text(): string;
  closed(): boolean;
  /** Stop reading from the socket (the kernel buffers fill, then the server's). */
  stall(): void;
  /** Read again. */
  resume(): void;
  destroy(): void;
}

/** A masked WebSocket text frame (client → server). */
export function wsFrame(text: string | Uint8Array, opcode = 0x1): Uint8Array {
  const payload = typeof text === "string" ? new TextEncoder().encode(text) : text;
  const len = payload.length;
  const head: number[] = [0x80 | opcode];
  if (len < 126) head.push(0x80 | len);
  else if (len < 65536) head.push(0x80 | 126, len >> 8, len & 255);
  else {
    head.push(0x80 | 127, 0, 0, 0, 0);
    head.push((len >>> 24) & 255, (len >>> 16) & 255, (len >>> 8) & 255, len & 255);
  }
  const mask = [0x12, 0x34, 0x56, 0x78];
  const out = new Uint8Array(head.length + 4 + len);
  out.set(head, 0);
  out.set(mask, head.length);
  for (let i = 0; i < len; i++) out[head.length + 4 + i] = payload[i] ^ mask[i & 3];
  return out;
}

/** Open a raw connection on `port` that joins `room` over `kind` and is ready to stall once `joined` arrived. */
export async function rawClient(port: number, kind: "ws" | "sse", room: string): Promise<StalledClient> {
  const socket = connect(port, "127.0.0.1");
  let buf = "";
  let closed = false;
  socket.on("data", (d: Uint8Array) => {
    buf += Buffer.from(d).toString("latin1");
    if (buf.length > 1_000_000) buf = buf.slice(-500_000);
  });
  socket.on("close", () => (closed = true));
  socket.on("error", () => (closed = true));
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const q = encodeURIComponent(room);
  if (kind === "ws") {
    socket.write(
      `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    await waitUntil(() => buf.includes("\r\n\r\n") || closed, "ws handshake answer", 10_000);
    if (!buf.startsWith("HTTP/1.1 101")) throw new Error(`ws upgrade failed: ${buf.slice(0, 200)}`);
    await waitUntil(() => buf.includes('"t":"welcome"'), "welcome", 10_000);
    socket.write(wsFrame(JSON.stringify({ t: "join", room })));
  } else {
    socket.write(`GET /sse?room=${q} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`);
  }
  await waitUntil(() => buf.includes('"t":"joined"') || closed, `${kind} raw client joined`, 10_000);
  if (closed) throw new Error(`raw ${kind} client closed before joining: ${buf.slice(0, 300)}`);
  return {
    socket,
    text: () => buf,
    closed: () => closed,
    stall: () => socket.pause(),
    resume: () => socket.resume(),
    destroy: () => socket.destroy(),
  };
}
