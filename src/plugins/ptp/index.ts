/** ptp mode: its ADD and CHECK, made into the command handlers by the factory both modes share. */
import type { Handlers } from "../../cni/dispatch";
import type { NetConf } from "../../config/netconf";
import type { Firewall } from "../../firewall/index";
import { serialisedPerAttachment } from "../attachmentLock";
import { makeHandlers, type Mode } from "../handlers";
import { realKernel, type Kernel } from "../../kernel/port";
import { ptpAdd } from "./add";
import { ptpCheck } from "./check";

export const ptpMode: Mode = { add: ptpAdd, check: ptpCheck };

export function makePtpHandlers(kernel: () => Kernel, firewall?: () => Firewall): Handlers<NetConf> {
  return makeHandlers(ptpMode, kernel, firewall);
}

export const ptpHandlers: Handlers<NetConf> = serialisedPerAttachment(makePtpHandlers(realKernel));
