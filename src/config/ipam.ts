/**
 * The `ipam` object of type tether-ipam (host-local compatible), plus the request-level sources of
 * ranges and requested addresses (runtimeConfig.ipRanges / ips, args.cni.ips, CNI_ARGS IP=).
 */
import { normalize } from "node:path";
import type { Route } from "../cni/types";
import type { IpamConfig, StaticIpamConfig } from "../ipam/config";
import { type Ip, readIpMaybeCidr } from "../ip/ip";
import { goCidrTextOf, goIpTextOf } from "../ip/cidr";
import { familyOfValid } from "../ip/text";
import { type RangeInput, type RangeSet, type RangeSetInput, canonicalizeRangeSets } from "../ipam/rangeSet";
import { configError, isCidr, show } from "./common";
import { NO } from "./quick/check";
import { quickIpamArgs, quickIpamRuntimeConfig, quickTetherIpam } from "./quick/ipam";
import type { IpamArgs, IpamRuntimeConfig, ParsedRange, ParsedRoute, TetherIpam } from "./schemas/ipam";
import { DEFAULT_DATA_DIR } from "../util/defaults";
import { isNetworkName, networkNameMessage } from "../util/ids";
import { lazy } from "../util/lazy";

export type { IpamConfig, StaticIpamConfig, TetherIpam };

// zod and the schemas load only when a quick check does not accept a section (then zod's issues
// make the message, as they always did).
const schemas = lazy(() => require("./schemas/ipam") as typeof import("./schemas/ipam"));

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parseIpamSection(value: unknown): TetherIpam {
  const quick = quickTetherIpam(value);
  if (quick !== NO) return quick;
  const { parseWith, TetherIpamSchema } = schemas();
  return parseWith(TetherIpamSchema, value, { prefix: "ipam" });
}

function parseRuntimeConfig(value: unknown): IpamRuntimeConfig {
  const quick = quickIpamRuntimeConfig(value);
  if (quick !== NO) return quick;
  const { parseWith, IpamRuntimeConfigSchema } = schemas();
  return parseWith(IpamRuntimeConfigSchema, value, { prefix: "runtimeConfig" });
}

function parseArgs(value: unknown): IpamArgs {
  const quick = quickIpamArgs(value);
  if (quick !== NO) return quick;
  const { parseWith, IpamArgsSchema } = schemas();
  return parseWith(IpamArgsSchema, value, { prefix: "args" });
}

/** The canonical, validated configuration the allocator and store work from. */

export interface IpamNetConf {
  name: unknown;
  cniVersion?: unknown;
  ipam: unknown;
  runtimeConfig?: unknown;
  args?: unknown;
}

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

