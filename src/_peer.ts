// Private: load an optional peer dependency (a package a user installs only for the feature that needs it), or fail
// with an error that names the package and the install command instead of a bare "module not found".
import { EdgeplaneError } from "./errors.ts";

/**
 * `load()` (a literal `import("pkg")`, so bundlers still see it); when `pkg` itself is not installed, reject with
 * `MISSING_DEPENDENCY` naming `pkg` and `feature`, and the install command for `install` (default: `pkg` alone;
 * a feature that needs several packages lists them all). Any other failure (a broken install, an error inside the
 * package) is rethrown unchanged.
 */
export async function importPeer<T>(pkg: string, feature: string, load: () => Promise<T>, install: string[] = [pkg]): Promise<T> {
  try {
    return await load();
  } catch (err) {
    if (!isMissingPackage(err, pkg)) throw err;
    const list = install.join(" ");
    throw new EdgeplaneError(
      "MISSING_DEPENDENCY",
      `${feature} needs the package "${pkg}", which is not installed: npm install ${list} (or pnpm add / bun add ${list})`,
      { package: pkg },
    );
  }
}

/** True when `err` says that `pkg` (not something inside it) could not be found. Node, Bun and Deno word it differently. */
export function isMissingPackage(err: unknown, pkg: string): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  const message = typeof e?.message === "string" ? e.message : String(err);
  const code = typeof e?.code === "string" ? e.code : "";
  const notFound = code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND" || /cannot find (package|module)|could not resolve|not found/i.test(message);
  const quoted = new RegExp(`['"\`]${pkg.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}(['"\`]|/)`);
  return notFound && quoted.test(message);
}
