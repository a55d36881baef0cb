// Preloaded by `bun test` (bunfig.toml): broker and multi-process tests need more than Bun's 5 s default for
// tests and hooks. Node's and Deno's runners have no such default.
// @ts-ignore: "bun:test" only resolves under Bun
import { setDefaultTimeout } from "bun:test";
setDefaultTimeout(120_000);
