/** Result assembly: the result's IPs, default routes and DNS, and the previous plugin's result in front. */
import { compactDns } from "../cni/result";
import type { Dns, Interface, IpamResult, IpConfig, Result, Route } from "../cni/types";
import type { NetConf } from "../config/netconf";
import { familyOf, parseCidr } from "../ip/cidr";

/** The result's `ips`: each IPAM address attributed to the container interface. */
export function resultIps(ipam: IpamResult, containerIndex: number, gatewayFor: (ip: string) => string | undefined): IpConfig[] {
  return ipam.ips.map((ip) => {
    const out: IpConfig = { address: ip.address, interface: containerIndex };
    const gw = ip.gateway ?? gatewayFor(ip.address);
    if (gw !== undefined) out.gateway = gw;
    return out;
  });
}

/** Default routes for isDefaultGateway: one per family with a gateway, unless IPAM routes have one. */
export function defaultRoutes(ips: readonly IpConfig[], ipamRoutes: readonly Route[]): Route[] {
  const out: Route[] = [];
  for (const fam of [4, 6] as const) {
    const dst = fam === 4 ? "0.0.0.0/0" : "::/0";
    // An IPAM default route (with or without its own gateway: it gets the address's) already does it.
    if (ipamRoutes.some((r) => familyOf(r.dst) === fam && parseCidr(r.dst).prefix === 0)) continue;
    const gw = ips.find((ip) => ip.gateway !== undefined && familyOf(ip.address) === fam)?.gateway;
    if (gw !== undefined) out.push({ dst, gw });
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

