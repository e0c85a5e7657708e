/** tether as an interface plugin: config loading, logging set-up, and the handlers of each mode. */
import type { CniEnv } from "../cni/env";
import type { Handlers, PluginSpec } from "../cni/dispatch";
import { describeCauses } from "../cni/errors";
import type { NetConf } from "../config/netconf";
import { log } from "../util/log";
import { lazy } from "../util/lazy";
import { IPAM_TYPE } from "../util/defaults";

const netconfModule = lazy(() => require("../config/netconf") as typeof import("../config/netconf"));
const builtinIpamModule = lazy(() => require("../ipam/plugin/builtin") as typeof import("../ipam/plugin/builtin"));
const ptpModule = lazy(() => require("./ptp") as typeof import("./ptp"));
const bridgeModule = lazy(() => require("./bridge") as typeof import("./bridge"));
const statusModule = lazy(() => require("./status") as typeof import("./status"));

const LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

export const tetherPlugin: PluginSpec<NetConf> = {
  // zod and the schemas load only once a command needs a config (not for VERSION).
  loadConfig(raw, command) {
    const conf = netconfModule().loadNetConf(raw);
    // The built-in IPAM's section too, before any work: a bad one must not leave a bridge behind.
    if (conf.ipam?.type === IPAM_TYPE) builtinIpamModule().validateBuiltinIpam(raw, command);
    return conf;
  },
  onConfig(conf: NetConf, env: CniEnv): void {
    log.configure(conf.log ?? {}, process.env["TETHER_LOG_LEVEL"]);
    log.bind({ command: env.command, containerId: env.containerId, ifname: env.ifname, network: conf.name });
  },
  handlers(conf: NetConf): Handlers<NetConf> {
    // Each mode is required on demand so an invocation loads only what it runs.
    if (conf.mode === "ptp") {
      return ptpModule().ptpHandlers;
    }
    return bridgeModule().bridgeHandlers;
  },
  status(req) {
    // STATUS skips loadConfig (cost): take the log settings from the raw config when they look right.
    const opts = req.raw["log"];
    const logOptions = typeof opts === "object" && opts !== null ? (opts as { file?: unknown; level?: unknown }) : {};
    const file = typeof logOptions.file === "string" && logOptions.file.startsWith("/") ? logOptions.file : undefined;
    const level = typeof logOptions.level === "string" && (LEVELS as readonly string[]).includes(logOptions.level) ? (logOptions.level as (typeof LEVELS)[number]) : undefined;
    log.configure({ ...(file !== undefined ? { file } : {}), ...(level !== undefined ? { level } : {}) }, process.env["TETHER_LOG_LEVEL"]);
    log.bind({ command: req.env.command, containerId: req.env.containerId, ifname: req.env.ifname, network: String(req.raw["name"]) });
    return statusModule().tetherStatus(req);
  },
  onDone({ command, ok, ms, error }): void {
    if (ok) log.info(`${command} done`, { durationMs: Math.round(ms * 10) / 10 });
    else log.error(`${command} failed`, { durationMs: Math.round(ms * 10) / 10, error: describeCauses(error) });
  },
};
