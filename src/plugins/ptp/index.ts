/** ptp mode: its ADD and CHECK, made into the command handlers by the factory both modes share. */
import type { Handlers } from "../../cni/dispatch";
import type { NetConf } from "../../config/netconf";
import type { Firewall } from "../../firewall/index";
import { serialisedPerAttachment } from "../attachmentLock";
import { makeHandlers, type Mode } from "../handlers";
import { realKernel, type Kernel } from "../../kernel/port";
import { lazy } from "../../util/lazy";

// ADD's and CHECK's modules load only for the command that runs them (a DEL needs neither).
const addModule = lazy(() => require("./add") as typeof import("./add"));
const checkModule = lazy(() => require("./check") as typeof import("./check"));

export const ptpMode: Mode = {
  add: (k, fw, inv) => addModule().ptpAdd(k, fw, inv),
  check: (k, fw, inv) => checkModule().ptpCheck(k, fw, inv),
};

export function makePtpHandlers(kernel: () => Kernel, firewall?: () => Firewall): Handlers<NetConf> {
  return makeHandlers(ptpMode, kernel, firewall);
}

export const ptpHandlers: Handlers<NetConf> = serialisedPerAttachment(makePtpHandlers(realKernel));
