/**
 * tether as an IPAM plugin for other plugins (invoked as `tether-ipam`, e.g. by the reference
 * bridge with "ipam": {"type": "tether-ipam", ...}): ADD prints the IPAM result (addresses, routes,
 * DNS; no interfaces) in the requested version; DEL, CHECK, GC and STATUS work on the same store.
 */
import type { Handlers, Invocation, PluginSpec } from "../../cni/dispatch";
import { withCniErrors } from "../../cni/mapError";
import type { Result } from "../../cni/types";
import { configError } from "../../config/common";
import { IPAM_TYPE } from "../../util/defaults";
import { isNetworkName, networkNameMessage } from "../../util/ids";
import { builtinIpam, validateBuiltinIpam } from "./builtin";
import { lazy } from "../../util/lazy";

const statusModule = lazy(() => require("../../plugins/status") as typeof import("../../plugins/status"));
const ipamStatusModule = lazy(() => require("./status") as typeof import("./status"));

/** What dispatch hands the handlers: the raw request is all the built-in IPAM needs. */
export interface IpamPluginConf {
  name: string;
}

/** `command`: which command the config is for (only ADD and CHECK need ranges); default CNI_COMMAND. */
export function loadIpamPluginConfig(raw: Record<string, unknown>, command: string): IpamPluginConf {
  const name = raw["name"];
  if (name === undefined) throw configError("name", "missing (the network name is required)");
  if (!isNetworkName(name)) throw configError("name", networkNameMessage(JSON.stringify(name)));
  const ipam = raw["ipam"];
  if (typeof ipam !== "object" || ipam === null || Array.isArray(ipam)) throw configError("ipam", "missing: an IPAM plugin needs the ipam section");
  const type = (ipam as Record<string, unknown>)["type"];
  if (type !== IPAM_TYPE) throw configError("ipam.type", `${JSON.stringify(type)} is not "${IPAM_TYPE}" (this is the ${IPAM_TYPE} plugin)`);
  validateBuiltinIpam(raw, command);
  return { name };
}

export const ipamHandlers: Handlers<IpamPluginConf> = withCniErrors({
  async add(inv: Invocation<IpamPluginConf>): Promise<Result> {
    const r = await builtinIpam(inv).add();
    const result: Result = { cniVersion: inv.version, ips: r.ips.map((ip) => ({ ...ip })) };
    if (r.routes.length > 0) result.routes = r.routes;
    if (r.dns !== undefined) result.dns = r.dns;
    return result;
  },
  del: (inv) => builtinIpam(inv).del(),
  check: (inv) => builtinIpam(inv).check(),
  gc: (inv) => builtinIpam(inv).gc(),
  status: (inv) => builtinIpam(inv).status(),
});

export const ipamPlugin: PluginSpec<IpamPluginConf> = {
  loadConfig: (raw, command) => loadIpamPluginConfig(raw, command),
  handlers: () => ipamHandlers,
  async status({ raw }) {
    loadIpamPluginConfig(raw, "STATUS");
    const { assertReady } = statusModule();
    assertReady(ipamStatusModule().builtinIpamProblems(raw));
  },
};
