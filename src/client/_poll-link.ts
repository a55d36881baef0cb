// Private: client link over long-polling.
import { type Link, type LinkClose, type LinkEnv, type LinkEvents, PostPump, routeUrl } from "./_link.ts";
import type { ServerFrame } from "../protocol.ts";

interface PollAnswer {
  session: string;
  cursor: number;
  frames: ServerFrame[];
  closed?: { code: number; reason: string };
}

export function pollLink(base: URL, ev: LinkEvents, env: LinkEnv): Link {
  const ac = new AbortController();
  let done = false;
  let session: string | undefined;
  let serverClosed = false;
  const finish = (info: LinkClose) => {
    if (done) return;
    done = true;
    ac.abort();
    // The link failed or is being closed while the server may still hold the session: end it right away (best
    // effort; the server would otherwise close it after its idle timeout). Not needed when the server closed it.
    if (session !== undefined && info.code !== 4404 && !serverClosed) {
      const url = routeUrl(base, `/poll/${encodeURIComponent(session)}`).href;
      Promise.resolve().then(() => env.fetch(url, { method: "DELETE", keepalive: true })).then((r) => r.body?.cancel(), () => {});
    }
    ev.close(info);
  };
  const posts = new PostPump(env, ac.signal, () => finish({ reason: "POST failed" }));
  (async () => {
    let cursor = 0;
    while (!done) {
      const url = routeUrl(base, "/poll");
      if (session !== undefined) {
        url.searchParams.set("session", session);
        url.searchParams.set("cursor", String(cursor));
        url.searchParams.set("wait", String(env.pollWaitMs));
      }
      const res = await env.fetch(url.href, { signal: ac.signal, cache: "no-store" });
      if (!res.ok) {
        await res.body?.cancel().catch(() => {});
        return { code: res.status === 404 ? 4404 : 1011, reason: `poll ${res.status}` };
      }
      const a = (await res.json()) as PollAnswer;
      if (session === undefined) {
        session = a.session;
        posts.setTarget(routeUrl(base, `/poll/${encodeURIComponent(session)}`));
      }
      cursor = a.cursor;
      for (const f of a.frames) {
        if (done) break;
        ev.frame(f);
      }
      if (a.closed) {
        serverClosed = true;
        return a.closed;
      }
    }
    return { code: 1000, reason: "client closed" };
  })().then((info) => finish(info), (err) => finish({ reason: String(err) }));
  return {
    kind: "poll",
    send: (text) => {
      if (!done) posts.send(text);
    },
    close: () => finish({ code: 1000, reason: "client closed" }),
  };
}
