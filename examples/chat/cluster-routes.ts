/**
 * Operator routes of the chat demo that show the hub's cluster features over HTTP (mounted only with
 * `EDGEPLANE_ADMIN_ROUTES=1`; put real auth in front of anything like this in production):
 *
 * | route                          | hub call                          |
 * | ------------------------------ | --------------------------------- |
 * | `GET  /cluster/nodes`          | live nodes (`metrics().cluster`)  |
 * | `GET  /cluster/presence?room=` | `hub.presence(room)`              |
 * | `POST /cluster/send-to?conn=`  | `hub.sendTo(conn, body)`          |
 * | `POST /cluster/ask?target=`    | `hub.ask(target, JSON body)`      |
 *
 * @module
 */
import { Hono } from "hono";
import { EdgeplaneError } from "../../src/errors.ts";
import type { Hub } from "../../src/hub.ts";

/**
 * Build the routes for `hub`.
 *
 * @example
 * ```ts
 * app.route("/", clusterRoutes(hub));
 * ```
 */
export function clusterRoutes(hub: Hub): Hono {
  const app = new Hono();
  const fail = (err: unknown) => {
    const code = err instanceof EdgeplaneError ? err.code : "INTERNAL";
    return Response.json({ error: { code, message: err instanceof Error ? err.message : String(err) } }, {
      status: code === "TIMEOUT" || code === "NO_RESPONDERS" ? 504 : 400,
    });
  };
  app.get("/cluster/nodes", (c) => c.json({ node: hub.nodeId, nodes: hub.metrics().cluster?.nodes ?? [hub.nodeId] }));
  app.get("/cluster/presence", (c) => c.json(hub.presence(c.req.query("room") ?? "")));
  app.post("/cluster/send-to", async (c) => {
    try {
      return c.json({ result: await hub.sendTo(c.req.query("conn") ?? "", await c.req.text(), { timeout: 2000 }) });
    } catch (err) {
      return fail(err);
    }
  });
  app.post("/cluster/ask", async (c) => {
    try {
      const timeout = Number(c.req.query("timeout") ?? 2000);
      return c.json({ answer: await hub.ask(c.req.query("target") ?? "", await c.req.json(), { timeout }) });
    } catch (err) {
      return fail(err);
    }
  });
  return app;
}
