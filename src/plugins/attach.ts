/**
 * What bridge and ptp modes share: the veth into the container, its addresses and routes, the
 * result's IP list, the MAC a runtime asked for.
 */
import type { Invocation } from "../cni/dispatch";
import { CniError, ErrorCode } from "../cni/errors";
import type { IpamResult, IpConfig, Route } from "../cni/types";
import type { NetConf } from "../config/netconf";
import { formatIp, networkOf, parseIp, withValue } from "../ipam/ip";
import type { Rollback } from "../util/rollback";
import type { Kernel, Link, Ns } from "./kernel";

export interface Cidr {
  ip: string;
  prefix: number;
  family: 4 | 6;
}

export function parseCidr(text: string): Cidr {
  const [ip, len] = text.split("/");
  const parsed = parseIp(ip ?? "");
  if (!parsed) throw new CniError(ErrorCode.InvalidConfig, `${JSON.stringify(text)} is not a CIDR`);
  const bits = parsed.family === 4 ? 32 : 128;
  const prefix = len === undefined ? bits : Number(len);
  return { ip: formatIp(parsed), prefix, family: parsed.family };
}

export function familyOf(ipOrCidr: string): 4 | 6 {
  return parseCidr(ipOrCidr).family;
}

/** The subnet of an address ("10.1.2.3/16" -> "10.1.0.0/16"). */
export function subnetOf(cidr: string): string {
  const c = parseCidr(cidr);
  return `${formatIp(networkOf(parseIp(c.ip)!, c.prefix))}/${c.prefix}`;
}

/** network+1, the gateway a subnet gets when IPAM names none (as the reference bridge does). */
export function defaultGateway(cidr: string): string {
  const c = parseCidr(cidr);
  const net = networkOf(parseIp(c.ip)!, c.prefix);
  return formatIp(withValue(net.family, net.value + 1n));
}

/** runtimeConfig.mac > args.cni.mac > CNI_ARGS MAC=. */
export function requestedMac(inv: Invocation<NetConf>): string | undefined {
  return inv.conf.runtimeConfig?.mac ?? inv.conf.args?.cni?.mac ?? inv.args.mac;
}

/** Create CNI_IFNAME in the container with its peer in the host; undo pushed as soon as it exists. */
export async function createContainerVeth(
  k: Kernel,
  host: Ns,
  container: Ns,
  opts: { ifname: string; mtu?: number | undefined; mac?: string | undefined },
  rollback: Rollback,
): Promise<{ host: Link; container: Link }> {
  if (await k.getLink(container, opts.ifname)) {
    throw new CniError(
      ErrorCode.InterfaceExists,
      `CNI_IFNAME: interface "${opts.ifname}" already exists in ${container.path ?? "the container namespace"}`,
    );
  }
  const pair = await k.createVeth(container, host, { name: opts.ifname, mtu: opts.mtu, mac: opts.mac });
  rollback.push(`delete veth ${opts.ifname}`, () => k.deleteLink(container, opts.ifname));
  return pair;
}

/** The result's `ips`: each IPAM address attributed to the container interface. */
export function resultIps(ipam: IpamResult, containerIndex: number, gatewayFor: (ip: string) => string | undefined): IpConfig[] {
  return ipam.ips.map((ip) => {
    const out: IpConfig = { address: ip.address, interface: containerIndex };
    const gw = ip.gateway ?? gatewayFor(ip.address);
    if (gw !== undefined) out.gateway = gw;
    return out;
  });
}

/**
 * Inside the container: DAD settings, addresses, link up, routes (each route's gateway defaults to
 * the gateway of an address of its family). Returns nothing; everything goes with the veth on undo.
 */
export async function configureContainerInterface(
  k: Kernel,
  container: Ns,
  link: Link,
  ips: readonly IpConfig[],
  routes: readonly Route[],
  opts: { enableDad: boolean },
): Promise<void> {
  const hasV6 = ips.some((ip) => familyOf(ip.address) === 6);
  k.writeSysctl(container, `net/ipv4/conf/${link.name}/arp_notify`, "1", true);
  if (hasV6) {
    k.writeSysctl(container, `net/ipv6/conf/${link.name}/accept_dad`, opts.enableDad ? "1" : "0", true);
    if (opts.enableDad) k.writeSysctl(container, `net/ipv6/conf/${link.name}/enhanced_dad`, "1", true);
  }
  for (const ip of ips) await k.addAddress(container, link.index, ip.address, { noDad: !opts.enableDad });
  await k.setLinkUp(container, link.index);
  for (const r of routes) {
    const fam = familyOf(r.dst);
    const gw = r.gw ?? ips.find((ip) => ip.gateway !== undefined && familyOf(ip.address) === fam)?.gateway;
    await k.addRoute(container, {
      dst: r.dst,
      gw,
      oif: link.index,
      priority: r.priority,
      table: r.table,
      scope: r.scope,
      mtu: r.mtu,
      advmss: r.advmss,
    });
  }
}

/** Default routes for isDefaultGateway: one per family with a gateway, unless IPAM routes have one. */
export function defaultRoutes(ips: readonly IpConfig[], ipamRoutes: readonly Route[]): Route[] {
  const out: Route[] = [];
  for (const fam of [4, 6] as const) {
    const dst = fam === 4 ? "0.0.0.0/0" : "::/0";
    if (ipamRoutes.some((r) => familyOf(r.dst) === fam && parseCidr(r.dst).prefix === 0 && r.gw !== undefined)) continue;
    const gw = ips.find((ip) => ip.gateway !== undefined && familyOf(ip.address) === fam)?.gateway;
    if (gw !== undefined) out.push({ dst, gw });
  }
  return out;
}
