// The package as users get it. Each runner tests its runtime's way in, sharing one packed tarball per test run
// (tests/helpers/package.ts):
// - Node: `npm pack` (prepack builds dist/), install into a fresh project, plain-Node ESM without a loader, a missing
//   optional peer named, a strict TypeScript consumer with the `tsc --init` defaults (nodenext; node16 and bundler
//   resolution too), every README TypeScript block type-checked against the built package, and the README's first
//   example run as printed.
// - Bun: the installed package run by Bun (Bun adapter + the bundled client over Bun's WebSocket).
// - Deno: the JSR side, `deno publish --dry-run` and `deno doc --lint` of every entry point.
import { describe, it } from "node:test";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { currentRuntime } from "./helpers/process.ts";
import { addPackages, packedProject, ROOT, run } from "./helpers/package.ts";
import { blockModule, type CodeBlock, mapDiagnostics, typeScriptBlocks } from "./helpers/readme-blocks.ts";

const FIXTURES = join(ROOT, "tests", "package-consumer");
const runtime = currentRuntime();
const readJson = (file: string) => JSON.parse(readFileSync(file, "utf8"));
const lastJsonLine = (out: string) => JSON.parse(out.trim().split("\n").filter((l) => l.startsWith("{")).at(-1) ?? "null");
const denoJson = readJson(join(ROOT, "deno.json")) as { exports: Record<string, string>; publish: { include: string[] } };
const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");
/** The optional peers the Node adapter needs. */
const PEERS = ["@hono/node-server", "ws"];

