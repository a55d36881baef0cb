/**
 * Local stand-in for `@std/assert`: the same function names as Deno's standard library, built on
 * `node:assert/strict`, so tests read like Deno std tests on Node, Deno and Bun alike.
 *
 * @module
 */
import nodeAssert from "node:assert/strict";

/** Thrown when an assertion fails (alias of Node's AssertionError). */
export const AssertionError: typeof nodeAssert.AssertionError = nodeAssert.AssertionError;

/** Asserts that `expr` is truthy. @example assert(list.length > 0) */
export function assert(expr: unknown, msg?: string): asserts expr {
  nodeAssert.ok(expr, msg);
}

/** Asserts deep equality. @example assertEquals([1, 2], [1, 2]) */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, msg);
}

/** Asserts deep inequality. @example assertNotEquals(1, 2) */
export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.notDeepStrictEqual(actual, expected, msg);
}

/** Asserts `Object.is` equality. @example assertStrictEquals(a, a) */
export function assertStrictEquals<T>(actual: unknown, expected: T, msg?: string): asserts actual is T {
  nodeAssert.strictEqual(actual, expected, msg);
}

/** Asserts that a value is neither null nor undefined. @example assertExists(x) */
export function assertExists<T>(actual: T, msg?: string): asserts actual is NonNullable<T> {
  if (actual === null || actual === undefined) {
    throw new nodeAssert.AssertionError({ message: msg ?? `expected a value, got ${actual}` });
  }
}

/** Asserts `actual > expected`. @example assertGreater(2, 1) */
export function assertGreater<T>(actual: T, expected: T, msg?: string): void {
  if (!(actual > expected)) throw new nodeAssert.AssertionError({ message: msg ?? `expected ${actual} > ${expected}` });
}

/** Asserts `actual >= expected`. @example assertGreaterOrEqual(2, 2) */
export function assertGreaterOrEqual<T>(actual: T, expected: T, msg?: string): void {
  if (!(actual >= expected)) throw new nodeAssert.AssertionError({ message: msg ?? `expected ${actual} >= ${expected}` });
}

/** Asserts `actual < expected`. @example assertLess(1, 2) */
export function assertLess<T>(actual: T, expected: T, msg?: string): void {
  if (!(actual < expected)) throw new nodeAssert.AssertionError({ message: msg ?? `expected ${actual} < ${expected}` });
}

/** Asserts `actual <= expected`. @example assertLessOrEqual(1, 1) */
export function assertLessOrEqual<T>(actual: T, expected: T, msg?: string): void {
  if (!(actual <= expected)) throw new nodeAssert.AssertionError({ message: msg ?? `expected ${actual} <= ${expected}` });
}

/** Asserts that a string contains a substring. @example assertStringIncludes("abc", "b") */
export function assertStringIncludes(actual: string, expected: string, msg?: string): void {
  if (!actual.includes(expected)) {
    throw new nodeAssert.AssertionError({ message: msg ?? `expected ${JSON.stringify(actual)} to include ${JSON.stringify(expected)}` });
  }
}

/** Asserts that a string matches a pattern. @example assertMatch("abc", /b/) */
export function assertMatch(actual: string, expected: RegExp, msg?: string): void {
  nodeAssert.match(actual, expected, msg);
}

/** Asserts that `actual` is an instance of `type`. @example assertInstanceOf(err, Error) */
// deno-lint-ignore no-explicit-any
export function assertInstanceOf<T extends abstract new (...args: any[]) => unknown>(
  actual: unknown,
  type: T,
  msg?: string,
): asserts actual is InstanceType<T> {
  if (!(actual instanceof type)) {
    throw new nodeAssert.AssertionError({ message: msg ?? `expected instance of ${type.name}` });
  }
}

type ErrorClass<E extends Error> = abstract new (...args: any[]) => E;

function checkError(err: unknown, ErrorClass?: ErrorClass<Error>, msgIncludes?: string): void {
  if (ErrorClass && !(err instanceof ErrorClass)) {
    throw new nodeAssert.AssertionError({
      message: `expected error of class ${ErrorClass.name}, got ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`,
    });
  }
  if (msgIncludes !== undefined && !String((err as Error)?.message).includes(msgIncludes)) {
    throw new nodeAssert.AssertionError({
      message: `expected error message to include ${JSON.stringify(msgIncludes)}, got ${JSON.stringify((err as Error)?.message)}`,
    });
  }
}

/** Asserts that `fn` throws; returns the error. @example assertThrows(() => JSON.parse("{"), SyntaxError) */
export function assertThrows<E extends Error = Error>(fn: () => unknown, ErrorClass?: ErrorClass<E>, msgIncludes?: string): E {
  try {
    fn();
  } catch (err) {
    checkError(err, ErrorClass, msgIncludes);
    return err as E;
  }
  throw new nodeAssert.AssertionError({ message: "expected function to throw" });
}

/** Asserts that the promise returned by `fn` rejects; resolves to the error. @example await assertRejects(() => p, Error) */
export async function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  ErrorClass?: ErrorClass<E>,
  msgIncludes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (err) {
    checkError(err, ErrorClass, msgIncludes);
    return err as E;
  }
  throw new nodeAssert.AssertionError({ message: "expected promise to reject" });
}

/** Always fails. @example fail("unreachable") */
export function fail(msg?: string): never {
  throw new nodeAssert.AssertionError({ message: msg ?? "Failed assertion" });
}
