/**
 * The zod schemas of the ipam section of type tether-ipam and of the request-level sources of ranges
 * and addresses (runtimeConfig, args): the quick check in src/config/quick/ipam.ts mirrors them.
 */
import { isAbsolute } from "node:path";
import * as z from "zod/mini";
import { IPAM_TYPE } from "../../util/defaults";
import { isCidr, show } from "../common";
import { IPAM_EMPTIES, IPAM_KEYS, OPTIONAL_RANGE_KEYS, RANGE_KEYS, canonicalized } from "../keys";
import { Cidr, DnsSchema, IpAddress, IpOrCidr, RouteSchema, stringWhere } from "./common";

export { parseWith } from "./common";

/** Keys matched case-insensitively and empty strings dropped (see ../keys.ts), then `schema`. */
const ci = <S extends z.ZodMiniType>(names: readonly string[], schema: S, empties: readonly string[] = []) =>
  z.pipe(
    z.transform((v: unknown) => canonicalized(v, names, empties)),
    schema,
  );

export const RangeSchema = ci(
  RANGE_KEYS,
  z.looseObject({
    subnet: Cidr,
    rangeStart: z.optional(IpAddress),
    rangeEnd: z.optional(IpAddress),
    gateway: z.optional(IpAddress),
  }),
  OPTIONAL_RANGE_KEYS,
);
export const RangeSetSchema = z.array(RangeSchema);

/** A static address: the reference `static` plugin's shape. */
export const StaticAddressSchema = ci(
  ["address", "gateway"],
  z.looseObject({
    address: stringWhere(isCidr, (input) => `${show(input)} is not in CIDR notation (address/prefix)`),
    gateway: z.optional(IpAddress),
  }),
  ["gateway"],
);

export const TetherIpamSchema = ci(
  IPAM_KEYS,
  z.looseObject({
    type: z.literal(IPAM_TYPE, { error: (iss) => `${show(iss.input)} is not "${IPAM_TYPE}"` }),
    ranges: z.optional(z.array(RangeSetSchema)),
    subnet: z.optional(Cidr),
    rangeStart: z.optional(IpAddress),
    rangeEnd: z.optional(IpAddress),
    gateway: z.optional(IpAddress),
    routes: z.optional(z.array(RouteSchema)),
    dataDir: z.optional(stringWhere(isAbsolute, (input) => `${show(input)} is not an absolute path`)),
    resolvConf: z.optional(z.string()),
    addresses: z.optional(z.array(StaticAddressSchema)),
    dns: z.optional(DnsSchema),
  }),
  IPAM_EMPTIES,
);
export type TetherIpam = z.infer<typeof TetherIpamSchema>;
export type ParsedRange = z.infer<typeof RangeSchema>;
export type ParsedRoute = z.infer<typeof RouteSchema>;

export const IpamRuntimeConfigSchema = ci(
  ["ipRanges", "ips"],
  z.looseObject({ ipRanges: z.optional(z.array(RangeSetSchema)), ips: z.optional(z.array(IpOrCidr)) }),
);
export type IpamRuntimeConfig = z.infer<typeof IpamRuntimeConfigSchema>;

export const IpamArgsSchema = ci(
  ["cni"],
  z.looseObject({ cni: z.optional(ci(["ips"], z.looseObject({ ips: z.optional(z.array(IpOrCidr)) }))) }),
);
export type IpamArgs = z.infer<typeof IpamArgsSchema>;
