/** Bridge mode: its ADD and CHECK, made into the command handlers by the factory both modes share. */
import type { Handlers } from "../../cni/dispatch";
import type { NetConf } from "../../config/netconf";
import type { Firewall } from "../../firewall/index";
import { serialisedPerAttachment } from "../attachmentLock";
import { makeHandlers, type Mode } from "../handlers";
import { realKernel, type Kernel } from "../../kernel/port";
import { bridgeAdd } from "./add";
import { bridgeCheck } from "./check";

export const bridgeMode: Mode = { add: bridgeAdd, check: bridgeCheck };

export function makeBridgeHandlers(kernel: () => Kernel, firewall?: () => Firewall): Handlers<NetConf> {
  return makeHandlers(bridgeMode, kernel, firewall);
}

export const bridgeHandlers: Handlers<NetConf> = serialisedPerAttachment(makeBridgeHandlers(realKernel));
