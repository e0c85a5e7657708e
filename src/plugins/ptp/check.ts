/**
 * ptp mode CHECK against prevResult: IPAM, the container interface with its addresses, its
 * point-to-point routes and the result's routes; on the host, the veth (the container interface's
 * peer) with the gateway address and a route to each container address; the firewall rules.
 */
import type { Invocation } from "../../cni/dispatch";
import type { IpConfig, Result } from "../../cni/types";
import type { NetConf } from "../../config/netconf";
import type { Firewall } from "../../firewall/index";
import { checkContainerSide, checkFailed, containerInterfaceIndex, ipsOf, requirePrevResult } from "../../attach/check";
import { checkFirewall } from "../../attach/firewall";
import { hostPrefix, parseAddress, parseCidr, subnetOf } from "../../ip/cidr";
import { cidrText, formatIp, ipEquals, sameCidr } from "../../ip/ip";
import { ipamFor } from "../../ipam/plugin/choice";
import type { Kernel, Link, Ns } from "../../kernel/port";

export async function ptpCheck(k: Kernel, fw: () => Firewall, inv: Invocation<NetConf>): Promise<void> {
  const prev = requirePrevResult(inv);
  await ipamFor(inv)?.check();
  const ifIndex = containerInterfaceIndex(inv, prev);
  const ips = ipsOf(prev, ifIndex);
  const host = await k.open();
  try {
    const container = await k.open(inv.env.netns, { allowOwn: inv.env.netnsOverride });
    try {
      const link = await checkContainerSide(k, container, inv, prev, ifIndex);
      await checkPointToPointRoutes(k, container, link, ips);
      await checkHostSide(k, host, link, prev, ifIndex, ips);
    } finally {
      k.close(container);
    }
  } finally {
    k.close(host);
  }
  await checkFirewall(fw, inv, ips);
}

async function checkPointToPointRoutes(k: Kernel, container: Ns, link: Link, ips: readonly IpConfig[]): Promise<void> {
  const routes = await k.listRoutes(container);
  for (const ip of ips) {
    if (ip.gateway === undefined) continue;
    const subnet = subnetOf(parseCidr(ip.address));
    const gw = parseAddress(ip.gateway);
    const gwPrefix = hostPrefix(gw);
    if (!routes.some((r) => sameCidr(r.dst, gwPrefix) && r.oif === link.index)) {
      throw checkFailed(`route to the gateway ${ip.gateway} on "${link.name}" not found in the container`);
    }
    if (!routes.some((r) => sameCidr(r.dst, subnet) && r.gw !== undefined && ipEquals(r.gw, gw))) {
      throw checkFailed(`route to ${cidrText(subnet)} via ${ip.gateway} not found in the container`);
    }
  }
}

async function checkHostSide(k: Kernel, host: Ns, containerLink: Link, prev: Result, ifIndex: number, ips: readonly IpConfig[]): Promise<void> {
  // tether's host veth is listed just before the container interface.
  const itf = prev.interfaces?.[ifIndex - 1];
  if (!itf || itf.sandbox) throw checkFailed("prevResult lists no host-side veth before the container interface");
  const veth = await k.getLink(host, itf.name);
  if (!veth) throw checkFailed(`host veth "${itf.name}" not found`);
  if (veth.peerIndex !== undefined && veth.peerIndex !== containerLink.index) {
    throw checkFailed(`host veth "${itf.name}" is not the peer of "${containerLink.name}"`);
  }
  const addrs = await k.listAddresses(host, veth.index);
  const routes = await k.listRoutes(host);
  for (const ip of ips) {
    const gw = ip.gateway === undefined ? undefined : parseAddress(ip.gateway);
    if (gw !== undefined && !addrs.some((a) => ipEquals(a.cidr.ip, gw))) {
      throw checkFailed(`gateway ${ip.gateway} is not on host veth "${itf.name}"`);
    }
    const address = parseCidr(ip.address).ip;
    if (!routes.some((r) => sameCidr(r.dst, hostPrefix(address)) && r.oif === veth.index)) {
      throw checkFailed(`host route to ${formatIp(address)} via "${itf.name}" not found`);
    }
  }
}
