/**
 * The config layer's error: a field of the network configuration (or of what the runtime passes with
 * it) that tether cannot use. The message names the field first; src/cni/mapError.ts turns it into
 * CNI code 7 (`invalid`) or 2 (`unsupported`).
 */
export type ConfigErrorKind = "invalid" | "unsupported";

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  /** Every problem found when there are several (the message has the first). */
  readonly details: string | undefined;
  readonly kind: ConfigErrorKind;

  constructor(
    /** The field at fault as a path ("ipam.ranges[0][1].subnet"); undefined for the document as a whole. */
    readonly field: string | undefined,
    problem: string,
    opts: { kind?: ConfigErrorKind; details?: string | undefined; cause?: unknown } = {},
  ) {
    super(field === undefined ? problem : `${field}: ${problem}`, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.kind = opts.kind ?? "invalid";
    this.details = opts.details;
  }
}
