/** The network configuration tether receives on stdin: common CNI keys plus tether's own options. */
import * as z from "zod/mini";
import { ConfigError } from "./errors";
import { ifnameProblem, isNetworkName, networkNameMessage } from "../util/ids";
import { DnsSchema, IpOrCidr, LooseBool, Mac, configError, intIn, parseWith, show, stringWhere } from "./common";
import { normalizeKeys } from "./runtimeConfig";

export const LogConfigSchema = z.strictObject({
  file: z.optional(stringWhere((s) => s.startsWith("/"), () => "must be an absolute path")),
  level: z.optional(z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"])),
});

const RuntimeConfigSchema = z.looseObject({
  mac: z.optional(Mac),
  ips: z.optional(z.array(IpOrCidr)),
  dns: z.optional(
    z.looseObject({
      servers: z.optional(z.array(z.string())),
      searches: z.optional(z.array(z.string())),
      options: z.optional(z.array(z.string())),
    }),
  ),
});

const ArgsSchema = z.looseObject({
  cni: z.optional(
    z.looseObject({
      ips: z.optional(z.array(IpOrCidr)),
      mac: z.optional(Mac),
    }),
  ),
});

export const IpamRefSchema = z.looseObject({ type: z.optional(z.string()) });

const flag = () => z._default(LooseBool, false);
const Attachments = z.optional(z.array(z.looseObject({ containerID: z.string(), ifname: z.string() })));

export const NetConfSchema = z.looseObject({
  cniVersion: z.optional(z.string()),
  // Spec 1.1: the versions a conflist offers; the runtime picks one and sends it as cniVersion.
  cniVersions: z.optional(z.array(z.string())),
  name: stringWhere(isNetworkName, (input) => networkNameMessage(show(input))),
  type: z.string().check(z.minLength(1)),
  mode: z._default(z.enum(["bridge", "ptp"]), "bridge"),
  capabilities: z.optional(z.record(z.string(), z.boolean())),
  runtimeConfig: z.optional(RuntimeConfigSchema),
  args: z.optional(ArgsSchema),
  prevResult: z.optional(z.unknown()),
  ipam: z.optional(IpamRefSchema),
  dns: z.optional(DnsSchema),
  log: z.optional(LogConfigSchema),

  // A name the kernel would refuse is a configuration error here, not a netlink error later.
  bridge: z.optional(stringWhere((s) => ifnameProblem(s) === undefined, (input) => `${show(input)} ${ifnameProblem(String(input)) ?? ""}`)),
  isGateway: flag(),
  isDefaultGateway: flag(),
  forceAddress: flag(),
  ipMasq: flag(),
  ipMasqBackend: z.optional(z.enum(["nftables", "iptables"])),
  mtu: z.optional(intIn(0, 65535)),
  hairpinMode: flag(),
  promiscMode: flag(),
  vlan: z._default(intIn(0, 4094), 0),
  enabledad: flag(),
  disableContainerInterface: flag(),
  portIsolation: flag(),
  macspoofchk: flag(),
  ipspoofchk: flag(),

  "cni.dev/valid-attachments": Attachments,
  "cni.dev/attachments": Attachments,
});

export type NetConf = z.output<typeof NetConfSchema>;


/** Parse and validate a request config (already JSON-decoded). Throws a ConfigError naming the field. */
export function loadNetConf(raw: unknown): NetConf {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ConfigError(undefined, "network configuration must be a JSON object");
  }
  const input = { ...(raw as Record<string, unknown>) };
  if (input["runtimeConfig"] !== undefined) input["runtimeConfig"] = normalizeKeys(input["runtimeConfig"]);
  if (input["name"] === undefined) throw configError("name", "missing (the network name is required)");
  const conf = parseWith(NetConfSchema, input);
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
