// Test helper: run Workers in a real `workerd` (from the npm package) on free loopback ports, stopped by PID.
// The app Worker's config comes from the README's wrangler config block (translated to workerd's capnp config the
// way wrangler would deploy it: Durable Object bindings, migrations -> SQLite-backed classes, vars), so the config a
// user copies is the one under test.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { type Child, freePort, start, waitUntil } from "./process.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The native workerd binary of the `workerd` npm package (its platform package), never a wrapper process. */
export function workerdBinary(): string {
  const arch = globalThis.process.arch === "arm64" ? "arm64" : "64";
  const platform = globalThis.process.platform === "darwin" ? "darwin" : "linux";
  const bin = join(root, "node_modules", "@cloudflare", `workerd-${platform}-${arch}`, "bin", "workerd");
  if (!existsSync(bin)) throw new Error(`workerd binary not found at ${bin} (npm ci installs the workerd package): the workerd tests cannot run`);
  return bin;
}

/** The subset of a wrangler config the adapter's README documents. */
export interface WranglerConfig {
  name: string;
  main: string;
  compatibility_date: string;
  compatibility_flags?: string[];
  durable_objects: { bindings: Array<{ name: string; class_name: string }> };
  migrations: Array<{ tag: string; new_sqlite_classes?: string[]; new_classes?: string[] }>;
  vars?: Record<string, string>;
}

/** Strip `//` comments (outside strings) and trailing commas from JSONC. */
export function parseJsonc<T>(text: string): T {
  let out = "";
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === "\\") out += text[++i];
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (c === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
      out += "\n";
    } else out += c;
  }
  return JSON.parse(out.replace(/,(\s*[}\]])/g, "$1")) as T;
}

/** The fenced block of `lang` that follows `marker` in the README's section `heading`. */
export function readmeBlock(heading: string, lang: string, marker?: string): string {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const at = readme.indexOf(`\n## ${heading}\n`);
  if (at < 0) throw new Error(`README has no "## ${heading}" section`);
  const end = readme.indexOf("\n## ", at + 4);
  let section = readme.slice(at, end < 0 ? undefined : end);
  if (marker) {
    const m = section.indexOf(marker);
    if (m < 0) throw new Error(`README section "${heading}" has no "${marker}"`);
    section = section.slice(m);
  }
  const open = section.indexOf("```" + lang + "\n");
  if (open < 0) throw new Error(`README section "${heading}" has no \`\`\`${lang} block${marker ? ` after "${marker}"` : ""}`);
  const from = open + lang.length + 4;
  return section.slice(from, section.indexOf("\n```", from) + 1);
}

/** Bundle a Worker entry with esbuild (what wrangler does): ESM, worker/browser conditions, Node built-ins external. */
export async function bundle(entry: string, outfile: string, aliases: Record<string, string> = {}): Promise<void> {
  const args = [
    join(root, entry), "--bundle", "--format=esm", "--platform=neutral", "--conditions=worker,browser",
    "--main-fields=module,main", "--external:node:*", "--external:crypto", "--log-level=warning", `--outfile=${outfile}`,
    ...Object.entries(aliases).map(([k, v]) => `--alias:${k}=${join(root, v)}`),
  ];
  const child = start(join(root, "node_modules", ".bin", "esbuild"), args, { cwd: root });
  const code = await child.exited;
  if (code !== 0) throw new Error(`esbuild ${entry} failed (${code}):\n${child.output()}`);
}

/** One Worker service in the workerd config. */
export interface ServiceSpec {
  /** Service (and socket) name. */
  name: string;
  /** Bundled module file (absolute). */
  module: string;
  config: WranglerConfig;
  /** Overrides / additions to the config's vars. */
  vars?: Record<string, string>;
  /** Durable Object storage: a directory (persists across restarts) or in memory. */
  storage: "memory" | { dir: string };
}

