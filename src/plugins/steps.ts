/** Commands that must do as much as they can (DEL, GC): run every step, then report all failures at once. */
import { CniError, ErrorCode } from "../cni/errors";
import { toCniError } from "../cni/mapError";

export interface StepFailure {
  what: string;
  error: unknown;
}

/** Run every step; the failures, in order. */
export async function runAllSteps(steps: readonly { what: string; run: () => Promise<void> | void }[]): Promise<StepFailure[]> {
  const failures: StepFailure[] = [];
  for (const step of steps) {
    try {
      await step.run();
    } catch (error) {
      failures.push({ what: step.what, error });
    }
  }
  return failures;
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** One CNI error for all failures: the first one's code and message, every one in the details. */
export function combinedError(command: string, failures: readonly StepFailure[]): CniError {
  const first = failures[0];
  if (first === undefined) throw new Error("combinedError needs at least one failure");
  const mapped = toCniError(first.error);
  const code = mapped instanceof CniError ? mapped.code : ErrorCode.Internal;
  const msg = failures.length === 1 ? `${command}: ${first.what}: ${messageOf(first.error)}` : `${command}: ${failures.length} steps failed, first: ${first.what}: ${messageOf(first.error)}`;
  const details = failures.map((f) => `${f.what}: ${messageOf(f.error)}`).join("; ");
  return new CniError(code, msg, details, { cause: first.error });
}

