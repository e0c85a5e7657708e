/** The network configuration tether receives on stdin: common CNI keys plus tether's own options. */
import { ConfigError } from "./errors";
import { configError } from "./common";
import { NO } from "./quick/check";
import { quickNetConf } from "./quick/netconf";
import { normalizeKeys } from "./runtimeConfig";
import type { NetConf } from "./schemas/netconf";
import { lazy } from "../util/lazy";

export type { NetConf };

// zod and the schemas load only when the quick check does not accept the config (then zod's issues
// make the message, as they always did).
const schemas = lazy(() => require("./schemas/netconf") as typeof import("./schemas/netconf"));

function parseNetConf(input: Record<string, unknown>): NetConf {
  const quick = quickNetConf(input);
  if (quick !== NO) return quick;
  const { parseWith, NetConfSchema } = schemas();
  return parseWith(NetConfSchema, input);
}

/** Parse and validate a request config (already JSON-decoded). Throws a ConfigError naming the field. */
export function loadNetConf(raw: unknown): NetConf {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ConfigError(undefined, "network configuration must be a JSON object");
  }
  const input = { ...(raw as Record<string, unknown>) };
  if (input["runtimeConfig"] !== undefined) input["runtimeConfig"] = normalizeKeys(input["runtimeConfig"]);
  if (input["name"] === undefined) throw configError("name", "missing (the network name is required)");
  const conf = parseNetConf(input);
  if (conf.hairpinMode && conf.promiscMode) {
    throw configError("hairpinMode", "cannot be combined with promiscMode");
  }
  if (conf.disableContainerInterface && conf.ipam?.type) {
    throw configError("disableContainerInterface", `cannot be used with an IPAM (ipam.type is "${conf.ipam.type}")`);
  }
  if (conf.mode === "ptp" && !conf.ipam?.type) {
    throw configError("ipam.type", "missing: ptp mode needs an IPAM");
  }
  if (conf.isDefaultGateway) conf.isGateway = true;
  // 0 means "the kernel's default", as the reference reads it.
  if (conf.mtu === 0) delete conf.mtu;
  else if (conf.mtu !== undefined && conf.mtu < 68) throw configError("mtu", `${conf.mtu} is below the IPv4 minimum of 68 (0 means the kernel's default)`);
  return conf;
}

/** The attachments GC must keep: cni.dev/valid-attachments, or cni.dev/attachments; undefined = no list. */
export function validAttachments(conf: NetConf): { containerID: string; ifname: string }[] | undefined {
  return conf["cni.dev/valid-attachments"] ?? conf["cni.dev/attachments"];
}
