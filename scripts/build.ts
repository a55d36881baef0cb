/**
 * The npm build: `dist/` from the TypeScript sources, for plain Node ≥ 20, Bun, bundlers and strict TypeScript.
 *
 *   npm run build        sync package.json "exports" from deno.json, then build
 *   npm pack / publish   runs this with --frozen (prepack): fails instead of editing package.json
 *
 * One list of entry points: `deno.json` "exports" (JSR reads it as is). package.json "exports" is derived from it:
 * `"./x": "./path/x.ts"` becomes `"./x": { "types": "./dist/path/x.d.ts", "default": "./dist/path/x.js" }`.
 * **Adding an entry point** (say `adapters/cloudflare.ts`) is one line in deno.json,
 * `"./adapters/cloudflare": "./adapters/cloudflare.ts"`, then `npm run build` writes package.json; commit both.
 * Entries listed in BROWSER_BUNDLES are shipped as one minified, dependency-free ES module instead (the client).
 *
 * Steps: tsc (tsconfig.build.json: ESM .js + .d.ts, relative `.ts` imports rewritten to `.js`) → `.ts` specifiers in
 * the emitted .d.ts rewritten too (older TypeScript and other tools read them) → browser bundles with esbuild
 * (minified, source map, `.d.ts` re-exporting the entry's declarations, gzipped size printed and held under its
 * budget) → emitted .js that no shipped entry reaches is removed (the client's modules live only in its bundle) →
 * every relative import in dist/ must resolve and every export target must exist.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build as esbuild } from "esbuild";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DIST = join(ROOT, "dist");

/** Entry points shipped as one minified browser module: export path → output name under dist/, gzip budget. */
const BROWSER_BUNDLES: Record<string, { out: string; maxGzipBytes: number }> = {
  "./client": { out: "client", maxGzipBytes: 6 * 1024 },
};

type Target = { types: string; default: string };
type Exports = Record<string, Target | string>;

/** package.json "exports" for deno.json's entry points (pure: the package test calls it too). */
export function npmExports(denoExports: Record<string, string>): Exports {
  const out: Exports = {};
  for (const [path, source] of Object.entries(denoExports)) {
    if (!/^\.(\/[a-z0-9-]+)*$/.test(path)) throw new Error(`deno.json export ${path}: use "." or "./kebab-case/segments"`);
    if (!/^\.\/(?:[a-z0-9-]+\/)*[a-z0-9-]+\.ts$/.test(source)) {
      throw new Error(`deno.json export ${path} → ${source}: must be a public .ts module (kebab-case, no _private file)`);
    }
    const bundle = BROWSER_BUNDLES[path];
    const base = bundle ? `./dist/${bundle.out}` : `./dist/${source.slice(2, -3)}`;
    out[path] = { types: `${base}.d.ts`, default: `${base}.js` };
  }
  out["./package.json"] = "./package.json";
  return out;
}

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(ROOT, file), "utf8")) as Record<string, unknown>;
}

function syncExports(frozen: boolean): Record<string, string> {
  const deno = readJson("deno.json") as { exports?: Record<string, string>; version?: string };
  const pkg = readJson("package.json");
  if (!deno.exports || typeof deno.exports !== "object") throw new Error("deno.json has no exports map");
  if (deno.version !== pkg.version) throw new Error(`version mismatch: deno.json ${deno.version}, package.json ${String(pkg.version)}`);
  const want = npmExports(deno.exports);
  if (JSON.stringify(pkg.exports) !== JSON.stringify(want)) {
    if (frozen) {
      throw new Error(
        "package.json \"exports\" does not match deno.json \"exports\": run `npm run build` (it rewrites package.json) and commit it.\n" +
          `expected: ${JSON.stringify(want, null, 2)}`,
      );
    }
    pkg.exports = want;
    writeFileSync(join(ROOT, "package.json"), JSON.stringify(pkg, null, 2) + "\n");
    console.log("build: package.json \"exports\" updated from deno.json (commit it)");
  }
  return deno.exports;
}

function files(dir: string, suffix: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p, suffix) : p.endsWith(suffix) ? [p] : [];
  });
}

/** Relative specifiers (`./x.js`, `../y.js`) imported or re-exported by an emitted module, static or dynamic. */
function relativeImports(code: string): string[] {
  const out: string[] = [];
  // Strip comments first: JSDoc examples mention imports that are not code.
  const stripped = code.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  for (const m of stripped.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["'](\.{1,2}\/[^"']+)["']/gm)) out.push(m[1]);
  return out;
}

function runTsc(): void {
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  const r = spawnSync(process.execPath, [tsc, "-p", join(ROOT, "tsconfig.build.json")], { stdio: "inherit" });
  if (r.status !== 0) throw new Error(`tsc failed (exit ${r.status})`);
}

