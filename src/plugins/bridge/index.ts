/** Bridge mode: the command handlers, on the real kernel and firewall. */
import type { Handlers } from "../../cni/dispatch";
import type { NetConf } from "../../config/netconf";
import { realFirewall, type Firewall } from "../../firewall/index";
import { gcFirewall } from "../attach";
import { ipamFor } from "../ipam";
import { realKernel, type Kernel } from "../kernel";
import { bridgeAdd } from "./add";
import { bridgeCheck } from "./check";
import { bridgeDel } from "./del";

export function makeBridgeHandlers(kernel: () => Kernel, firewall: () => Firewall = realFirewall): Handlers<NetConf> {
  return {
    add: (inv) => bridgeAdd(kernel(), firewall, inv),
    del: (inv) => bridgeDel(kernel(), firewall, inv),
    check: (inv) => bridgeCheck(kernel(), firewall, inv),
    async gc(inv) {
      await ipamFor(inv)?.gc();
      await gcFirewall(firewall, inv);
    },
    async status(inv) {
      await ipamFor(inv)?.status();
    },
  };
}

export const bridgeHandlers: Handlers<NetConf> = makeBridgeHandlers(realKernel);
