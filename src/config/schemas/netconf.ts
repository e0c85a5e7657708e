/** The zod schema of the network configuration (the quick check in src/config/quick/netconf.ts mirrors it). */
import * as z from "zod/mini";
import { ifnameProblem, isNetworkName, networkNameMessage } from "../../util/ids";
import { LOG_LEVELS, show } from "../common";
import { DnsSchema, IpOrCidr, LooseBool, Mac, intIn, stringWhere } from "./common";

export { parseWith } from "./common";

export const LogConfigSchema = z.strictObject({
  file: z.optional(stringWhere((s) => s.startsWith("/"), () => "must be an absolute path")),
  level: z.optional(z.enum(LOG_LEVELS)),
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
