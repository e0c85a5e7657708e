/** Bridge mode: the command handlers, on the real kernel and firewall. */
import type { Handlers } from "../../cni/dispatch";
import type { NetConf } from "../../config/netconf";
import { realFirewall, type Firewall } from "../../firewall/index";
import { detachAttachment } from "../detach";
import { gcNetwork } from "../gc";
import { asCniError } from "../attach";
import { tetherStatus } from "../status";
import { realKernel, type Kernel } from "../kernel";
import { serialisedPerAttachment } from "../attachmentLock";
import { bridgeAdd } from "./add";
import { bridgeCheck } from "./check";

export function makeBridgeHandlers(kernel: () => Kernel, firewall: () => Firewall = realFirewall): Handlers<NetConf> {
  return {
    add: (inv) => bridgeAdd(kernel(), firewall, inv),
    del: (inv) => detachAttachment(kernel(), firewall, inv),
    check: (inv) => bridgeCheck(kernel(), firewall, inv).catch((e: unknown) => Promise.reject(asCniError(e))),
    gc: (inv) => gcNetwork(kernel(), firewall, inv),
    status: (inv) => tetherStatus({ raw: inv.raw, env: inv.env, stdin: inv.stdin }),
  };
}

export const bridgeHandlers: Handlers<NetConf> = serialisedPerAttachment(makeBridgeHandlers(realKernel));
