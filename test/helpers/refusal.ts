import assert from "node:assert/strict";
import { CniError } from "../../src/cni/errors";
import { toCniError } from "../../src/cni/mapError";

/**
 * The CNI error `fn`'s failure reaches the runtime as (a layer's error through src/cni/mapError.ts);
 * fails the test when it throws something no layer owns, or nothing.
 */
export function refusal(fn: () => unknown): CniError {
  try {
    fn();
  } catch (e) {
    const mapped = toCniError(e);
    assert.ok(mapped instanceof CniError, String(e));
    return mapped;
  }
  assert.fail("not refused");
}

/**
 * An assert.throws / assert.rejects predicate: the error reaches the runtime (through
 * src/cni/mapError.ts) with `code` and, when given, that message.
 */
export function refusedWith(code: number, message?: string | RegExp): (err: unknown) => boolean {
  return (err: unknown): boolean => {
    const e = toCniError(err);
    assert.ok(e instanceof CniError, String(err));
    assert.equal(e.code, code, e.message);
    if (typeof message === "string") assert.equal(e.message, message);
    else if (message !== undefined) assert.match(e.message, message);
    return true;
  };
}
