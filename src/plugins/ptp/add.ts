/**
 * ptp mode ADD, with the reference ptp plugin's layout: no bridge; the container reaches everything
 * through its host veth, which answers for the gateway.
 *
 *   container: address ip/prefix (no subnet route), gw/32 (/128) scope link src ip,
 *              subnet via gw src ip, then the IPAM's routes
 *   host:      gw/32 (/128) on the host veth (the same gateway on every host veth of the network),
 *              ip/32 (/128) dev hostVeth, forwarding on for the families in use
 *
 * Every step is undone in reverse on failure; host-side addresses and routes go with the veth.
 */
import type { Invocation } from "../../cni/dispatch";
import { CniError, ErrorCode } from "../../cni/errors";
import type { Interface, IpConfig, Result } from "../../cni/types";
import type { NetConf } from "../../config/netconf";
import type { Firewall } from "../../firewall/index";
import {
  addContainerRoutes,
  configureContainerAddresses,
  createContainerVeth,
  defaultGateway,
  installFirewall,
  parseCidr,
  labelHostVeth,
  runAdd,
  requestedMac,
  resultDns,
  resultIps,
  subnetOf,
} from "../attach";
import { ipamFor } from "../ipam";
import { ROUTE_SCOPE, type Kernel, type Link, type Ns } from "../kernel";

/** The host-length prefix of an address: "10.1.2.3" -> "10.1.2.3/32". */
export function hostPrefix(ip: string): string {
  const c = parseCidr(ip);
  return `${c.ip}/${c.family === 4 ? 32 : 128}`;
}

export async function ptpAdd(k: Kernel, fw: () => Firewall, inv: Invocation<NetConf>): Promise<Result> {
  const conf = inv.conf;
  const ipam = ipamFor(inv);
  if (!ipam) throw new CniError(ErrorCode.InvalidConfig, "ipam.type: missing: ptp mode needs an IPAM");
  return runAdd(k, inv, async ({ host, container, rollback, hostIfname }) => {
    const ipamResult = await ipam.add();
    rollback.push(`release ${ipam.type} reservation`, () => ipam.del());
    // ptp routes everything through a gateway: IPAM gives one, or the subnet's first address is it.
    const ips = resultIps(ipamResult, 1, defaultGateway);
    enableForwarding(k, host, ips);

    const pair = await createContainerVeth(k, host, container, { ifname: inv.env.ifname, hostIfname, mtu: conf.mtu, mac: requestedMac(inv) }, rollback);
    await labelHostVeth(k, host, pair.host, inv);
    await configureContainerAddresses(k, container, pair.container, ips, { enableDad: conf.enabledad, noPrefixRoute: true });
    await addPointToPointRoutes(k, container, pair.container, ips);
    await addContainerRoutes(k, container, pair.container, ips, ipamResult.routes);
    await configureHostVeth(k, host, pair.host, ips);

    const containerNow = await k.getLinkByIndex(container, pair.container.index);
    const containerMac = containerNow?.mac ?? pair.container.mac;
    const hostNow = await k.getLinkByIndex(host, pair.host.index);
    const hostMac = hostNow?.mac ?? pair.host.mac;
    const interfaces: Interface[] = [
      { name: pair.host.name, ...(hostMac ? { mac: hostMac } : {}) },
      { name: pair.container.name, ...(containerMac ? { mac: containerMac } : {}), sandbox: inv.env.netns },
    ];
    const result: Result = { cniVersion: inv.version, interfaces, ips };
    if (ipamResult.routes.length > 0) result.routes = [...ipamResult.routes];
    const dns = resultDns(ipamResult.dns, conf);
    if (dns) result.dns = dns;

    await installFirewall(fw, inv, { layer: "inet", hostIfname: pair.host.name, containerMac, ips }, rollback);
    return result;
  });
}

/** Forwarding for the families in use. Shared state: never undone. */
function enableForwarding(k: Kernel, host: Ns, ips: readonly IpConfig[]): void {
  const families = new Set(ips.map((ip) => parseCidr(ip.address).family));
  if (families.has(4)) k.writeSysctl(host, "net/ipv4/ip_forward", "1");
  if (families.has(6)) k.writeSysctl(host, "net/ipv6/conf/all/forwarding", "1", true);
}

/** In the container: the gateway on the link, and the subnet through the gateway, both from the address. */
async function addPointToPointRoutes(k: Kernel, container: Ns, link: Link, ips: readonly IpConfig[]): Promise<void> {
  for (const ip of ips) {
    const src = parseCidr(ip.address).ip;
    const gw = ip.gateway!;
    await k.addRoute(container, { dst: hostPrefix(gw), oif: link.index, scope: ROUTE_SCOPE.link, src });
    await k.addRoute(container, { dst: subnetOf(ip.address), gw, oif: link.index, scope: ROUTE_SCOPE.universe, src });
  }
}

/**
 * On the host: accept_ra off, link up, the gateway as a host-length address (so the host veth
 * answers ARP / neighbour solicitations for it), and a route to each container address.
 */
async function configureHostVeth(k: Kernel, host: Ns, veth: Link, ips: readonly IpConfig[]): Promise<void> {
  k.writeSysctl(host, `net/ipv6/conf/${veth.name}/accept_ra`, "0", true);
  await k.setLinkUp(host, veth.index);
  const gateways = new Set<string>();
  for (const ip of ips) {
    const gw = hostPrefix(ip.gateway!);
    if (!gateways.has(gw)) {
      gateways.add(gw);
      await k.addAddress(host, veth.index, gw, { noDad: true, noPrefixRoute: true });
    }
    // Replace, not add: the route of a container that had this address and is being deleted at
    // the same moment would otherwise stay, and go away with its veth, taking this one's with it.
    await k.addRoute(host, { dst: hostPrefix(ip.address), oif: veth.index, scope: ROUTE_SCOPE.link }, { replace: true });
  }
}
