// A deliberately tiny WebSocket client on node:net for the load generator: one HTTP upgrade, an unmasking-free frame
// parser (server frames are never masked), masked text frames with a zero mask key (valid per RFC 6455, and it costs
// nothing, so the client side adds as little CPU as possible to the measured servers). The same client talks to every
// server under test (raw, edgeplane, Socket.IO), so the client cost is identical on both sides of every ratio.
import { connect, type Socket } from "node:net";

export interface MiniWs {
  socket: Socket;
  /** Send a text message (masked with a zero key). */
  send(text: string): void;
  /** Queue several text messages into one write. */
  sendMany(texts: string[]): void;
  close(): void;
}

export interface MiniWsHandlers {
  /** Every complete text/binary message; `buf[start..end)` is the payload (valid only during the call). */
  onMessage(buf: Buffer, start: number, end: number, ws: MiniWs): void;
  onClose?(): void;
}

function encodeFrame(text: string): Buffer {
  const body = Buffer.from(text, "utf8");
  const len = body.length;
  let head: Buffer;
  if (len < 126) {
    head = Buffer.alloc(6);
    head[1] = 0x80 | len;
  } else if (len < 65536) {
    head = Buffer.alloc(8);
    head[1] = 0x80 | 126;
    head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.alloc(14);
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  head[0] = 0x81; // FIN + text; the trailing 4 bytes of `head` are the (zero) mask key
  return Buffer.concat([head, body]);
}

function controlFrame(opcode: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(6);
  head[0] = 0x80 | opcode;
  head[1] = 0x80 | payload.length;
  return Buffer.concat([head, payload]);
}

/** Open a WebSocket to `url` (ws://host:port/path?query). Resolves once the upgrade succeeded. */
export function openWs(url: string, h: MiniWsHandlers, timeoutMs = 20_000): Promise<MiniWs> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: u.hostname, port: Number(u.port), noDelay: true });
    let upgraded = false;
    let buf: Buffer = Buffer.alloc(0);
    let fragments: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`ws upgrade to ${url} timed out`));
    }, timeoutMs);
    const ws: MiniWs = {
      socket,
      send: (text) => void socket.write(encodeFrame(text)),
      sendMany: (texts) => void socket.write(Buffer.concat(texts.map(encodeFrame))),
      close: () => socket.destroy(),
    };
    socket.on("connect", () => {
      socket.write(
        `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    const parse = () => {
      let off = 0;
      while (buf.length - off >= 2) {
        const b0 = buf[off];
        const b1 = buf[off + 1];
        let len = b1 & 0x7f;
        let hdr = 2;
        if (len === 126) {
          if (buf.length - off < 4) break;
          len = buf.readUInt16BE(off + 2);
          hdr = 4;
        } else if (len === 127) {
          if (buf.length - off < 10) break;
          len = Number(buf.readBigUInt64BE(off + 2));
          hdr = 10;
        }
        if (b1 & 0x80) hdr += 4; // masked (servers must not, but be tolerant)
        if (buf.length - off < hdr + len) break;
        const start = off + hdr;
        const end = start + len;
        const opcode = b0 & 0x0f;
        const fin = (b0 & 0x80) !== 0;
        if (opcode === 0x9) socket.write(controlFrame(0xa, buf.subarray(start, end)));
        else if (opcode === 0x8) {
          socket.end();
        } else if (opcode === 0x1 || opcode === 0x2 || opcode === 0x0) {
          if (!fin || fragments.length > 0) {
            fragments.push(Buffer.from(buf.subarray(start, end)));
            if (fin) {
              const whole = Buffer.concat(fragments);
              fragments = [];
              h.onMessage(whole, 0, whole.length, ws);
            }
          } else h.onMessage(buf, start, end, ws);
        }
        off = end;
      }
      buf = off === buf.length ? Buffer.alloc(0) : buf.subarray(off);
    };
    socket.on("data", (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      if (!upgraded) {
        const i = buf.indexOf("\r\n\r\n");
        if (i < 0) return;
        const head = buf.subarray(0, i).toString("latin1");
        if (!/^HTTP\/1\.1 101/.test(head)) {
          clearTimeout(timer);
          socket.destroy();
          reject(new Error(`ws upgrade to ${url} failed: ${head.split("\r\n")[0]}`));
          return;
        }
        upgraded = true;
        clearTimeout(timer);
        buf = buf.subarray(i + 4);
        resolve(ws);
      }
      parse();
    });
    socket.on("error", (err) => {
      clearTimeout(timer);
      if (!upgraded) reject(err);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      if (!upgraded) reject(new Error(`ws to ${url} closed before the upgrade`));
      else h.onClose?.();
    });
  });
}
