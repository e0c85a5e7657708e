/** Splits a stream of text chunks into lines as they arrive (a watch is one JSON object per line). */
export class LineSplitter {
  private rest = "";

  /** The complete lines in `chunk` (with what was left of earlier chunks), without their newline; blank lines dropped. */
  push(chunk: string): string[] {
    const text = this.rest + chunk;
    const out: string[] = [];
    let start = 0;
    let nl: number;
    while ((nl = text.indexOf("\n", start)) >= 0) {
      const line = text.slice(start, nl).trim();
      if (line) out.push(line);
      start = nl + 1;
    }
    this.rest = text.slice(start);
    return out;
  }

  /** What is left after the last newline (the stream ended without one). */
  end(): string | undefined {
    const line = this.rest.trim();
    this.rest = "";
    return line || undefined;
  }
}

/**
 * The delay before retry number `failures` (0-based): `initialMs` doubling per failure up to `maxMs`,
 * then jittered to [d/2, d] by `rand` (in [0, 1)), so agents restarted together do not retry together.
 */
export function backoffDelay(failures: number, initialMs: number, maxMs: number, rand: number): number {
  const d = Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(failures, 0), 30));
  return d / 2 + rand * (d / 2);
}
