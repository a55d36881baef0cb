// Test/bench server: the crossws example relay (examples/crossws/app.ts) on this runtime's crossws adapter, with a
// chosen sync driver, printing one JSON line per event ("@{...}") so a scenario can account for every message:
//   @{"ev":"ready","url":…}                                   relaying started (edgeplane: after sync.ready())
//   @{"ev":"pub","room","seq","epoch","topic","data"}         the exchange sequenced a publish of this server
//   @{"ev":"pubfail","topic","data","code"}                   the exchange refused it
//   @{"ev":"disc","room","afterSeq","nextSeq","epoch"}        onDiscontinuity
//   @{"ev":"syncerror","stage","code"}                        crossws's onError
// env: PORT, NATS_URL or REDIS_URL, EDGEPLANE_PREFIX, CHANNEL, DRIVER = edgeplane (default) | crossws-redis
// (crossws's own redis() driver over node-redis, configured as its docs show).
import type { SyncAdapter } from "crossws";
import { edgeplaneSync } from "../../src/crossws/sync.ts";
import { decodeWire } from "../../src/crossws/_wire.ts";
import type { Exchange } from "../../src/exchange/exchange.ts";
import { isEdgeplaneError } from "../../src/errors.ts";
import { exchangeFromEnv } from "../../examples/chat/exchange.ts";
import { relayHooks, type RelayHooksOptions } from "../../examples/crossws/app.ts";
import { serveCrossws } from "../../examples/crossws/serve.ts";

const env = globalThis.process.env;
const emit = (ev: string, fields: Record<string, unknown> = {}) => console.log(`@${JSON.stringify({ ev, ...fields })}`);
const code = (err: unknown) => isEdgeplaneError(err) ? err.code : err instanceof Error ? err.message.slice(0, 120) : String(err);

/** The exchange with every publish's outcome logged (decoding our own wire format to name the message). */
function traced(ex: Exchange): Exchange {
  const publish: Exchange["publish"] = async (room, payload, opts) => {
    const w = decodeWire(payload);
    const data = typeof w.data === "string" ? w.data : `bytes:${w.data.byteLength}`;
    try {
      const info = await ex.publish(room, payload, opts);
      emit("pub", { room, seq: info.seq, epoch: info.epoch, topic: w.topic, data, t: Date.now() });
      return info;
    } catch (err) {
      emit("pubfail", { room, topic: w.topic, data, code: code(err), t: Date.now(), why: err instanceof Error ? err.message.slice(0, 160) : "" });
      throw err;
    }
  };
  return new Proxy(ex, {
    get(target, key) {
      if (key === "publish") return publish;
      const v = Reflect.get(target, key, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

let sync: SyncAdapter;
let hooks: RelayHooksOptions = {};
let ready: () => Promise<void>;
let closeBackplane: () => Promise<void>;

if (env.DRIVER === "crossws-redis") {
  const [{ redis }, { createClient }] = await Promise.all([import("crossws/sync"), import("redis")]);
  const client = createClient({ url: env.REDIS_URL });
  client.on("error", () => {});
  // crossws's driver duplicates the client for pub/sub and adds no 'error' listener: a Redis restart would crash the
  // process. The only way an app can prevent that is to hand over a client whose duplicate() adds one.
  const duplicate = client.duplicate.bind(client);
  (client as unknown as { duplicate: () => unknown }).duplicate = () => duplicate().on("error", () => {});
  await client.connect();
  sync = redis({ client: client as never, channel: env.CHANNEL ?? "crossws-test" });
  ready = () => Promise.resolve(); // crossws exposes no readiness: the scenario probes
  closeBackplane = async () => void (await client.close().catch(() => client.destroy()));
} else {
  const { exchange, release } = await exchangeFromEnv((k) => env[k]);
  const s = edgeplaneSync(traced(exchange), {
    channel: env.CHANNEL ?? "crossws-test",
    onDiscontinuity: (d) => emit("disc", { room: d.room, afterSeq: d.afterSeq, nextSeq: d.nextSeq, epoch: d.epoch, reason: d.reason }),
  });
  sync = s;
  hooks = { publishOrdered: s.publishOrdered };
  ready = () => s.ready();
  closeBackplane = async () => {
    await exchange.close();
    await release();
  };
}

const served = await serveCrossws({
  sync,
  hooks: relayHooks(hooks),
  onError: (err, ctx) => emit("syncerror", { stage: ctx.stage, code: code(err) }),
}, Number(env.PORT ?? 0));
await ready();
emit("ready", { url: served.url, runtime: served.runtime });

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await served.close();
  await closeBackplane();
  globalThis.process.exit(0);
};
globalThis.process.on("SIGTERM", stop);
globalThis.process.on("SIGINT", stop);
