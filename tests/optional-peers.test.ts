// Optional peer dependencies (src/_peer.ts): a feature whose package is not installed fails with MISSING_DEPENDENCY
// naming it, on each runtime's own "module not found" wording; any other failure passes through unchanged.
import { describe, it } from "node:test";
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { importPeer, isMissingPackage } from "../src/_peer.ts";
import { EdgeplaneError } from "../src/errors.ts";

const MISSING = "edgeplane-test-no-such-package";

describe("optional peer dependencies", () => {
  it("this runtime's error for a missing package is recognised, and only for that package", async () => {
    // A variable specifier, so no bundler or type checker resolves it ahead of time.
    const err = await import(MISSING).then(() => undefined, (e: unknown) => e);
    assert(err !== undefined, "the import must fail");
    assert(isMissingPackage(err, MISSING), `not recognised: ${String((err as Error).message)}`);
    assert(!isMissingPackage(err, "edgeplane-test-no-such"), "a prefix of the name is another package");
    assert(!isMissingPackage(err, "ws"));
  });

  it("a missing package of a dependency is not mistaken for the peer itself", () => {
    const err = Object.assign(new Error("Cannot find package '@redis/client' imported from /app/node_modules/redis/dist/index.js"), {
      code: "ERR_MODULE_NOT_FOUND",
    });
    assert(!isMissingPackage(err, "redis"));
    assert(isMissingPackage(err, "@redis/client"));
  });

  it("importPeer names the package, the feature and the install command", async () => {
    const err = await importPeer(MISSING, "someFeature()", () => import(MISSING), [MISSING, "other-pkg"]).then(() => undefined, (e: unknown) => e);
    assert(err instanceof EdgeplaneError, String(err));
    assertEquals(err.code, "MISSING_DEPENDENCY");
    assertEquals(err.details, { package: MISSING });
    assertStringIncludes(err.message, "someFeature()");
    assertStringIncludes(err.message, `npm install ${MISSING} other-pkg`);
  });

  it("other failures of the load pass through unchanged", async () => {
    const boom = new Error("syntax error inside the package");
    const err = await importPeer("ws", "x", () => Promise.reject(boom)).then(() => undefined, (e: unknown) => e);
    assert(err === boom);
  });

  it("an installed package loads", async () => {
    const mod = await importPeer("hono", "x", () => import("hono"));
    assertEquals(typeof mod.Hono, "function");
  });
});
