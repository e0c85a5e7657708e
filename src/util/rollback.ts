import { faultPoint } from "./faults";

/** A LIFO stack of undo steps: each resource pushes its undo the moment it exists. */
export class Rollback {
  private readonly steps: { what: string; undo: () => unknown }[] = [];
  /** Undo steps that failed in the current run (a later step can keep what an earlier failure needs, such as the record). */
  failedSoFar = 0;

  push(what: string, undo: () => unknown): void {
    this.steps.push({ what, undo });
    faultPoint(`rollback.push: ${what}`); // tests only (src/util/faults.ts)
  }

  /** Forget every step (the operation succeeded). */
  commit(): void {
    this.steps.length = 0;
  }

  get size(): number {
    return this.steps.length;
  }

  /** Run every undo step in reverse; keep going past failures and return them. */
  async run(): Promise<{ what: string; error: unknown }[]> {
    const failures: { what: string; error: unknown }[] = [];
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.undo();
      } catch (error) {
        failures.push({ what: step.what, error });
        this.failedSoFar++;
      }
    }
    return failures;
  }
}
