import assert from "node:assert/strict";
import { CniError } from "../../src/cni/errors";

/** The CniError `fn` throws; fails the test when it throws something else or nothing. */
export function refusal(fn: () => unknown): CniError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof CniError, String(e));
    return e;
  }
  assert.fail("not refused");
}
