/** The network configuration tether receives on stdin: common CNI keys plus tether's own options. */
import { z } from "zod";
import { CniError, ErrorCode } from "../cni/errors";
import { ID_PATTERN } from "../cni/env";
import { DnsSchema, IpOrCidr, LooseBool, Mac, configError, parseWith } from "./common";
import { normalizeKeys } from "./runtimeConfig";

export const LogConfigSchema = z.strictObject({
  file: z.string().refine((s) => s.startsWith("/"), { error: "must be an absolute path" }).optional(),
  level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).optional(),
});

const RuntimeConfigSchema = z.looseObject({
  mac: Mac.optional(),
  ips: z.array(IpOrCidr).optional(),
  dns: z
    .looseObject({
      servers: z.array(z.string()).optional(),
      searches: z.array(z.string()).optional(),
      options: z.array(z.string()).optional(),
    })
    .optional(),
});

const ArgsSchema = z.looseObject({
  cni: z
    .looseObject({
      ips: z.array(IpOrCidr).optional(),
      mac: Mac.optional(),
    })
    .optional(),
});

export const IpamRefSchema = z.looseObject({ type: z.string().optional() });

export const NetConfSchema = z.looseObject({
  cniVersion: z.string().optional(),
  name: z.string().regex(ID_PATTERN, { error: (iss) => `${JSON.stringify(iss.input)} is not a valid network name (${ID_PATTERN.source})` }),
  type: z.string().min(1),
  mode: z.enum(["bridge", "ptp"]).default("bridge"),
  capabilities: z.record(z.string(), z.boolean()).optional(),
  runtimeConfig: RuntimeConfigSchema.optional(),
  args: ArgsSchema.optional(),
  prevResult: z.unknown().optional(),
  ipam: IpamRefSchema.optional(),
  dns: DnsSchema.optional(),
  log: LogConfigSchema.optional(),

  bridge: z.string().optional(),
  isGateway: LooseBool.default(false),
  isDefaultGateway: LooseBool.default(false),
  forceAddress: LooseBool.default(false),
  ipMasq: LooseBool.default(false),
  ipMasqBackend: z.enum(["nftables", "iptables"]).optional(),
  mtu: z.number().int().min(68).max(65535).optional(),
  hairpinMode: LooseBool.default(false),
  promiscMode: LooseBool.default(false),
  vlan: z.number().int().min(0).max(4094).default(0),
  enabledad: LooseBool.default(false),
  disableContainerInterface: LooseBool.default(false),
  portIsolation: LooseBool.default(false),
  macspoofchk: LooseBool.default(false),
  ipspoofchk: LooseBool.default(false),

  "cni.dev/valid-attachments": z.array(z.looseObject({ containerID: z.string(), ifname: z.string() })).optional(),
  "cni.dev/attachments": z.array(z.looseObject({ containerID: z.string(), ifname: z.string() })).optional(),
});

export type NetConf = z.output<typeof NetConfSchema>;

export const DEFAULT_BRIDGE = "tether0";

/** Parse and validate a request config (already JSON-decoded). Throws CniError code 7 naming the field. */
export function loadNetConf(raw: unknown): NetConf {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new CniError(ErrorCode.InvalidConfig, "network configuration must be a JSON object");
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
  return conf;
}

/** The attachments GC must keep: cni.dev/valid-attachments, or cni.dev/attachments; undefined = no list. */
export function validAttachments(conf: NetConf): { containerID: string; ifname: string }[] | undefined {
  return conf["cni.dev/valid-attachments"] ?? conf["cni.dev/attachments"];
}
