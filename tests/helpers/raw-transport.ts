// Test helper: raw clients of the three transports with full control of the opening request's headers (a browser's
// Origin, Sec-Fetch-Site, Authorization): WebSocket over a plain TCP socket (handshake and frames by hand, so any
// header and any bytes can be sent), SSE over fetch + POSTs, long-poll over fetch. Every server frame is recorded.
import { connect, type Socket } from "node:net";
import type { ServerFrame } from "../../src/protocol.ts";
import type { TransportKind } from "../../src/transport/connection.ts";
import { SseParser } from "../../src/client/_sse-parser.ts";
import { waitUntil } from "./process.ts";
import { wsFrame } from "./raw-socket.ts";

export interface RawConn {
  kind: TransportKind;
  /** HTTP status of the opening request (101 for an accepted WebSocket). */
  status: number;
  /** Body of a refused opening request (JSON `{ error: { code, message } }`). */
  body: string;
  /** Server frames received, in order. */
  frames: ServerFrame[];
  /** The close the server announced: ws close code, SSE `event: error` closeCode, poll `closed.code`. */
  closed: { code: number; reason: string } | undefined;
  /** Send one client frame (text) or, on ws, raw bytes as a binary message; POST bodies may hold several lines. */
  send(data: string | Uint8Array): Promise<number>;
  errors(): Array<Extract<ServerFrame, { t: "error" }>>;
  /** ws only: write bytes to the socket as they are (a hand-built WebSocket frame). */
  writeRaw?(bytes: Uint8Array): void;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Extra request headers (Origin, Authorization, Sec-Fetch-Site). */
  headers?: Record<string, string>;
  /** Query string of the opening request (without `?`), e.g. `token=tok-ada&room=lobby`. */
  query?: string;
}

/** Open a raw connection of `kind` to the server at `base` (http://host:port). Resolves once answered. */
export function openRaw(base: string, kind: TransportKind, opts: OpenOptions = {}): Promise<RawConn> {
  if (kind === "ws") return openWs(base, opts);
  if (kind === "sse") return openSse(base, opts);
  return openPoll(base, opts);
}