/** A configured route, its text as the reference IPAMs print it (types.Route: Go's canonical forms). */
function toRoute(r: ParsedRoute): Route {
  const out: Route = { dst: goCidrTextOf(r.dst) };
  if (r.gw !== undefined) out.gw = goIpTextOf(r.gw);
  for (const k of ["mtu", "advmss", "priority", "table", "scope"] as const) {
    const v = r[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** "10.0.0.5" or "10.0.0.5/24" -> the address (host-local ignores the prefix). */
export function requestedIp(text: string, path: string): Ip {
  const ip = readIpMaybeCidr(text);
  if (ip === undefined) throw configError(path, `${show(text)} is not an IP address`);
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
  if (!isNetworkName(name)) throw configError("name", networkNameMessage(show(name)));
  return name;
}

/** What every use of the store needs: the network name, the ipam section's schema, the data directory. */
function loadIpamSection(netconf: IpamNetConf): { network: string; ipam: TetherIpam; dataDir: string } {
  const network = loadName(netconf.name);
  if (netconf.ipam === undefined) throw configError("ipam", "missing");
  const ipam = parseIpamSection(netconf.ipam);
  return { network, ipam, dataDir: normalize(ipam.dataDir ?? DEFAULT_DATA_DIR) };
}

/** The store of a network: enough for DEL, GC and STATUS's store check, which need no ranges. */
export interface IpamStoreConfig {
  network: string;
  dataDir: string;
}

/**
 * The store part of the config only (name, ipam section, dataDir), validated as loadIpamConfig does.
 * DEL, GC and STATUS use this: the ranges may come from runtimeConfig.ipRanges alone, which GC and
 * STATUS never get and DEL may lack. Throws a ConfigError naming the field path.
 */
export function loadIpamStoreConfig(netconf: IpamNetConf): IpamStoreConfig {
  const { network, dataDir } = loadIpamSection(netconf);
  return { network, dataDir };
}

/**
 * Parse and canonicalise the IPAM part of a request. `cniArgsIps` are the IP= values from CNI_ARGS.
 * Throws a ConfigError naming the field path. With `requireRanges: false` a config without any
 * range is valid and has no range sets (STATUS, which gets no runtimeConfig).
 */
export function loadIpamConfig(netconf: IpamNetConf, cniArgsIps: readonly string[] = [], opts: { requireRanges?: boolean } = {}): IpamConfig {
  const { network, ipam, dataDir } = loadIpamSection(netconf);
  if (ipam.addresses !== undefined) throw configError("ipam.addresses", "static addresses have no pool (use loadStaticIpamConfig)");
  const rc = netconf.runtimeConfig === undefined ? {} : parseRuntimeConfig(netconf.runtimeConfig);
  const args = netconf.args === undefined ? {} : parseArgs(netconf.args);

  const inputs: RangeSetInput[] = [...setInputs(rc.ipRanges ?? [], "runtimeConfig.ipRanges")];
  if (ipam.subnet !== undefined) {
    inputs.push({ path: "ipam", ranges: [rangeInput({ ...ipam, subnet: ipam.subnet }, "ipam")] });
  }
  inputs.push(...setInputs(ipam.ranges ?? [], "ipam.ranges"));
  if (inputs.length === 0 && opts.requireRanges !== false) {
    throw configError("ipam.ranges", "no IP ranges specified (ipam.ranges, ipam.subnet or runtimeConfig.ipRanges)");
  }
  const rangeSets = inputs.length === 0 ? [] : canonicalizeRangeSets(inputs);
  checkPerFamilyLimit(netconf.cniVersion, rangeSets);

  const requestedIps = [
    ...cniArgsIps.map((t) => requestedIp(t, "CNI_ARGS IP")),
    ...(args.cni?.ips ?? []).map((t, i) => requestedIp(t, `args.cni.ips[${i}]`)),
    ...(rc.ips ?? []).map((t, i) => requestedIp(t, `runtimeConfig.ips[${i}]`)),
  ];

  const cfg: IpamConfig = {
    network,
    dataDir,
    rangeSets,
    routes: (ipam.routes ?? []).map(toRoute),
    requestedIps,
  };
  if (ipam.resolvConf !== undefined) cfg.resolvConf = ipam.resolvConf;
  return cfg;
}


/** The static form of tether-ipam: fixed addresses, no store. */

/** True when the ipam object uses the static form (`addresses`, any case). */
export function isStaticIpam(ipam: unknown): boolean {
  return isRecord(ipam) && Object.keys(ipam).some((k) => k.toLowerCase() === "addresses");
}

/** A static address, its text as the reference static plugin prints it (see goCidrText). */
function staticCidr(text: string, path: string): string {
  if (!isCidr(text.trim())) throw configError(path, `${show(text)} is not in CIDR notation (address/prefix)`);
  return goCidrTextOf(text.trim());
}

/**
 * The static form, with the reference `static` plugin's sources and precedence: the config's
 * `addresses`, plus CNI_ARGS `IP=` (appended; CNI_ARGS `GATEWAY=` is the gateway of those of its
 * family); `args.cni.ips` replaces that list, and `runtimeConfig.ips` replaces it again. Every
 * address must be a CIDR.
 */
export function loadStaticIpamConfig(
  netconf: IpamNetConf,
  cniArgs: { ips: readonly string[]; gateways?: readonly string[] } = { ips: [] },
): StaticIpamConfig {
  if (netconf.ipam === undefined) throw configError("ipam", "missing");
  const ipam = parseIpamSection(netconf.ipam);
  if (ipam.ranges !== undefined || ipam.subnet !== undefined) {
    throw configError("ipam.addresses", "cannot be combined with ipam.ranges or ipam.subnet (static addresses or a pool, not both)");
  }
  const rc = netconf.runtimeConfig === undefined ? {} : parseRuntimeConfig(netconf.runtimeConfig);
  const args = netconf.args === undefined ? {} : parseArgs(netconf.args);

  let addresses: StaticIpamConfig["addresses"] = (ipam.addresses ?? []).map((a) => {
    const address = goCidrTextOf(a.address);
    return a.gateway === undefined ? { address } : { address, gateway: goIpTextOf(a.gateway) };
  });
  const fromEnv: { address: string; gateway?: string }[] = cniArgs.ips.map((t) => ({ address: staticCidr(t, "CNI_ARGS IP") }));
  for (const [i, gw] of (cniArgs.gateways ?? []).entries()) {
    const g = goIpTextOf(gw.trim());
    if (!isCidr(`${g}/0`)) throw configError(`CNI_ARGS GATEWAY[${i}]`, `${show(gw)} is not an IP address`);
    for (const a of fromEnv) if (familyOfValid(a.address) === (g.includes(":") ? 6 : 4)) a.gateway = g;
  }
  addresses.push(...fromEnv);
  const argIps = args.cni?.ips;
  if (argIps !== undefined && argIps.length > 0) addresses = argIps.map((t, i) => ({ address: staticCidr(t, `args.cni.ips[${i}]`) }));
  if (rc.ips !== undefined) addresses = rc.ips.map((t, i) => ({ address: staticCidr(t, `runtimeConfig.ips[${i}]`) }));

  const v = typeof netconf.cniVersion === "string" && netconf.cniVersion !== "" ? netconf.cniVersion : "0.1.0";
  if (/^0\.[0-2]\./.test(v)) {
    for (const fam of [4, 6] as const) {
      if (addresses.filter((a) => familyOfValid(a.address) === fam).length > 1) {
        throw configError("ipam.addresses", `cniVersion ${v} does not support more than one IPv${fam} address`);
      }
    }
  }
  const cfg: StaticIpamConfig = { addresses, routes: (ipam.routes ?? []).map(toRoute) };
  if (ipam.dns !== undefined) {
    const d: NonNullable<StaticIpamConfig["dns"]> = {};
    if (ipam.dns.nameservers?.length) d.nameservers = ipam.dns.nameservers;
    if (ipam.dns.domain) d.domain = ipam.dns.domain;
    if (ipam.dns.search?.length) d.search = ipam.dns.search;
    if (ipam.dns.options?.length) d.options = ipam.dns.options;
    if (Object.keys(d).length > 0) cfg.dns = d;
  }
  return cfg;
}
