/** Result assembly: the result's IPs, default routes and DNS, and the previous plugin's result in front. */
import { compactDns } from "../cni/result";
import type { Dns, Interface, IpamResult, IpConfig, Result, Route } from "../cni/types";
import type { NetConf } from "../config/netconf";
import { parseAddress, parseCidr } from "../ip/cidr";
import { type CidrValue, type Ip, cidrOf, formatIp, withValue } from "../ip/ip";

/**
 * One address of the attachment: the result's entry (text as the IPAM wrote it) and, parsed once
 * here, the values the kernel gets.
 */
export interface Addressing {
  readonly config: IpConfig;
  readonly cidr: CidrValue;
  readonly gateway: Ip | undefined;
}

/** A route of the result (text) with its values, parsed once. */
export interface RouteValues {
  readonly route: Route;
  readonly dst: CidrValue;
  readonly gw: Ip | undefined;
}

/** The result's `ips`: each IPAM address attributed to the container interface. */
export function resultIps(ipam: IpamResult, containerIndex: number, gatewayFor: (address: CidrValue) => Ip | undefined): Addressing[] {
  return ipam.ips.map((ip) => {
    const config: IpConfig = { address: ip.address, interface: containerIndex };
    const cidr = parseCidr(ip.address);
    const gateway = ip.gateway !== undefined ? parseAddress(ip.gateway) : gatewayFor(cidr);
    if (ip.gateway !== undefined) config.gateway = ip.gateway;
    else if (gateway !== undefined) config.gateway = formatIp(gateway);
    return { config, cidr, gateway };
  });
}

/** The IPAM's routes, parsed once. */
export function routeValues(routes: readonly Route[]): RouteValues[] {
  return routes.map((route) => ({ route, dst: parseCidr(route.dst), gw: route.gw === undefined ? undefined : parseAddress(route.gw) }));
}

/** Default routes for isDefaultGateway: one per family with a gateway, unless IPAM routes have one. */
export function defaultRoutes(ips: readonly Addressing[], ipamRoutes: readonly RouteValues[]): RouteValues[] {
  const out: RouteValues[] = [];
  for (const fam of [4, 6] as const) {
    // An IPAM default route (with or without its own gateway: it gets the address's) already does it.
    if (ipamRoutes.some((r) => r.dst.ip.family === fam && r.dst.prefix === 0)) continue;
    const a = ips.find((ip) => ip.gateway !== undefined && ip.cidr.ip.family === fam);
    if (a?.gateway !== undefined) {
      out.push({ route: { dst: fam === 4 ? "0.0.0.0/0" : "::/0", gw: a.config.gateway! }, dst: cidrOf(withValue(fam, 0n), 0), gw: a.gateway });
    }
  }
  return out;
}

/**
 * The result's dns: the runtime's (capability `dns`: servers/searches/options) over the config's
 * `dns` over the IPAM's.
 */
export function resultDns(ipamDns: Dns | undefined, conf: NetConf): Dns | undefined {
  const rc = conf.runtimeConfig?.dns;
  const runtime = rc && compactDns({ nameservers: rc.servers, search: rc.searches, options: rc.options });
  return runtime ?? compactDns(conf.dns) ?? compactDns(ipamDns);
}

/**
 * tether after another plugin in a chain: the previous result stays in the output (spec), with
 * tether's interfaces appended and its IPs' interface indexes shifted to match.
 */
export function mergePrevResult(prev: Result | undefined, ours: Result): Result {
  if (!prev) return ours;
  const before: Interface[] = prev.interfaces ?? [];
  const shift = before.length;
  const out: Result = { cniVersion: ours.cniVersion };
  const interfaces = [...before, ...(ours.interfaces ?? [])];
  if (interfaces.length > 0) out.interfaces = interfaces;
  const ips = [
    ...(prev.ips ?? []),
    ...(ours.ips ?? []).map((ip) => (ip.interface === undefined ? ip : { ...ip, interface: ip.interface + shift })),
  ];
  if (ips.length > 0) out.ips = ips;
  const routes = [...(prev.routes ?? []), ...(ours.routes ?? [])];
  if (routes.length > 0) out.routes = routes;
  const dns = ours.dns ?? prev.dns;
  if (dns) out.dns = dns;
  return out;
}

