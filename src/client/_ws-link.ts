// Private: client link over WebSocket.
import { type Link, type LinkClose, type LinkEnv, type LinkEvents, parseServerFrame, routeUrl } from "./_link.ts";

export function wsLink(base: URL, ev: LinkEvents, env: LinkEnv): Link {
  const WS = env.WebSocket ?? (globalThis as { WebSocket?: new (url: string) => WebSocket }).WebSocket;
  let done = false;
  const finish = (info: LinkClose) => {
    if (done) return;
    done = true;
    ev.close(info);
  };
  if (!WS) {
    queueMicrotask(() => finish({ reason: "no WebSocket in this environment" }));
    return { kind: "ws", send() {}, close() {} };
  }
  const url = routeUrl(base, "/ws");
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const early: string[] = [];
  let ws: WebSocket;
  try {
    ws = new WS(url.href);
  } catch (err) {
    queueMicrotask(() => finish({ reason: String(err) }));
    return { kind: "ws", send() {}, close() {} };
  }
  ws.onopen = () => {
    for (const t of early.splice(0)) ws.send(t);
  };
  ws.onmessage = (e: MessageEvent) => {
    if (done || typeof e.data !== "string") return;
    const f = parseServerFrame(e.data);
    if (f) ev.frame(f);
  };
  ws.onclose = (e: CloseEvent) => finish({ code: e.code, reason: e.reason });
  ws.onerror = () => {
    try {
      ws.close();
    } catch { /* ignore */ }
    finish({ reason: "websocket error" });
  };
  return {
    kind: "ws",
    send(text: string): void {
      if (done) return;
      if (ws.readyState === 1) ws.send(text);
      else early.push(text);
    },
    close(): void {
      try {
        ws.close(1000, "client closed");
      } catch { /* ignore */ }
      finish({ code: 1000, reason: "client closed" });
    },
  };
}
