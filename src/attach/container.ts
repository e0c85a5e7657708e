/** Inside the container: the interface's addresses, link up, routes. */
import type { IpConfig, Route } from "../cni/types";
import { familyOf } from "../ip/cidr";
import type { Kernel, Link, Ns } from "../kernel/port";

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
  await configureContainerAddresses(k, container, link, ips, { enableDad: opts.enableDad, noPrefixRoute: false });
  await addContainerRoutes(k, container, link, ips, routes);
}

/** DAD settings, the addresses, link up. */
export async function configureContainerAddresses(
  k: Kernel,
  container: Ns,
  link: Link,
  ips: readonly IpConfig[],
  opts: { enableDad: boolean; noPrefixRoute: boolean },
): Promise<void> {
  const hasV6 = ips.some((ip) => familyOf(ip.address) === 6);
  k.writeSysctl(container, `net/ipv4/conf/${link.name}/arp_notify`, "1", true);
  if (hasV6) {
    k.writeSysctl(container, `net/ipv6/conf/${link.name}/accept_dad`, opts.enableDad ? "1" : "0", true);
    if (opts.enableDad) k.writeSysctl(container, `net/ipv6/conf/${link.name}/enhanced_dad`, "1", true);
  }
  for (const ip of ips) {
    await k.addAddress(container, link.index, ip.address, { noDad: !opts.enableDad, noPrefixRoute: opts.noPrefixRoute });
  }
  await k.setLinkUp(container, link.index);
  // With DAD on, IPv6 addresses are tentative for a while: the container must not start with
  // addresses it cannot use yet (as the reference, which settles them before returning).
  if (hasV6 && opts.enableDad) await k.waitForDad(container, link.index);
}

/** The result's routes in the container, each gateway defaulting to that of an address of its family. */
export async function addContainerRoutes(
  k: Kernel,
  container: Ns,
  link: Link,
  ips: readonly IpConfig[],
  routes: readonly Route[],
): Promise<void> {
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

