/**
 * The one place that turns the errors of the layers below into CNI error codes, by their class:
 * the kernel's (NetlinkError: code 103, naming the operation) and the firewall's (FirewallError: code
 * 106, the tool's stderr in the details). A CniError passes through; anything else is left as it is
 * (toErrorObject makes it 999).
 */
import { FirewallError } from "../firewall/exec";
import { NetlinkError } from "../netlink/errors";
import { CniError, ErrorCode } from "./errors";

export function toCniError(err: unknown): unknown {
  if (err instanceof CniError) return err;
  if (err instanceof FirewallError) return new CniError(ErrorCode.Firewall, err.message, err.stderr || undefined, { cause: err });
  if (err instanceof NetlinkError) return new CniError(ErrorCode.KernelRefused, err.message, undefined, { cause: err });
  return err;
}
