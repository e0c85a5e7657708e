/**
 * The one handler factory of both modes. A mode brings its ADD and CHECK; DEL, GC and STATUS are the
 * same for every mode (DEL and GC work from the attachment records, not from the mode).
 */
import type { Handlers, Invocation } from "../cni/dispatch";
import { withCniErrors } from "../cni/mapError";
import type { Result } from "../cni/types";
import type { NetConf } from "../config/netconf";
import { realFirewall, type Firewall } from "../firewall/index";
import type { Kernel } from "../kernel/port";
import { lazy } from "../util/lazy";

// Each command's module is loaded by the command that runs it (an ADD never loads DEL's, GC's or STATUS's).
const detachModule = lazy(() => require("./detach") as typeof import("./detach"));
const gcModule = lazy(() => require("./gc") as typeof import("./gc"));
const statusModule = lazy(() => require("./status") as typeof import("./status"));

export interface Mode {
  add(k: Kernel, fw: () => Firewall, inv: Invocation<NetConf>): Promise<Result>;
  check(k: Kernel, fw: () => Firewall, inv: Invocation<NetConf>): Promise<void>;
}

export function makeHandlers(mode: Mode, kernel: () => Kernel, firewall: () => Firewall = realFirewall): Handlers<NetConf> {
  return withCniErrors({
    add: (inv) => mode.add(kernel(), firewall, inv),
    del: (inv) => detachModule().detachAttachment(kernel(), firewall, inv),
    check: (inv) => mode.check(kernel(), firewall, inv),
    gc: (inv) => gcModule().gcNetwork(kernel(), firewall, inv),
    status: (inv) => statusModule().tetherStatus({ raw: inv.raw, env: inv.env, stdin: inv.stdin }),
  });
}
