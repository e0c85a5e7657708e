/** Bridge mode: the command handlers, on the real kernel. */
import type { Handlers } from "../../cni/dispatch";
import type { NetConf } from "../../config/netconf";
import { ipamFor } from "../ipam";
import type { Kernel } from "../kernel";
import { bridgeAdd } from "./add";
import { bridgeCheck } from "./check";
import { bridgeDel } from "./del";

export function makeBridgeHandlers(kernel: () => Kernel): Handlers<NetConf> {
  return {
    add: (inv) => bridgeAdd(kernel(), inv),
    del: (inv) => bridgeDel(kernel(), inv),
    check: (inv) => bridgeCheck(kernel(), inv),
    async gc(inv) {
      await ipamFor(inv)?.gc();
    },
    async status(inv) {
      await ipamFor(inv)?.status();
    },
  };
}

export const bridgeHandlers: Handlers<NetConf> = makeBridgeHandlers(() => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require("../netlinkKernel") as typeof import("../netlinkKernel")).netlinkKernel;
});
