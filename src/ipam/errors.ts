/**
 * The IPAM layer's error: what went wrong, as a kind, with a message naming the field, address or
 * file at fault. src/cni/mapError.ts turns each kind into its CNI code (the IPAM never picks one).
 */
import { KindError } from "../util/kindError";

export type IpamErrorKind =
  /** A field of the IPAM's configuration or request (ranges, requested IPs, resolvConf, prevResult): code 7. */
  | "config"
  /** The container id or interface name the runtime gave (CNI_CONTAINERID, CNI_IFNAME): code 4. */
  | "environment"
  /** No free address left in a range set: code 101. */
  | "exhausted"
  /** A requested address that cannot be had (taken, outside every range, a second one): code 102. */
  | "unavailable"
  /** The store could not be read or written: code 5. */
  | "io"
  /** The store's lock stayed taken: code 11 (try again later). */
  | "busy"
  /** CHECK: the attachment does not hold what it should: code 104. */
  | "not-held";

export class IpamError extends KindError<IpamErrorKind> {
  override readonly name = "IpamError";
}
