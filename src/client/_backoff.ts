// Private: exponential backoff with jitter.

/**
 * Backoff settings.
 *
 * @example
 * ```ts
 * const backoff: BackoffOptions = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.5 };
 * const client = new EdgeplaneClient({ url: "https://rt.example.com", backoff });
 * ```
 */
export interface BackoffOptions {
  /** First delay (default 250 ms). */
  initialMs?: number;
  /** Cap (default 10000 ms). */
  maxMs?: number;
  /** Growth per attempt (default 2). */
  factor?: number;
  /** Fraction of the delay that is random (default 0.5: a delay of d waits between d/2 and d). */
  jitter?: number;
}

/** Delay before reconnect attempt `attempt` (0-based). */
export function backoffDelay(attempt: number, o: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = o.initialMs ?? 250, max = o.maxMs ?? 10_000, factor = o.factor ?? 2, jitter = o.jitter ?? 0.5;
  const d = Math.min(max, initial * Math.pow(factor, Math.min(attempt, 30)));
  return Math.round(d * (1 - jitter * random()));
}
