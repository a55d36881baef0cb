// Private: ask an `authorize` hook. A hook that throws denies (it never allows by accident), and the throw is
// logged: a silent denial would hide a bug in the hook behind "not allowed" answers.
import type { HubAction } from "./hub.ts";

/** `check()`'s verdict; a throw or rejection is logged through `log` and counts as a denial. */
export async function askAuthorize(
  check: () => boolean | Promise<boolean>,
  what: { action: HubAction; room: string },
  log: (line: string) => void = (line) => console.error(line),
): Promise<boolean> {
  try {
    return (await check()) === true;
  } catch (err) {
    const detail = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
    log(`edgeplane: authorize threw on ${what.action} of room ${JSON.stringify(what.room).slice(0, 80)}; denied. ${detail}`);
    return false;
  }
}
