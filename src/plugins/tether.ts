/** tether as an interface plugin: config loading, logging set-up, and the handlers of each mode. */
import type { CniEnv } from "../cni/env";
import type { Handlers, PluginSpec } from "../cni/dispatch";
import { describeCauses } from "../cni/errors";
import type { NetConf } from "../config/netconf";
import { log } from "../util/log";

export const tetherPlugin: PluginSpec<NetConf> = {
  // zod and the schemas load only once a command needs a config (not for VERSION).
  loadConfig: (raw) => (require("../config/netconf") as typeof import("../config/netconf")).loadNetConf(raw),
  onConfig(conf: NetConf, env: CniEnv): void {
    log.configure(conf.log ?? {}, process.env["TETHER_LOG_LEVEL"]);
    log.bind({ command: env.command, containerId: env.containerId, ifname: env.ifname, network: conf.name });
  },
  handlers(conf: NetConf): Handlers<NetConf> {
    // Each mode is required on demand so an invocation loads only what it runs.
    if (conf.mode === "ptp") {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return (require("./ptp") as typeof import("./ptp")).ptpHandlers;
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require("./bridge") as typeof import("./bridge")).bridgeHandlers;
  },
  onDone({ command, ok, ms, error }): void {
    if (ok) log.info(`${command} done`, { durationMs: Math.round(ms * 10) / 10 });
    else log.error(`${command} failed`, { durationMs: Math.round(ms * 10) / 10, error: describeCauses(error) });
  },
};
