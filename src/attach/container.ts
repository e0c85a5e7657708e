/** Inside the container: the interface's addresses, link up, routes. */
import type { Kernel, Link, Ns } from "../kernel/port";
import type { Addressing, RouteValues } from "./result";

/**
 * Inside the container: DAD settings, addresses, link up, routes (each route's gateway defaults to
 * the gateway of an address of its family). Returns nothing; everything goes with the veth on undo.
 */
export async function configureContainerInterface(
  k: Kernel,
  container: Ns,
  link: Link,
  ips: readonly Addressing[],
  routes: readonly RouteValues[],
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
  ips: readonly Addressing[],
  opts: { enableDad: boolean; noPrefixRoute: boolean },
): Promise<void> {
  const hasV6 = ips.some((ip) => ip.cidr.ip.family === 6);
  k.writeSysctl(container, `net/ipv4/conf/${link.name}/arp_notify`, "1", true);
  if (hasV6) {
    k.writeSysctl(container, `net/ipv6/conf/${link.name}/accept_dad`, opts.enableDad ? "1" : "0", true);
    if (opts.enableDad) k.writeSysctl(container, `net/ipv6/conf/${link.name}/enhanced_dad`, "1", true);
  }
  for (const ip of ips) {
    await k.addAddress(container, link.index, ip.cidr, { noDad: !opts.enableDad, noPrefixRoute: opts.noPrefixRoute });
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
  ips: readonly Addressing[],
  routes: readonly RouteValues[],
): Promise<void> {
  for (const r of routes) {
    const fam = r.dst.ip.family;
    const gw = r.gw ?? ips.find((ip) => ip.gateway !== undefined && ip.cidr.ip.family === fam)?.gateway;
    await k.addRoute(container, {
      dst: r.dst,
      gw,
      oif: link.index,
      priority: r.route.priority,
      table: r.route.table,
      scope: r.route.scope,
      mtu: r.route.mtu,
      advmss: r.route.advmss,
    });
  }
}
