// The package as a user gets it: `npm pack` (its prepack runs the build, so dist/ is fresh), then a new project that
// installs the tarball. One pack and one install per test run, shared by the three runners: `tests/run-all.sh` sets
// EDGEPLANE_TEST_RUN, the first runner that needs the project builds it under the OS temp dir, the next ones reuse it.
// A runner started alone (no EDGEPLANE_TEST_RUN) makes its own.
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { start } from "./process.ts";

/** The repository root. */
export const ROOT: string = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** What the build reads: a change to any of these makes a new tarball. */
const INPUTS = ["mod.ts", "src", "adapters", "scripts", "package.json", "package-lock.json", "deno.json", "tsconfig.json", "tsconfig.build.json", "README.md", "LICENSE"];

function walk(p: string): string[] {
  if (!existsSync(p)) return [];
  if (!statSync(p).isDirectory()) return [p];
  return readdirSync(p).sort().flatMap((n) => walk(join(p, n)));
}

/** Hash of the build inputs. */
export function inputsHash(): string {
  const h = createHash("sha256");
  for (const f of INPUTS.flatMap((i) => walk(join(ROOT, i)))) {
    h.update(relative(ROOT, f)).update("\0").update(readFileSync(f)).update("\0");
  }
  return h.digest("hex").slice(0, 16);
}

/** Run a command to completion; rejects with its output when it exits non-zero or runs past `timeoutMs`. */
export async function run(cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<string> {
  const child = start(cmd, args, { cwd: opts.cwd, env: opts.env });
  const timeoutMs = opts.timeoutMs ?? 120_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
  const code = await Promise.race([child.exited, timedOut]);
  clearTimeout(timer);
  if (code === "timeout") {
    await child.stop();
    throw new Error(`${cmd} ${args.join(" ")} timed out after ${timeoutMs} ms:\n${child.output().slice(-4000)}`);
  }
  if (code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${code}:\n${child.output().slice(-6000)}`);
  return child.output();
}

/** A fresh project with the packed tarball installed (dependencies only: no optional peers). */
export interface PackedProject {
  /** The project directory (package.json with "type": "module", node_modules/edgeplane from the tarball). */
  dir: string;
  /** The tarball. */
  tarball: string;
  /** What `npm pack` printed (the build's lines: client size, file counts). */
  packLog: string;
}

const NPM_FLAGS = ["--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"];

/** Build, pack and install once per test run (see the file comment); later calls return the same project. */
export async function packedProject(): Promise<PackedProject> {
  const runId = globalThis.process.env.EDGEPLANE_TEST_RUN ?? `solo-${randomBytes(4).toString("hex")}`;
  const base = join(tmpdir(), "edgeplane-package-test");
  const dir = join(base, `${inputsHash()}-${runId}`);
  const done = join(dir, "ready.json");
  if (existsSync(done)) return JSON.parse(readFileSync(done, "utf8")) as PackedProject;
  mkdirSync(base, { recursive: true });
  // Projects of earlier runs (older than an hour, so a concurrent run keeps its own).
  for (const old of readdirSync(base)) {
    const p = join(base, old);
    if (Date.now() - statSync(p).mtimeMs > 3_600_000) rmSync(p, { recursive: true, force: true });
  }
  const work = `${dir}.partial-${randomBytes(4).toString("hex")}`;
  mkdirSync(join(work, "app"), { recursive: true });
  const packLog = await run("npm", ["pack", "--pack-destination", work, "--loglevel=error"], { cwd: ROOT, timeoutMs: 240_000 });
  const name = readdirSync(work).find((f) => f.endsWith(".tgz"));
  if (!name) throw new Error(`npm pack wrote no tarball:\n${packLog}`);
  const app = join(work, "app");
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "edgeplane-consumer", private: true, type: "module" }, null, 2));
  await run("npm", ["install", join(work, name), ...NPM_FLAGS], { cwd: app, timeoutMs: 180_000 });
  const project: PackedProject = { dir: join(dir, "app"), tarball: join(dir, name), packLog };
  writeFileSync(join(work, "ready.json"), JSON.stringify(project));
  try {
    renameSync(work, dir); // atomic: a directory at `dir` is always complete
  } catch {
    rmSync(work, { recursive: true, force: true }); // another runner finished first: use its project
    return JSON.parse(readFileSync(done, "utf8")) as PackedProject;
  }
  return project;
}

/** Install more packages into the project (e.g. the optional peers), as a user would. */
export async function addPackages(project: PackedProject, packages: string[]): Promise<void> {
  await run("npm", ["install", ...packages, ...NPM_FLAGS], { cwd: project.dir, timeoutMs: 180_000 });
}
