// A project that installed only `edgeplane` (no optional peers): the features that need a peer say which one.
import { connectRedis, Hub } from "edgeplane";

const out = { hub: typeof Hub };
for (const [name, attempt] of [
  ["adapters/node", () => import("edgeplane/adapters/node")],
  ["connectRedis", () => connectRedis("redis://127.0.0.1:1")],
]) {
  try {
    await attempt();
    out[name] = "no error";
  } catch (err) {
    out[name] = { name: err?.name, code: err?.code, package: err?.details?.package, message: err?.message };
  }
}
console.log(JSON.stringify(out));
