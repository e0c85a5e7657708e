/** ptp mode: the command handlers, on the real kernel and firewall. */
import type { Handlers } from "../../cni/dispatch";
import type { NetConf } from "../../config/netconf";
import { realFirewall, type Firewall } from "../../firewall/index";
import { gcFirewall } from "../attach";
import { ipamFor } from "../ipam";
import { realKernel, type Kernel } from "../kernel";
import { ptpAdd } from "./add";
import { ptpCheck } from "./check";
import { ptpDel } from "./del";

export function makePtpHandlers(kernel: () => Kernel, firewall: () => Firewall = realFirewall): Handlers<NetConf> {
  return {
    add: (inv) => ptpAdd(kernel(), firewall, inv),
    del: (inv) => ptpDel(kernel(), firewall, inv),
    check: (inv) => ptpCheck(kernel(), firewall, inv),
    async gc(inv) {
      await ipamFor(inv)?.gc();
      await gcFirewall(firewall, inv);
    },
    async status(inv) {
      await ipamFor(inv)?.status();
    },
  };
}

export const ptpHandlers: Handlers<NetConf> = makePtpHandlers(realKernel);
