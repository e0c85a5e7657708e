/**
 * The plugin layer's error (src/attach and the mode handlers in src/plugins): what an ADD, CHECK or
 * STATUS found, as a kind, with a message naming the interface, address or field at fault.
 * src/cni/mapError.ts turns each kind into its CNI code.
 */
import { KindError } from "../util/kindError";

export type PluginErrorKind =
  /** A field of the configuration or of prevResult: code 7. */
  | "config"
  /** A setting tether does not implement yet: code 2. */
  | "unsupported"
  /** The request's cniVersion cannot express the result: code 1. */
  | "version"
  /** CNI_IFNAME already exists in the container: code 100. */
  | "interface-exists"
  /** An address or route someone else holds: code 102. */
  | "address-taken"
  /** The kernel lacks what the config asks for: code 103. */
  | "kernel"
  /** CHECK found the attachment differs from prevResult: code 104. */
  | "check-failed"
  /** STATUS: the plugin cannot serve an ADD now: code 50. */
  | "not-ready"
  /** A file of the attachment could not be written: code 5. */
  | "io"
  /** Out of a resource that comes back (file descriptors): code 11. */
  | "try-again"
  /** A state that should not happen: code 999. */
  | "internal";

export class PluginError extends KindError<PluginErrorKind> {
  override readonly name = "PluginError";
  constructor(
    kind: PluginErrorKind,
    msg: string,
    readonly details?: string,
    options?: { cause?: unknown },
  ) {
    super(kind, msg, options);
  }
}