/** tsc keeps `.ts` specifiers in .d.ts files; TypeScript ≥ 5 resolves them, older tools do not. */
function rewriteDeclarationSpecifiers(): void {
  for (const f of files(DIST, ".d.ts")) {
    const text = readFileSync(f, "utf8");
    const next = text.replace(/(\bfrom\s*|\bimport\s*\(\s*)(["'])(\.{1,2}\/[^"']+)\.ts\2/g, "$1$2$3.js$2");
    if (next !== text) writeFileSync(f, next);
  }
}

async function bundle(path: string, source: string, spec: { out: string; maxGzipBytes: number }): Promise<void> {
  const outfile = join(DIST, `${spec.out}.js`);
  const r = await esbuild({
    absWorkingDir: ROOT,
    entryPoints: [join(ROOT, source)],
    outfile,
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    sourcemap: true,
    sourcesContent: true,
    legalComments: "none",
    metafile: true,
    logLevel: "warning",
  });
  const inputs = Object.keys(r.metafile.inputs);
  const foreign = inputs.filter((i) => !i.startsWith("src/") || i.includes("node_modules"));
  if (foreign.length) throw new Error(`${path} must be dependency-free, but the bundle pulls in: ${foreign.join(", ")}`);
  const externals = Object.values(r.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path));
  if (externals.length) throw new Error(`${path} bundle imports ${externals.join(", ")}: it must be self-contained`);
  // Types: the entry's own declarations, emitted by tsc next to the other modules.
  writeFileSync(join(DIST, `${spec.out}.d.ts`), `export * from "./${source.slice(2, -3)}.js";\n`);
  const code = readFileSync(outfile);
  const gz = gzipSync(code, { level: 9 }).length;
  console.log(
    `build: ${path} → dist/${spec.out}.js ${(code.length / 1024).toFixed(1)} KB minified, ${(gz / 1024).toFixed(2)} KB gzipped ` +
      `(budget ${(spec.maxGzipBytes / 1024).toFixed(0)} KB), ${inputs.length} modules, source map dist/${spec.out}.js.map`,
  );
  if (gz > spec.maxGzipBytes) throw new Error(`${path} is ${gz} bytes gzipped, over its ${spec.maxGzipBytes}-byte budget`);
}

/** Remove emitted .js no shipped non-bundle entry reaches (with its .d.ts kept for the types), then check the graph. */
function pruneAndVerify(entries: Record<string, string>): void {
  const roots = Object.entries(entries)
    .filter(([path]) => !BROWSER_BUNDLES[path])
    .map(([, source]) => join(DIST, source.slice(2, -3) + ".js"));
  const reached = new Set<string>();
  const stack = [...roots];
  while (stack.length) {
    const file = stack.pop()!;
    if (reached.has(file)) continue;
    if (!existsSync(file)) throw new Error(`dist/${relative(DIST, file)} is missing (imported or exported by the package)`);
    reached.add(file);
    for (const spec of relativeImports(readFileSync(file, "utf8"))) stack.push(resolve(dirname(file), spec));
  }
  const bundles = new Set(Object.values(BROWSER_BUNDLES).map((b) => join(DIST, `${b.out}.js`)));
  let removed = 0;
  for (const f of files(DIST, ".js")) {
    if (!reached.has(f) && !bundles.has(f)) {
      rmSync(f);
      removed++;
    }
  }
  for (const f of files(DIST, ".d.ts")) {
    for (const spec of relativeImports(readFileSync(f, "utf8"))) {
      const target = resolve(dirname(f), spec).replace(/\.js$/, ".d.ts");
      if (!existsSync(target)) throw new Error(`dist/${relative(DIST, f)} imports ${spec}, which has no declarations`);
    }
  }
  if (removed) console.log(`build: removed ${removed} emitted .js modules only the browser bundles use`);
}

function verifyExportTargets(): void {
  const pkg = readJson("package.json") as { exports: Exports };
  for (const [path, target] of Object.entries(pkg.exports)) {
    for (const file of typeof target === "string" ? [target] : [target.types, target.default]) {
      if (!existsSync(join(ROOT, file))) throw new Error(`export ${path}: ${file} was not built`);
    }
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const frozen = process.argv.includes("--frozen");
  const entries = syncExports(frozen);
  rmSync(DIST, { recursive: true, force: true });
  runTsc();
  rewriteDeclarationSpecifiers();
  for (const [path, spec] of Object.entries(BROWSER_BUNDLES)) {
    const source = entries[path];
    if (!source) throw new Error(`BROWSER_BUNDLES names ${path}, which deno.json does not export`);
    await bundle(path, source, spec);
  }
  pruneAndVerify(entries);
  verifyExportTargets();
  const all = files(DIST, "");
  const bytes = all.reduce((n, f) => n + statSync(f).size, 0);
  console.log(`build: dist/ ${all.length} files, ${(bytes / 1024).toFixed(0)} KB, ${Object.keys(entries).length} entry points, ${Date.now() - started} ms`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(`build failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
