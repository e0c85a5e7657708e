import type { Handlers } from "../../cni/dispatch";
import { CniError, ErrorCode } from "../../cni/errors";
import type { NetConf } from "../../config/netconf";

const notYet = (): Promise<never> =>
  Promise.reject(new CniError(ErrorCode.UnsupportedField, 'mode: "ptp" is not supported by this build of tether yet'));

export const ptpHandlers: Handlers<NetConf> = { add: notYet, del: notYet, check: notYet, gc: notYet, status: notYet };
