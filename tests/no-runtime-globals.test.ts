// The core must stay web-standard: no runtime-specific imports or globals anywhere under src/.
import { describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

const ROOT = new URL("../src/", import.meta.url).pathname;
// `"node:x"` specifiers (static or dynamic import), runtime namespaces and Node's process/require globals.
const FORBIDDEN = [/["'`]node:/, /\bDeno\.\w/, /\bBun\.\w/, /\bprocess\.\w/, /\brequire\(/];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

describe("core is runtime-neutral", () => {
  it("no file under src/ references node:, Deno., Bun., process. or require(", () => {
    const all = files(ROOT);
    assert(all.length >= 8, `expected the core files under ${ROOT}, found ${all.length}`);
    const hits: string[] = [];
    for (const f of all) {
      readFileSync(f, "utf8").split("\n").forEach((line, i) => {
        if (FORBIDDEN.some((re) => re.test(line))) hits.push(`${f.slice(ROOT.length)}:${i + 1}: ${line.trim()}`);
      });
    }
    assertEquals(hits, []);
  });

  it("the check itself catches a runtime reference", () => {
    assert(FORBIDDEN.some((re) => re.test(`import x from "node:fs";`)));
    assert(FORBIDDEN.some((re) => re.test(`Deno.env.get("X")`)));
    assert(FORBIDDEN.some((re) => re.test(`Bun.serve({})`)));
    assert(FORBIDDEN.some((re) => re.test(`process.env.PORT`)));
    assert(FORBIDDEN.some((re) => re.test(`await import('node:net')`)));
    assert(!FORBIDDEN.some((re) => re.test(`// one node: the process. Done`)), "prose is not a hit");
  });
});
