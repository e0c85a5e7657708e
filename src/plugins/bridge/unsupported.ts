import { CniError, ErrorCode } from "../../cni/errors";
import type { NetConf } from "../../config/netconf";

/** Options this build accepts in the schema but does not implement yet: refuse, never ignore. */
export function unsupportedYet(conf: NetConf): void {
  for (const key of ["ipMasq", "macspoofchk", "ipspoofchk"] as const) {
    if (conf[key]) {
      throw new CniError(ErrorCode.UnsupportedField, `${key}: true is not supported by this build of tether yet`);
    }
  }
}
