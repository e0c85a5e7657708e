/** The quick mirror of ../schemas/netconf.ts: key for key, in the same order. */
import { ifnameProblem, isNetworkName } from "../../util/ids";
import { LOG_LEVELS } from "../common";
import type { NetConf } from "../schemas/netconf";
import { type Check, NO, array, boolean, intIn, looseBool, object, oneOf, optional, quick, record, string, stringWhere, unknown, withDefault } from "./check";
import { Dns, IpOrCidr, Mac } from "./common";

const LogConfig = object(
  {
    file: optional(stringWhere((s) => s.startsWith("/"))),
    level: optional(oneOf(LOG_LEVELS)),
  },
  true,
);

const RuntimeConfig = object({
  mac: optional(Mac),
  ips: optional(array(IpOrCidr)),
  dns: optional(
    object({
      servers: optional(array(string)),
      searches: optional(array(string)),
      options: optional(array(string)),
    }),
  ),
});

const Args = object({
  cni: optional(
    object({
      ips: optional(array(IpOrCidr)),
      mac: optional(Mac),
    }),
  ),
});

const IpamRef = object({ type: optional(string) });

const flag = () => withDefault(looseBool, false);
const Attachments = optional(array(object({ containerID: string, ifname: string })));

const NetConfCheck = object({
  cniVersion: optional(string),
  cniVersions: optional(array(string)),
  name: stringWhere(isNetworkName),
  type: stringWhere((s) => s.length >= 1),
  mode: withDefault(oneOf(["bridge", "ptp"]), "bridge"),
  capabilities: optional(record(boolean)),
  runtimeConfig: optional(RuntimeConfig),
  args: optional(Args),
  prevResult: optional(unknown),
  ipam: optional(IpamRef),
  dns: optional(Dns),
  log: optional(LogConfig),

  bridge: optional(stringWhere((s) => ifnameProblem(s) === undefined)),
  isGateway: flag(),
  isDefaultGateway: flag(),
  forceAddress: flag(),
  ipMasq: flag(),
  ipMasqBackend: optional(oneOf(["nftables", "iptables"])),
  mtu: optional(intIn(0, 65535)),
  hairpinMode: flag(),
  promiscMode: flag(),
  vlan: withDefault(intIn(0, 4094), 0),
  enabledad: flag(),
  disableContainerInterface: flag(),
  portIsolation: flag(),
  macspoofchk: flag(),
  ipspoofchk: flag(),

  "cni.dev/valid-attachments": Attachments,
  "cni.dev/attachments": Attachments,
});

/** NetConfSchema's output for a config it accepts, or NO (then zod parses it). */
export const quickNetConf = (input: unknown): NetConf | typeof NO => quick("netconf", NetConfCheck as Check<NetConf>, input);
