// Test helpers for child processes and ports, usable from Node, Deno and Bun (node: APIs are allowed in tests).
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";

/** A free TCP port on 127.0.0.1 (asks the OS for port 0, then releases it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A spawned child with its captured output. */
export interface Child {
  proc: ChildProcess;
  pid: number;
  /** Everything written to stdout + stderr so far. */
  output(): string;
  /** Resolves with the first match of `re` in the output (bounded by `timeoutMs`). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves when the process has exited. */
  exited: Promise<number | null>;
  /** Send a signal to this process only (by PID). */
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when gone. */
  stop(graceMs?: number): Promise<void>;
}

/** Spawn a command with captured output (never through a shell). */
export function start(cmd: string, args: string[], opts: { env?: Record<string, string>; cwd?: string; stdin?: "pipe" | "ignore" } = {}): Child {
  const proc = spawn(cmd, args, {
    cwd: opts.cwd,
    env: { ...globalThis.process.env, ...opts.env },
    stdio: [opts.stdin ?? "ignore", "pipe", "pipe"],
  });
  let out = "";
  const waiters = new Set<() => void>();
  const onData = (d: Buffer | string) => {
    out += d.toString();
    if (out.length > 4_000_000) out = out.slice(-2_000_000);
    for (const w of [...waiters]) w();
  };
  proc.stdout?.on("data", onData);
  proc.stderr?.on("data", onData);
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => {
    proc.on("exit", (code) => {
      exitCode = code;
      for (const w of [...waiters]) w();
      resolve(code);
    });
    proc.on("error", (err) => {
      out += `\n[spawn error] ${err.message}\n`;
      exitCode = -1;
      for (const w of [...waiters]) w();
      resolve(-1);
    });
  });
  const child: Child = {
    proc,
    pid: proc.pid ?? -1,
    output: () => out,
    exited,
    waitFor(re, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out.match(re);
          if (m) {
            cleanup();
            resolve(m);
          } else if (exitCode !== undefined) {
            cleanup();
            reject(new Error(`${cmd} exited (${exitCode}) before printing ${re}:\n${out.slice(-3000)}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${re} from ${cmd}:\n${out.slice(-3000)}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    kill(signal = "SIGTERM") {
      if (exitCode === undefined && proc.pid) {
        try {
          globalThis.process.kill(proc.pid, signal);
        } catch { /* already gone */ }
      }
    },
    async stop(graceMs = 3000) {
      if (exitCode !== undefined) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
  return child;
}

/** Poll `cond` every `intervalMs` until true or `timeoutMs` passes (then throws with `what`, or what it returns then). */
export async function waitUntil(cond: () => boolean | Promise<boolean>, what: string | (() => string), timeoutMs = 10_000, intervalMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${typeof what === "string" ? what : what()}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Which runtime runs this test file. */
export function currentRuntime(): "node" | "deno" | "bun" {
  const g = globalThis as Record<string, unknown>;
  if (g.Deno) return "deno";
  if (g.Bun) return "bun";
  return "node";
}
