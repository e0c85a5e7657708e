/**
 * The error of a file lock (the firewall's, an attachment's): it could not be made or opened (`io`,
 * CNI code 5) or stayed taken (`busy`, code 11: try again later). Codes in src/cni/mapError.ts.
 */
export type LockErrorKind = "io" | "busy";

export class LockError extends Error {
  override readonly name = "LockError";
  constructor(
    readonly kind: LockErrorKind,
    msg: string,
    options?: { cause?: unknown },
  ) {
    super(msg, options);
  }
}
