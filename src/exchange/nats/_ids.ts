// Private: random 128-bit envelope ids, drawn from the CSPRNG in batches (one getRandomValues call per 512 ids
// instead of one per publish).
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const BATCH = 512;
const pool = new Uint8Array(16 * BATCH);
let next = BATCH;

/** A random 128-bit id as 32 lowercase hex characters. */
export function fastRandomId(): string {
  if (next === BATCH) {
    crypto.getRandomValues(pool);
    next = 0;
  }
  const o = 16 * next++;
  let s = "";
  for (let i = 0; i < 16; i++) s += HEX[pool[o + i]];
  return s;
}
