/** ptp mode: the command handlers, on the real kernel and firewall. */
import type { Handlers } from "../../cni/dispatch";
import type { NetConf } from "../../config/netconf";
import { realFirewall, type Firewall } from "../../firewall/index";
import { detachAttachment } from "../detach";
import { gcNetwork } from "../gc";
import { asCniError } from "../attach";
import { tetherStatus } from "../status";
import { realKernel, type Kernel } from "../kernel";
import { serialisedPerAttachment } from "../attachmentLock";
import { ptpAdd } from "./add";
import { ptpCheck } from "./check";

export function makePtpHandlers(kernel: () => Kernel, firewall: () => Firewall = realFirewall): Handlers<NetConf> {
  return {
    add: (inv) => ptpAdd(kernel(), firewall, inv),
    del: (inv) => detachAttachment(kernel(), firewall, inv),
    check: (inv) => ptpCheck(kernel(), firewall, inv).catch((e: unknown) => Promise.reject(asCniError(e))),
    gc: (inv) => gcNetwork(kernel(), firewall, inv),
    status: (inv) => tetherStatus({ raw: inv.raw, env: inv.env, stdin: inv.stdin }),
  };
}

export const ptpHandlers: Handlers<NetConf> = serialisedPerAttachment(makePtpHandlers(realKernel));
