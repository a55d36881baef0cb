// Private: client link over Server-Sent Events (fetch streaming, so it runs in browsers and server runtimes alike).
import { type Link, type LinkClose, type LinkEnv, type LinkEvents, parseServerFrame, PostPump, routeUrl } from "./_link.ts";
import { SseParser } from "./_sse-parser.ts";

export function sseLink(base: URL, ev: LinkEvents, env: LinkEnv): Link {
  const ac = new AbortController();
  let done = false;
  let closeInfo: LinkClose = {};
  let reader: ReadableStreamDefaultReader<string> | undefined;
  const finish = (info: LinkClose) => {
    if (done) return;
    done = true;
    // Cancel the body explicitly as well as aborting: some runtimes keep the response (and the server's session)
    // alive after an abort while data is still buffered in the pipe.
    reader?.cancel().catch(() => {});
    ac.abort();
    ev.close(info);
  };
  const posts = new PostPump(env, ac.signal, () => finish({ reason: "POST failed" }));
  (async () => {
    const res = await env.fetch(routeUrl(base, "/sse").href, { headers: { accept: "text/event-stream" }, signal: ac.signal, cache: "no-store" });
    if (!res.ok || !res.body) throw new Error(`SSE ${res.status}`);
    reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    const parser = new SseParser();
    for (;;) {
      const { done: end, value } = await reader.read();
      if (done) break;
      if (end) break;
      for (const e of parser.push(value)) {
        if (e.event === "session") {
          const s = JSON.parse(e.data) as { token: string };
          posts.setTarget(routeUrl(base, `/sse/${encodeURIComponent(s.token)}`));
        } else if (e.event === "error") {
          const x = JSON.parse(e.data) as { closeCode?: number; message?: string };
          closeInfo = { code: x.closeCode, reason: x.message };
        } else if (!done) {
          const f = parseServerFrame(e.data);
          if (f) ev.frame(f);
        }
      }
    }
  })().then(() => finish(closeInfo), (err) => finish({ ...closeInfo, reason: closeInfo.reason ?? String(err) }));
  return {
    kind: "sse",
    send: (text) => {
      if (!done) posts.send(text);
    },
    close: () => finish({ code: 1000, reason: "client closed" }),
  };
}