if (runtime === "node") {
  describe("npm package under Node", () => {
    it("npm pack builds dist/ (prepack) and ships dist, README, LICENSE and package.json only", async () => {
      const p = await packedProject();
      const list = (await run("tar", ["-tzf", p.tarball])).trim().split("\n");
      const outside = list.filter((f) => !/^package\/(dist\/.+|README\.md|LICENSE|package\.json)$/.test(f));
      assertEquals(outside, [], "files outside dist/");
      for (const f of ["dist/mod.js", "dist/mod.d.ts", "dist/client.js", "dist/client.js.map", "dist/client.d.ts", "dist/adapters/node.js"]) {
        assert(list.includes(`package/${f}`), `${f} missing from the tarball`);
      }
      assertEquals(list.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts")), [], "no TypeScript sources");
      assert(!list.some((f) => f.includes("/src/client/") && f.endsWith(".js")), "the client ships once, as the bundle");
      const pkg = readJson(join(p.dir, "node_modules", "edgeplane", "package.json"));
      const { npmExports } = await import("../scripts/build.ts");
      assertEquals(pkg.exports, npmExports(denoJson.exports), "package.json exports follow deno.json exports");
      assertEquals(Object.keys(pkg.dependencies).sort(), ["hono", "nats"]);
      assertEquals(Object.keys(pkg.peerDependencies).sort(), ["@hono/node-server", "@nats-io/nats-core", "redis", "ws"]);
      for (const peer of Object.keys(pkg.peerDependencies)) assertEquals(pkg.peerDependenciesMeta[peer], { optional: true });
    });

    it("edgeplane/client is one minified, dependency-free module under 6 KB gzipped, with a source map", async () => {
      const p = await packedProject();
      const dist = join(p.dir, "node_modules", "edgeplane", "dist");
      const code = readFileSync(join(dist, "client.js"), "utf8");
      assert(!/\bimport\s*[\s{*("']/.test(code.replace(/\/\/# sourceMappingURL=.*$/m, "")), "the bundle imports nothing");
      assert(!/^[ \t]+\S/m.test(code) && code.length / code.split("\n").length > 1000, "minified (no indentation, long lines)");
      assertStringIncludes(code, "//# sourceMappingURL=client.js.map");
      const map = readJson(join(dist, "client.js.map"));
      assert(map.sources.some((s: string) => s.endsWith("src/client/client.ts")) && map.sourcesContent.length === map.sources.length);
      const gz = gzipSync(code, { level: 9 }).length;
      assert(gz < 6 * 1024, `client is ${gz} bytes gzipped`);
      assertMatch(p.packLog, /\.\/client → dist\/client\.js .* KB gzipped/, "the build prints the gzipped size");
    });

    it("without the optional peers: the core loads, adapters/node and connectRedis name the missing package", async () => {
      const p = await packedProject();
      const installed = PEERS.filter((peer) => existsSync(join(p.dir, "node_modules", peer)));
      if (installed.length) await run("npm", ["uninstall", ...installed, "--loglevel=error"], { cwd: p.dir }); // a re-run
      copyFileSync(join(FIXTURES, "missing-peer.mjs"), join(p.dir, "missing-peer.mjs"));
      const out = lastJsonLine(await run(process.execPath, ["missing-peer.mjs"], { cwd: p.dir }));
      assertEquals(out.hub, "function");
      assertEquals(out["adapters/node"].code, "MISSING_DEPENDENCY");
      assertEquals(out["adapters/node"].package, "@hono/node-server");
      assertStringIncludes(out["adapters/node"].message, "npm install @hono/node-server");
      assertEquals(out.connectRedis.code, "MISSING_DEPENDENCY");
      assertEquals(out.connectRedis.package, "redis");
    });

    it("plain Node ESM (no loader): memory hub publish → seq 1; node adapter + bundled client over ws", async () => {
      const p = await packedProject();
      const dev = readJson(join(ROOT, "package.json")).devDependencies;
      await addPackages(p, PEERS.map((peer) => `${peer}@${dev[peer]}`));
      copyFileSync(join(FIXTURES, "app.mjs"), join(p.dir, "app.mjs"));
      const out = lastJsonLine(await run(process.execPath, ["app.mjs"], { cwd: p.dir, timeoutMs: 60_000 }));
      assertEquals(out.memory.seq, 1);
      assertEquals([out.memory.frame.t, out.memory.frame.room, out.memory.frame.seq, out.memory.frame.data], ["msg", "lobby", 1, "hello"]);
      assertEquals(out.served, { transport: "ws", received: { seq: 2, data: "from the server" }, ackSeq: 3 });
    });

    it("the README's first example runs as printed in the fresh project", async () => {
      const p = await packedProject();
      const first = typeScriptBlocks(readFileSync(join(ROOT, "README.md"), "utf8"))[0];
      assert(first && !first.context, "the first TypeScript block stands alone");
      writeFileSync(join(p.dir, "first-example.mjs"), first.code + "\n");
      const out = await run(process.execPath, ["first-example.mjs"], { cwd: p.dir });
      assertMatch(out, /\{"t":"msg","room":"lobby","seq":1,[^\n]*"data":"hello"\}/);
    });

    it("a strict TypeScript consumer type-checks with the tsc --init defaults", async () => {
      const p = await packedProject();
      if (!existsSync(join(p.dir, "tsconfig.json"))) await run(process.execPath, [TSC, "--init"], { cwd: p.dir });
      const config = readFileSync(join(p.dir, "tsconfig.json"), "utf8");
      for (const opt of ['"module": "nodenext"', '"strict": true', '"exactOptionalPropertyTypes": true', '"noUncheckedIndexedAccess": true', '"types": []']) {
        assertStringIncludes(config, opt, "tsc --init defaults");
      }
      for (const f of ["consumer.ts", "bun-app.ts"]) copyFileSync(join(FIXTURES, f), join(p.dir, f));
      // One run with skipLibCheck off (tsc --init turns it on): the consumer's diagnostics are the same, and
      // edgeplane's own declarations are checked too instead of skipped. Other packages' may not be clean (nats 2's
      // .d.ts break under exactOptionalPropertyTypes): only errors in their files are allowed.
      const strict = await run(process.execPath, [TSC, "-p", ".", "--noEmit", "--skipLibCheck", "false", "--pretty", "false"], {
        cwd: p.dir,
        timeoutMs: 120_000,
      }).catch((err: Error) => err.message.split("\n").slice(1).join("\n"));
      // A public type naming an optional peer's type needs that peer installed when skipLibCheck is off
      // (connectNatsWebSocket's options are @nats-io/nats-core's): allowed, and printed.
      const peers = Object.keys(readJson(join(p.dir, "node_modules", "edgeplane", "package.json")).peerDependencies);
      const errors = strict.split("\n").filter((l) => /error TS\d+/.test(l));
      const foreign = errors.filter((l) => /^node_modules\/(?!edgeplane\/)[^(]+\(\d+,\d+\): error TS/.test(l));
      const missingPeer = errors.filter((l) => peers.some((peer) => l.includes(`error TS2307: Cannot find module '${peer}'`)));
      if (missingPeer.length) console.log(`skipLibCheck off, optional peers not installed:\n${missingPeer.join("\n")}`);
      assertEquals(errors.filter((l) => !foreign.includes(l) && !missingPeer.includes(l)), [], "errors in edgeplane's .d.ts or the consumer");
    });

    it("the strict consumer also type-checks under node16 and bundler module resolution", async () => {
      const p = await packedProject();
      if (!existsSync(join(p.dir, "tsconfig.json"))) await run(process.execPath, [TSC, "--init"], { cwd: p.dir });
      for (const f of ["consumer.ts", "bun-app.ts"]) copyFileSync(join(FIXTURES, f), join(p.dir, f));
      // The same files and strict flags (the @ts-expect-error lines in consumer.ts fail the run if an error goes
      // missing); only how "edgeplane/…" resolves changes: node16 (package.json "exports", ESM) and bundler
      // (Vite, esbuild, webpack: "exports" with the "types"/"default" conditions, module preserve).
      for (const [module, resolution] of [["node16", "node16"], ["preserve", "bundler"]]) {
        const out = await run(process.execPath, [TSC, "-p", ".", "--noEmit", "--module", module, "--moduleResolution", resolution, "--pretty", "false"], {
          cwd: p.dir,
          timeoutMs: 120_000,
        }).catch((err: Error) => err.message.split("\n").slice(1).join("\n"));
        assertEquals(out.split("\n").filter((l) => /error TS\d+/.test(l)), [], `module ${module}, moduleResolution ${resolution}`);
      }
    });

    it("every TypeScript block of the README type-checks against the built package", async () => {
      await packedProject(); // dist/ of this tree (npm pack's prepack built it)
      const blocks = typeScriptBlocks(readFileSync(join(ROOT, "README.md"), "utf8"));
      assert(blocks.length >= 8, `expected the README's TypeScript blocks, found ${blocks.length}`);
      // Inside the repository, so `import … from "edgeplane"` resolves through package.json "exports" to dist/.
      const dir = join(ROOT, ".tmp", `readme-check-${process.pid}`);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      const files = new Map<string, CodeBlock>();
      for (const b of blocks) {
        const name = `readme-${String(b.line).padStart(4, "0")}.ts`;
        writeFileSync(join(dir, name), blockModule(b).text);
        files.set(name, b);
      }
      // A canary proves the check can fail: exactly its one error must come back.
      writeFileSync(join(dir, "canary.ts"), `import { Hub } from "edgeplane";\nconst seq: string = (await new Hub().publish("r", "x")).seq;\n`);
      writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({
        compilerOptions: {
          module: "nodenext",
          target: "esnext",
          types: ["node"],
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          verbatimModuleSyntax: true,
          isolatedModules: true,
          moduleDetection: "force",
          skipLibCheck: true,
          noEmit: true,
        },
        include: ["*.ts"],
      }));
      let output = "";
      try {
        output = await run(process.execPath, [TSC, "-p", dir, "--pretty", "false"], { cwd: ROOT, timeoutMs: 120_000 });
      } catch (err) {
        output = String((err as Error).message).split("\n").slice(1).join("\n");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      const diagnostics = mapDiagnostics(output, files);
      const canary = diagnostics.filter((l) => l.startsWith("canary.ts") || l.includes("/canary.ts"));
      assertEquals(canary.length, 1, `the canary's error must be reported:\n${output}`);
      assertMatch(canary[0], /TS2322/);
      assertEquals(diagnostics.filter((l) => !canary.includes(l)), [], "README blocks that do not compile");
    });
  });
}

if (runtime === "bun") {
  describe("npm package under Bun", () => {
    it("the installed package runs under Bun: Bun adapter + bundled client over WebSocket", async () => {
      const p = await packedProject();
      copyFileSync(join(FIXTURES, "bun-app.ts"), join(p.dir, "bun-app.ts"));
      const out = lastJsonLine(await run(process.execPath, ["bun-app.ts"], { cwd: p.dir, timeoutMs: 60_000 }));
      assertEquals(out, { transport: "ws", joinedAt: 0, published: 1, received: { seq: 1, data: "from the server" }, ackSeq: 2 });
    });
  });
}

if (runtime === "deno") {
  describe("JSR package under Deno", () => {
    it("deno publish --dry-run passes (no slow types) and publishes sources only", async () => {
      const out = await run(process.execPath, ["publish", "--dry-run", "--allow-dirty"], { cwd: ROOT, env: { NO_COLOR: "1" }, timeoutMs: 180_000 });
      assertStringIncludes(out, "Success Dry run complete");
      assert(!/warning/i.test(out), `warnings:\n${out}`);
      const published = out.split("\n").flatMap((l) => {
        const m = l.trim().match(/^file:\/\/(\S+) \(/);
        return m && m[1].startsWith(`${ROOT}/`) ? [m[1].slice(ROOT.length + 1)] : [];
      });
      assert(published.includes("mod.ts") && published.includes("LICENSE"), `expected mod.ts and LICENSE in:\n${out}`);
      for (const source of Object.values(denoJson.exports)) assert(published.includes(source.slice(2)), `${source} is published`);
      assertEquals(published.filter((f) => /^(tests|bench|examples|scripts|docs|dist)\//.test(f)), [], "only sources are published");
    });

    it("deno doc --lint is clean on every entry point", async () => {
      const entries = Object.values(denoJson.exports);
      const out = await run(process.execPath, ["doc", "--lint", ...entries], { cwd: ROOT, env: { NO_COLOR: "1" }, timeoutMs: 120_000 });
      assertStringIncludes(out, `Checked ${entries.length} files`);
      // Also no warning: deno reads tsconfig.json, and a `"types": ["node"]` there made deno doc load @types/node
      // and print one "Failed resolving types" warning per triple-slash reference in it (deno_graph resolves
      // `/// <reference path="x.d.ts">` as a package name). tsconfig.json leaves `types` out; tsc includes @types/*.
      assert(!/warning/i.test(out), `warnings:\n${out}`);
    });
  });
}
