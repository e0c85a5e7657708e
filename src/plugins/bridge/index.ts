/** Bridge mode: its ADD and CHECK, made into the command handlers by the factory both modes share. */
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

export const bridgeMode: Mode = {
  add: (k, fw, inv) => addModule().bridgeAdd(k, fw, inv),
  check: (k, fw, inv) => checkModule().bridgeCheck(k, fw, inv),
};

export function makeBridgeHandlers(kernel: () => Kernel, firewall?: () => Firewall): Handlers<NetConf> {
  return makeHandlers(bridgeMode, kernel, firewall);
}

export const bridgeHandlers: Handlers<NetConf> = serialisedPerAttachment(makeBridgeHandlers(realKernel));
