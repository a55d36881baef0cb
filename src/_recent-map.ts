// Private: a bounded map of recent entries (dedupe windows, idempotency caches) in O(1) per operation.
// Evicting the oldest entry of a JS Map one at a time (`map.delete(map.keys().next().value)`) is not O(1): V8 keeps
// deleted slots until it rehashes, so finding the first live key walks every deleted one, and a 100,000-entry cache
// under steady inserts slowed each insert to tens of microseconds. Two generations instead: inserts go to the
// current map; when it holds `max` entries it becomes the previous one and the oldest generation is dropped whole.
// So the last `max` inserts are always remembered and at most 2 × max entries are held.

/** The last `max` (at least) inserted keys and their values (values are never `undefined`). */
export class RecentMap<K, V extends NonNullable<unknown>> {
  #cur = new Map<K, V>();
  #old = new Map<K, V>();

  /** `onRotate` runs when the current generation becomes the previous one (for state kept per generation). */
  constructor(readonly max: number, readonly onRotate?: () => void) {}

  get(key: K): V | undefined {
    return this.#cur.get(key) ?? this.#old.get(key);
  }

  has(key: K): boolean {
    return this.#cur.has(key) || this.#old.has(key);
  }

  delete(key: K): void {
    this.#cur.delete(key);
    this.#old.delete(key);
  }

  set(key: K, value: V): void {
    if (this.#cur.size >= this.max && !this.#cur.has(key)) {
      this.#old = this.#cur;
      this.#cur = new Map();
      this.onRotate?.();
    }
    this.#cur.set(key, value);
  }
}
