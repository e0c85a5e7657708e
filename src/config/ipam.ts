/**
 * The `ipam` object of type tether-ipam (host-local compatible), plus the request-level sources of
 * ranges and requested addresses (runtimeConfig.ipRanges / ips, args.cni.ips, CNI_ARGS IP=).
 */
import { isAbsolute, normalize } from "node:path";
import { z } from "zod";
import type { Route } from "../cni/types";
import { type Ip, parseIp } from "../ipam/ip";
import { type RangeInput, type RangeSet, type RangeSetInput, canonicalizeRangeSets } from "../ipam/rangeSet";
import { Cidr, IpAddress, IpOrCidr, RouteSchema, configError, parseWith } from "./common";

export const IPAM_TYPE = "tether-ipam";
export const DEFAULT_DATA_DIR = "/var/lib/cni/networks";
/** The CNI network name rule; it also keeps `<dataDir>/<name>` inside the data directory. */
export const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Rename keys that match one of `names` case-insensitively (containerd sends `Subnet`, `RangeStart`:
 * Go matches JSON keys that way). An exact key wins over a differently-cased one, as in Go.
 */
export function canonicalKeys(value: unknown, names: readonly string[]): unknown {
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const canon = names.find((n) => n.toLowerCase() === key.toLowerCase());
    if (canon === undefined) out[key] = v;
    else if (key === canon || !(canon in value)) out[canon] = v;
  }
  return out;
}

/** Go decodes an empty string into a nil net.IP; containerd sends "" for unset range fields. */
function dropEmpty(value: unknown, keys: readonly string[]): unknown {
  if (!isRecord(value)) return value;
  const out = { ...value };
  for (const k of keys) if (out[k] === "") delete out[k];
  return out;
}

const RANGE_KEYS = ["subnet", "rangeStart", "rangeEnd", "gateway"] as const;
const OPTIONAL_RANGE_KEYS = ["rangeStart", "rangeEnd", "gateway"] as const;

const ci = <S extends z.ZodType>(names: readonly string[], schema: S, empties: readonly string[] = []) =>
  z.preprocess((v) => dropEmpty(canonicalKeys(v, names), empties), schema);

export const RangeSchema = ci(
  RANGE_KEYS,
  z.looseObject({
    subnet: Cidr,
    rangeStart: IpAddress.optional(),
    rangeEnd: IpAddress.optional(),
    gateway: IpAddress.optional(),
  }),
  OPTIONAL_RANGE_KEYS,
);
export const RangeSetSchema = z.array(RangeSchema);

export const TetherIpamSchema = ci(
  ["type", "ranges", "routes", "dataDir", "resolvConf", ...RANGE_KEYS],
  z.looseObject({
    type: z.literal(IPAM_TYPE, { error: (iss) => `${JSON.stringify(iss.input)} is not "${IPAM_TYPE}"` }),
    ranges: z.array(RangeSetSchema).optional(),
    subnet: Cidr.optional(),
    rangeStart: IpAddress.optional(),
    rangeEnd: IpAddress.optional(),
    gateway: IpAddress.optional(),
    routes: z.array(RouteSchema).optional(),
    dataDir: z
      .string()
      .refine(isAbsolute, { error: (iss) => `${JSON.stringify(iss.input)} is not an absolute path` })
      .optional(),
    resolvConf: z.string().optional(),
  }),
  [...OPTIONAL_RANGE_KEYS, "dataDir", "resolvConf"],
);
export type TetherIpam = z.infer<typeof TetherIpamSchema>;

const RuntimeConfigSchema = ci(
  ["ipRanges", "ips"],
  z.looseObject({ ipRanges: z.array(RangeSetSchema).optional(), ips: z.array(IpOrCidr).optional() }),
);
const ArgsSchema = ci(
  ["cni"],
  z.looseObject({ cni: ci(["ips"], z.looseObject({ ips: z.array(IpOrCidr).optional() })).optional() }),
);

/** The canonical, validated configuration the allocator and store work from. */
export interface IpamConfig {
  network: string;
  dataDir: string;
  /** Final order: runtimeConfig.ipRanges, legacy top-level range, ipam.ranges. Index = last_reserved_ip.<i>. */
  rangeSets: RangeSet[];
  routes: Route[];
  resolvConf?: string;
  /** Merged like host-local: CNI_ARGS IP=, then args.cni.ips, then runtimeConfig.ips. */
  requestedIps: Ip[];
}

export interface IpamNetConf {
  name: unknown;
  cniVersion?: unknown;
  ipam: unknown;
  runtimeConfig?: unknown;
  args?: unknown;
}

