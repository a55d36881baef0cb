// Private: validation of the authority name a chain hands to `seal(authority)` (memory, Redis, NATS alike).
import { EdgeplaneError } from "../errors.ts";

/** Longest authority name accepted by `seal`. */
export const MAX_AUTHORITY_LENGTH = 128;

// deno-lint-ignore no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

/**
 * The authority of a `seal(authority)` call: a chain member name, 1–128 characters without control characters.
 * Throws `BAD_OPTION` otherwise.
 */
export function validateAuthority(authority: unknown): string {
  if (typeof authority !== "string" || authority.length === 0 || authority.length > MAX_AUTHORITY_LENGTH || CONTROL_RE.test(authority)) {
    throw new EdgeplaneError("BAD_OPTION", `seal authority must be a chain member name: 1-${MAX_AUTHORITY_LENGTH} characters, no control characters`);
  }
  return authority;
}