/** The error code of a refused opening request. */
export function refusedCode(c: RawConn): string | undefined {
  try {
    return (JSON.parse(c.body) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

function errorsOf(frames: ServerFrame[]): Array<Extract<ServerFrame, { t: "error" }>> {
  return frames.filter((f): f is Extract<ServerFrame, { t: "error" }> => f.t === "error");
}

function pushFrame(frames: ServerFrame[], text: string): void {
  try {
    frames.push(JSON.parse(text));
  } catch {
    frames.push({ t: "error", code: "CLIENT_PARSE", message: text.slice(0, 200) });
  }
}

async function openWs(base: string, opts: OpenOptions): Promise<RawConn> {
  const u = new URL(base);
  const socket: Socket = connect(Number(u.port), u.hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.on("error", () => {});
  let buf = new Uint8Array(0);
  let handshaken = false;
  let ended = false;
  const conn: RawConn = {
    kind: "ws",
    status: 0,
    body: "",
    frames: [],
    closed: undefined,
    send(data) {
      if (ended || socket.destroyed) return Promise.resolve(0);
      socket.write(typeof data === "string" ? wsFrame(data) : wsFrame(data, 0x2));
      return Promise.resolve(101);
    },
    errors: () => errorsOf(conn.frames),
    writeRaw: (bytes) => void socket.write(bytes),
    async close() {
      if (!socket.destroyed) {
        if (handshaken && !ended) socket.write(wsFrame(new Uint8Array([0x03, 0xe8]), 0x8));
        socket.destroy();
      }
    },
  };
  const parseFrames = () => {
    for (;;) {
      if (buf.length < 2) return;
      const op = buf[0] & 0x0f;
      let len = buf[1] & 0x7f;
      let at = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = (buf[2] << 8) | buf[3];
        at = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(new DataView(buf.buffer, buf.byteOffset + 2, 8).getBigUint64(0));
        at = 10;
      }
      if (buf.length < at + len) return;
      const payload = buf.subarray(at, at + len);
      buf = buf.slice(at + len);
      if (op === 0x1) pushFrame(conn.frames, new TextDecoder().decode(payload));
      else if (op === 0x8) {
        const code = payload.length >= 2 ? (payload[0] << 8) | payload[1] : 1005;
        conn.closed = { code, reason: new TextDecoder().decode(payload.subarray(2)) };
        ended = true;
        socket.end();
      } else if (op === 0x9) socket.write(wsFrame(payload, 0xa));
    }
  };
  socket.on("data", (d: Uint8Array) => {
    const next = new Uint8Array(buf.length + d.length);
    next.set(buf);
    next.set(d, buf.length);
    buf = next;
    if (!handshaken) {
      const text = new TextDecoder("latin1").decode(buf);
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) return;
      conn.status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      if (conn.status !== 101) {
        conn.body = text.slice(end + 4);
        return;
      }
      handshaken = true;
      buf = buf.slice(end + 4);
    }
    if (handshaken) parseFrames();
  });
  socket.on("close", () => {
    ended = true;
    if (handshaken && !conn.closed) conn.closed = { code: 1006, reason: "socket closed" };
  });
  const headers = { host: u.host, ...(opts.headers ?? {}) };
  socket.write(
    `GET /ws${opts.query ? `?${opts.query}` : ""} HTTP/1.1\r\n` +
      Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("") +
      `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  try {
    await waitUntil(() => conn.status !== 0 || socket.destroyed, "ws handshake answer", 10_000);
    if (conn.status !== 101) {
      await waitUntil(() => socket.destroyed || refusedCode(conn) !== undefined, "ws refusal body", 5000).catch(() => {});
      socket.destroy();
    } else await waitUntil(() => conn.frames.length > 0 || ended, "ws welcome", 10_000);
  } catch (err) {
    socket.destroy(); // given up: the server must see this socket go (it may still answer the upgrade)
    throw err;
  }
  return conn;
}

async function openSse(base: string, opts: OpenOptions): Promise<RawConn> {
  const ac = new AbortController();
  const res = await fetch(`${base}/sse${opts.query ? `?${opts.query}` : ""}`, { headers: opts.headers, signal: ac.signal });
  let token = "";
  const conn: RawConn = {
    kind: "sse",
    status: res.status,
    body: "",
    frames: [],
    closed: undefined,
    async send(data) {
      const r = await fetch(`${base}/sse/${token}`, { method: "POST", body: data as BodyInit, headers: opts.headers });
      await r.body?.cancel();
      return r.status;
    },
    errors: () => errorsOf(conn.frames),
    async close() {
      // Cancel the body as well as aborting: an aborted fetch alone may leave the response stream (and its TCP
      // connection) open on some runtimes.
      await reader?.cancel().catch(() => {});
      ac.abort();
    },
  };
  let reader: ReadableStreamDefaultReader<string> | undefined;
  if (res.status !== 200) {
    conn.body = await res.text();
    return conn;
  }
  const parser = new SseParser();
  reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  void (async () => {
    try {
      for (;;) {
        const { done, value } = await reader!.read();
        if (done) break;
        for (const e of parser.push(value)) {
          if (e.event === "session") token = (JSON.parse(e.data) as { token: string }).token;
          else if (e.event === "error") {
            const err = JSON.parse(e.data) as { closeCode: number; message: string };
            conn.closed = { code: err.closeCode, reason: err.message };
          } else pushFrame(conn.frames, e.data);
        }
      }
    } catch { /* aborted */ }
    conn.closed ??= { code: 1006, reason: "stream ended" };
  })();
  await waitUntil(() => token !== "" && conn.frames.length > 0, "sse session and welcome", 10_000);
  return conn;
}

async function openPoll(base: string, opts: OpenOptions): Promise<RawConn> {
  const res = await fetch(`${base}/poll${opts.query ? `?${opts.query}` : ""}`, { headers: opts.headers });
  let stopped = false;
  let session = "";
  let cursor = 0;
  const conn: RawConn = {
    kind: "poll",
    status: res.status,
    body: "",
    frames: [],
    closed: undefined,
    async send(data) {
      const r = await fetch(`${base}/poll/${session}`, { method: "POST", body: data as BodyInit, headers: opts.headers });
      await r.body?.cancel();
      return r.status;
    },
    errors: () => errorsOf(conn.frames),
    async close() {
      stopped = true;
      const r = await fetch(`${base}/poll/${session}`, { method: "DELETE", headers: opts.headers });
      await r.body?.cancel();
    },
  };
  if (res.status !== 200) {
    conn.body = await res.text();
    return conn;
  }
  type Answer = { session: string; cursor: number; frames: ServerFrame[]; closed?: { code: number; reason: string } };
  const take = (a: Answer) => {
    session = a.session;
    cursor = a.cursor;
    conn.frames.push(...a.frames);
    if (a.closed) {
      conn.closed = a.closed;
      stopped = true;
    }
  };
  take(await res.json() as Answer);
  void (async () => {
    while (!stopped) {
      try {
        const r = await fetch(`${base}/poll?session=${session}&cursor=${cursor}&wait=2000`, { headers: opts.headers });
        if (r.status !== 200) {
          await r.body?.cancel();
          conn.closed ??= { code: r.status, reason: "poll refused" };
          return;
        }
        take(await r.json() as Answer);
      } catch {
        return;
      }
    }
  })();
  return conn;
}