type ParsedRange = z.infer<typeof RangeSchema>;

function rangeInput(r: ParsedRange, path: string): RangeInput {
  const out: RangeInput = { subnet: r.subnet, path };
  if (r.rangeStart !== undefined) out.rangeStart = r.rangeStart;
  if (r.rangeEnd !== undefined) out.rangeEnd = r.rangeEnd;
  if (r.gateway !== undefined) out.gateway = r.gateway;
  return out;
}

function setInputs(sets: readonly ParsedRange[][], base: string): RangeSetInput[] {
  return sets.map((set, i) => ({
    path: `${base}[${i}]`,
    ranges: set.map((r, j) => rangeInput(r, `${base}[${i}][${j}]`)),
  }));
}

function toRoute(r: z.infer<typeof RouteSchema>): Route {
  const out: Route = { dst: r.dst };
  if (r.gw !== undefined) out.gw = r.gw;
  for (const k of ["mtu", "advmss", "priority", "table", "scope"] as const) {
    const v = r[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** "10.0.0.5" or "10.0.0.5/24" -> the address (host-local ignores the prefix). */
export function requestedIp(text: string, path: string): Ip {
  const ip = parseIp(text.split("/")[0] ?? "");
  if (ip === undefined) throw configError(path, `${JSON.stringify(text)} is not an IP address`);
  return ip;
}

/** cniVersion below 0.3.0 can carry one address per family only (host-local refuses more). */
function checkPerFamilyLimit(cniVersion: unknown, sets: readonly RangeSet[]): void {
  const v = typeof cniVersion === "string" && cniVersion !== "" ? cniVersion : "0.1.0";
  const m = /^0\.([0-2])\./.exec(v);
  if (m === null) return;
  for (const fam of [4, 6] as const) {
    if (sets.filter((s) => s.family === fam).length > 1) {
      throw configError("ipam.ranges", `cniVersion ${v} does not support more than one IPv${fam} address`);
    }
  }
}

function loadName(name: unknown): string {
  if (typeof name !== "string" || !NETWORK_NAME.test(name)) {
    throw configError("name", `${JSON.stringify(name)} is not a valid network name (${NETWORK_NAME.source})`);
  }
  return name;
}

/**
 * Parse and canonicalise the IPAM part of a request. `cniArgsIps` are the IP= values from CNI_ARGS.
 * Throws CniError code 7 naming the field path.
 */
export function loadIpamConfig(netconf: IpamNetConf, cniArgsIps: readonly string[] = []): IpamConfig {
  const network = loadName(netconf.name);
  if (netconf.ipam === undefined) throw configError("ipam", "missing");
  const ipam = parseWith(TetherIpamSchema, netconf.ipam, { prefix: "ipam" });
  const rc =
    netconf.runtimeConfig === undefined
      ? {}
      : parseWith(RuntimeConfigSchema, netconf.runtimeConfig, { prefix: "runtimeConfig" });
  const args = netconf.args === undefined ? {} : parseWith(ArgsSchema, netconf.args, { prefix: "args" });

  const inputs: RangeSetInput[] = [...setInputs(rc.ipRanges ?? [], "runtimeConfig.ipRanges")];
  if (ipam.subnet !== undefined) {
    inputs.push({ path: "ipam", ranges: [rangeInput({ ...ipam, subnet: ipam.subnet }, "ipam")] });
  }
  inputs.push(...setInputs(ipam.ranges ?? [], "ipam.ranges"));
  if (inputs.length === 0) throw configError("ipam.ranges", "no IP ranges specified (ipam.ranges or ipam.subnet)");
  const rangeSets = canonicalizeRangeSets(inputs);
  checkPerFamilyLimit(netconf.cniVersion, rangeSets);

  const requestedIps = [
    ...cniArgsIps.map((t) => requestedIp(t, "CNI_ARGS IP")),
    ...(args.cni?.ips ?? []).map((t, i) => requestedIp(t, `args.cni.ips[${i}]`)),
    ...(rc.ips ?? []).map((t, i) => requestedIp(t, `runtimeConfig.ips[${i}]`)),
  ];

  const cfg: IpamConfig = {
    network,
    dataDir: normalize(ipam.dataDir ?? DEFAULT_DATA_DIR),
    rangeSets,
    routes: (ipam.routes ?? []).map(toRoute),
    requestedIps,
  };
  if (ipam.resolvConf !== undefined) cfg.resolvConf = ipam.resolvConf;
  return cfg;
}

