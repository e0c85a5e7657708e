/**
 * The error of a file lock (the firewall's, an attachment's): it could not be made or opened (`io`,
 * CNI code 5) or stayed taken (`busy`, code 11: try again later). Codes in src/cni/mapError.ts.
 */
import { KindError } from "./kindError";

export type LockErrorKind = "io" | "busy";

export class LockError extends KindError<LockErrorKind> {
  override readonly name = "LockError";
}
