// Log-bucket latency histogram (1 % bucket width, microsecond floor) and small number helpers.

const GROWTH = Math.log(1.01);

export class Histogram {
  readonly counts = new Map<number, number>();
  count = 0;
  max = 0;
  sum = 0;

  /** Record a latency in milliseconds. */
  record(ms: number): void {
    const us = Math.max(1, ms * 1000);
    const b = Math.floor(Math.log(us) / GROWTH);
    this.counts.set(b, (this.counts.get(b) ?? 0) + 1);
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  merge(o: { counts: Array<[number, number]> | Map<number, number>; count: number; max: number; sum: number }): void {
    for (const [b, c] of o.counts instanceof Map ? o.counts : new Map(o.counts)) this.counts.set(b, (this.counts.get(b) ?? 0) + c);
    this.count += o.count;
    this.sum += o.sum;
    if (o.max > this.max) this.max = o.max;
  }

  /** Percentile in ms (upper edge of the bucket holding it). */
  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const target = Math.ceil((p / 100) * this.count);
    const keys = [...this.counts.keys()].sort((a, b) => a - b);
    let seen = 0;
    for (const k of keys) {
      seen += this.counts.get(k)!;
      if (seen >= target) return Math.min(this.max, Math.exp((k + 1) * GROWTH) / 1000);
    }
    return this.max;
  }

  toJSON(): { counts: Array<[number, number]>; count: number; max: number; sum: number } {
    return { counts: [...this.counts], count: this.count, max: this.max, sum: this.sum };
  }
}

export function summary(h: Histogram): { p50: number; p99: number; p999: number; max: number; count: number } {
  return { p50: h.percentile(50), p99: h.percentile(99), p999: h.percentile(99.9), max: h.max, count: h.count };
}

export function median(xs: number[]): number {
  const s = [...xs].filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Monotonic clock shared by every process on the machine (CLOCK_MONOTONIC), in ms. */
export function monoMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** A payload of exactly `bytes` bytes carrying a send timestamp: `@@<ns>|xxxx…`. */
export function stampedPayload(bytes: number): string {
  const head = `@@${process.hrtime.bigint()}|`;
  return head.length >= bytes ? head : head + "x".repeat(bytes - head.length);
}

/** Parse the timestamp of a stamped payload inside buf[start..end); NaN when absent. Returns ms. */
export function stampOf(buf: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end - 1; i++) {
    if (buf[i] === 0x40 && buf[i + 1] === 0x40) {
      let n = 0;
      for (let j = i + 2; j < end; j++) {
        const c = buf[j];
        if (c < 0x30 || c > 0x39) break;
        n = n * 10 + (c - 0x30);
      }
      return n / 1e6;
    }
  }
  return NaN;
}

export function fmt(n: number, digits = 3): string {
  if (!Number.isFinite(n)) return "n/a";
  const a = Math.abs(n);
  if (a >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  if (a >= 100) return n.toFixed(0);
  return n.toPrecision(digits);
}
