// Test-only stand-in for `node:test` inside workerd: the contract helpers (tests/helpers/*-contract.ts) register
// their `describe`/`it`/`before`/`after` here when bundled into the contract Worker, which then runs them on request.
type Fn = () => unknown;

export interface Suite {
  name: string;
  before: Fn[];
  after: Fn[];
  tests: Array<{ name: string; fn: Fn; skip?: string }>;
}

export interface CaseResult {
  name: string;
  ok: boolean;
  ms: number;
  error?: string;
  /** Not run: the reason given by `it(name, { skip }, fn)`. */
  skipped?: string;
}

export const suites: Suite[] = [];
let current: Suite | undefined;

export function describe(name: string, fn: () => void): void {
  const s: Suite = { name, before: [], after: [], tests: [] };
  suites.push(s);
  const outer = current;
  current = s;
  try {
    fn();
  } finally {
    current = outer;
  }
}

function suite(): Suite {
  if (!current) throw new Error("it/before/after outside describe");
  return current;
}

export function it(name: string, optsOrFn: Fn | { skip?: string | boolean }, fn?: Fn): void {
  if (typeof optsOrFn === "function") suite().tests.push({ name, fn: optsOrFn });
  else suite().tests.push({ name, fn: fn!, skip: optsOrFn.skip ? String(optsOrFn.skip) : undefined });
}
export const test = it;
export function before(fn: Fn): void {
  suite().before.push(fn);
}
export function after(fn: Fn): void {
  suite().after.push(fn);
}

const describeError = (err: unknown) => (err instanceof Error ? `${err.message}\n${err.stack ?? ""}` : String(err)).slice(0, 4000);

/** Run one registered suite: its `before` hooks, every case in order, its `after` hooks. */
export async function runSuite(s: Suite): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  try {
    for (const b of s.before) await b();
  } catch (err) {
    return [{ name: `${s.name}: before`, ok: false, ms: 0, error: describeError(err) }];
  }
  for (const t of s.tests) {
    if (t.skip !== undefined) {
      results.push({ name: t.name, ok: true, ms: 0, skipped: t.skip });
      continue;
    }
    const t0 = Date.now();
    try {
      await t.fn();
      results.push({ name: t.name, ok: true, ms: Date.now() - t0 });
    } catch (err) {
      results.push({ name: t.name, ok: false, ms: Date.now() - t0, error: describeError(err) });
    }
  }
  for (const a of s.after) {
    try {
      await a();
    } catch (err) {
      results.push({ name: `${s.name}: after`, ok: false, ms: 0, error: describeError(err) });
    }
  }
  return results;
}