/** capnp for a set of Worker services, each with its own loopback socket. */
/** capnp `embed` paths are relative to the config file: `configDir`. */
export function capnpConfig(services: ServiceSpec[], ports: Record<string, number>, configDir: string): string {
  const q = (s: string) => JSON.stringify(s);
  const svc: string[] = [`(name = "net", network = (allow = ["public", "private", "local"]))`];
  const sockets: string[] = [];
  const workers: string[] = [];
  services.forEach((s, i) => {
    const c = s.config;
    const sqlite = new Set(c.migrations.flatMap((m) => m.new_sqlite_classes ?? []));
    const kv = new Set(c.migrations.flatMap((m) => m.new_classes ?? []));
    const classes = [...new Set(c.durable_objects.bindings.map((b) => b.class_name))];
    for (const cls of classes) {
      if (!sqlite.has(cls) && !kv.has(cls)) throw new Error(`wrangler config: class ${cls} is bound but no migration creates it`);
    }
    svc.push(`(name = ${q(s.name)}, worker = .w${i})`);
    if (s.storage !== "memory") svc.push(`(name = ${q(`${s.name}-storage`)}, disk = (path = ${q(s.storage.dir)}, writable = true))`);
    sockets.push(`(name = ${q(s.name)}, address = ${q(`127.0.0.1:${ports[s.name]}`)}, http = (), service = ${q(s.name)})`);
    const vars = { ...c.vars, ...s.vars };
    const bindings = [
      ...c.durable_objects.bindings.map((b) => `(name = ${q(b.name)}, durableObjectNamespace = ${q(b.class_name)})`),
      ...Object.entries(vars).map(([k, v]) => `(name = ${q(k)}, text = ${q(v)})`),
    ];
    workers.push(`const w${i} :Workerd.Worker = (
  modules = [ (name = "worker.js", esModule = embed ${q(relative(configDir, s.module))}) ],
  compatibilityDate = ${q(c.compatibility_date)},
  compatibilityFlags = [${(c.compatibility_flags ?? []).map(q).join(", ")}],
  durableObjectNamespaces = [${classes.map((cls) => `(className = ${q(cls)}, uniqueKey = ${q(`${c.name}-${cls}`)}, enableSql = ${sqlite.has(cls)})`).join(", ")}],
  durableObjectStorage = ${s.storage === "memory" ? "(inMemory = void)" : `(localDisk = ${q(`${s.name}-storage`)})`},
  bindings = [${bindings.join(", ")}],
  globalOutbound = "net",
);`);
  });
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [${svc.join(",\n    ")}],
  sockets = [${sockets.join(",\n    ")}],
);
${workers.join("\n")}
`;
}

/** A running workerd process. */
export interface Workerd {
  /** `http://127.0.0.1:<port>` of each service. */
  urls: Record<string, string>;
  ports: Record<string, number>;
  child: Child;
  /** SIGKILL by PID (a crash / eviction of every object), then wait for exit. */
  kill(): Promise<void>;
  /** Start again with the same config, ports and storage. */
  restart(): Promise<void>;
  /** Stop (by PID) and remove the temp dir. */
  cleanup(): Promise<void>;
}

/** Write the config for `services`, start workerd on free ports, resolve once every service answers HTTP. */
export async function startWorkerd(services: ServiceSpec[], dir = mkdtempSync(join(tmpdir(), "edgeplane-workerd-"))): Promise<Workerd> {
  const bin = workerdBinary();
  const ports: Record<string, number> = {};
  for (const s of services) {
    ports[s.name] = await freePort();
    if (s.storage !== "memory") mkdirSync(s.storage.dir, { recursive: true });
  }
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, "config.capnp");
  writeFileSync(conf, capnpConfig(services, ports, dir));
  const urls = Object.fromEntries(services.map((s) => [s.name, `http://127.0.0.1:${ports[s.name]}`]));
  const launch = async (): Promise<Child> => {
    const child = start(bin, ["serve", conf], { cwd: dir });
    let dead = false;
    void child.exited.then(() => (dead = true));
    await waitUntil(async () => {
      if (dead) throw new Error(`workerd exited:\n${child.output()}`);
      const ok = await Promise.all(Object.values(urls).map((u) =>
        fetch(`${u}/__ready`).then(async (r) => {
          await r.body?.cancel();
          return true;
        }, () => false)
      ));
      return ok.every(Boolean);
    }, "workerd answers on every socket", 30_000, 50);
    return child;
  };
  const w: Workerd = {
    urls,
    ports,
    child: await launch(),
    async kill() {
      w.child.kill("SIGKILL");
      await w.child.exited;
    },
    async restart() {
      await w.child.stop();
      w.child = await launch();
    },
    async cleanup() {
      await w.child.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return w;
}

/** The README's wrangler config (section "Cloudflare Workers"). */
export function readmeWranglerConfig(): WranglerConfig {
  return parseJsonc<WranglerConfig>(readmeBlock("Cloudflare Workers", "jsonc"));
}
