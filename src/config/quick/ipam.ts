/** The quick mirrors of ../schemas/ipam.ts: key for key, in the same order. */
import { isAbsolute } from "node:path";
import { IPAM_TYPE } from "../../util/defaults";
import { isCidr } from "../common";
import { IPAM_EMPTIES, IPAM_KEYS, OPTIONAL_RANGE_KEYS, RANGE_KEYS, canonicalized } from "../keys";
import type { IpamArgs, IpamRuntimeConfig, TetherIpam } from "../schemas/ipam";
import { type Check, NO, array, object, oneOf, optional, pipe, quick, string, stringWhere } from "./check";
import { Cidr, Dns, IpAddress, IpOrCidr, Route } from "./common";

const ci = <T>(names: readonly string[], check: Check<T>, empties: readonly string[] = []): Check<T> =>
  pipe((v) => canonicalized(v, names, empties), check);

const Range = ci(
  RANGE_KEYS,
  object({
    subnet: Cidr,
    rangeStart: optional(IpAddress),
    rangeEnd: optional(IpAddress),
    gateway: optional(IpAddress),
  }),
  OPTIONAL_RANGE_KEYS,
);
const RangeSet = array(Range);

const StaticAddress = ci(
  ["address", "gateway"],
  object({
    address: stringWhere(isCidr),
    gateway: optional(IpAddress),
  }),
  ["gateway"],
);

const TetherIpamCheck = ci(
  IPAM_KEYS,
  object({
    type: oneOf([IPAM_TYPE]),
    ranges: optional(array(RangeSet)),
    subnet: optional(Cidr),
    rangeStart: optional(IpAddress),
    rangeEnd: optional(IpAddress),
    gateway: optional(IpAddress),
    routes: optional(array(Route)),
    dataDir: optional(stringWhere(isAbsolute)),
    resolvConf: optional(string),
    addresses: optional(array(StaticAddress)),
    dns: optional(Dns),
  }),
  IPAM_EMPTIES,
);

const RuntimeConfig = ci(["ipRanges", "ips"], object({ ipRanges: optional(array(RangeSet)), ips: optional(array(IpOrCidr)) }));

const Args = ci(["cni"], object({ cni: optional(ci(["ips"], object({ ips: optional(array(IpOrCidr)) }))) }));

/** What TetherIpamSchema / IpamRuntimeConfigSchema / IpamArgsSchema return for a value they accept, or NO. */
export const quickTetherIpam = (v: unknown): TetherIpam | typeof NO => quick("ipam", TetherIpamCheck as Check<TetherIpam>, v);
export const quickIpamRuntimeConfig = (v: unknown): IpamRuntimeConfig | typeof NO => quick("ipamRuntimeConfig", RuntimeConfig as Check<IpamRuntimeConfig>, v);
export const quickIpamArgs = (v: unknown): IpamArgs | typeof NO => quick("ipamArgs", Args as Check<IpamArgs>, v);
