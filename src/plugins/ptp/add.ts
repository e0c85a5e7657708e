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
import type { Interface, Result } from "../../cni/types";
import type { NetConf } from "../../config/netconf";
import type { Firewall } from "../../firewall/index";
import { labelHostVeth } from "../../attach/attachment";
import { addContainerRoutes, configureContainerAddresses } from "../../attach/container";
import { installFirewall } from "../../attach/firewall";
import { type Addressing, resultDns, resultIps, routeValues } from "../../attach/result";
import { runAdd } from "../../attach/transaction";
import { createContainerVeth, requestedMac } from "../../attach/veth";
import { defaultGateway, hostPrefix, subnetOf } from "../../ip/cidr";
import { type Ip, bitsOf, cidrText, formatIp, sameCidr } from "../../ip/ip";
import { ipamFor } from "../../ipam/plugin/choice";
import { attachmentTag, networkTag } from "../../firewall/key";
import { listingText, quoteForeign } from "../../util/quote";
import { listRecordFiles, recordsDataDir } from "../../attach/attachmentRecord";
import { hostVethTags } from "../../attach/hostVeth";
import { MAIN_TABLE, ROUTE_SCOPE, type Kernel, type Link, type Ns } from "../../kernel/port";
import { PluginError } from "../../attach/errors";

export async function ptpAdd(k: Kernel, fw: () => Firewall, inv: Invocation<NetConf>): Promise<Result> {
  const conf = inv.conf;
  const ipam = ipamFor(inv);
  if (!ipam) throw new PluginError("config", "ipam.type: missing: ptp mode needs an IPAM");
  return runAdd(k, inv, async ({ host, container, rollback, hostIfname }) => {
    const ipamResult = await ipam.add();
    rollback.push(`release ${ipam.type} reservation`, () => ipam.del());
    // ptp routes everything through a gateway: IPAM gives one, or the subnet's first address is it.
    const addressing = resultIps(ipamResult, 1, defaultGateway);
    const ipamRoutes = routeValues(ipamResult.routes);
    enableForwarding(k, host, addressing);

    const pair = await createContainerVeth(k, host, container, { ifname: inv.env.ifname, hostIfname, mtu: conf.mtu, mac: requestedMac(inv) }, rollback);
    await labelHostVeth(k, host, pair.host, inv);
    await configureContainerAddresses(k, container, pair.container, addressing, { enableDad: conf.enabledad, noPrefixRoute: true });
    await addPointToPointRoutes(k, container, pair.container, addressing);
    await addContainerRoutes(k, container, pair.container, addressing, ipamRoutes);
    await configureHostVeth(k, host, pair.host, addressing, inv);

    const containerNow = await k.getLinkByIndex(container, pair.container.index);
    const containerMac = containerNow?.mac ?? pair.container.mac;
    const hostNow = await k.getLinkByIndex(host, pair.host.index);
    const hostMac = hostNow?.mac ?? pair.host.mac;
    const interfaces: Interface[] = [
      { name: pair.host.name, ...(hostMac ? { mac: hostMac } : {}) },
      { name: pair.container.name, ...(containerMac ? { mac: containerMac } : {}), sandbox: inv.env.netns },
    ];
    const ips = addressing.map((a) => a.config);
    const result: Result = { cniVersion: inv.version, interfaces, ips };
    if (ipamResult.routes.length > 0) result.routes = [...ipamResult.routes];
    const dns = resultDns(ipamResult.dns, conf);
    if (dns) result.dns = dns;

    await installFirewall(fw, inv, { layer: "inet", hostIfname: pair.host.name, containerMac, ips }, rollback);
    return result;
  });
}

/** Forwarding for the families in use. Shared state: never undone. */
function enableForwarding(k: Kernel, host: Ns, ips: readonly Addressing[]): void {
  const families = new Set(ips.map((ip) => ip.cidr.ip.family));
  if (families.has(4)) k.writeSysctl(host, "net/ipv4/ip_forward", "1");
  if (families.has(6)) k.writeSysctl(host, "net/ipv6/conf/all/forwarding", "1", true);
}

/**
 * The node reaches this address on a bridge where tether's veths attach containers (a bridge network
 * on an overlapping subnet, with a store of its own): a /32 (/128) host route would take the address
 * over from that bridge, cutting off a container there that holds it. Refused, naming the bridge.
 * A connected route of any other link (the node's LAN) is no reason to refuse. One route lookup
 * (the route the node would use for the address), not a dump of the node's routes per address; the
 * links are listed only when that route leads onto a bridge. A route through a gateway, or a host
 * route (a /32 or /128 of an attachment: addHostRoute judges it), is no bridge's.
 */
async function refuseBridgeNetworkAddress(k: Kernel, host: Ns, veth: Link, address: Ip): Promise<void> {
  const r = await k.routeGet(host, address);
  if (r === undefined || r.gw !== undefined || r.oif === undefined || r.oif === veth.index) return;
  if (r.dst.prefix >= bitsOf(address.family)) return;
  const bridge = await k.getLinkByIndex(host, r.oif);
  if (bridge?.kind !== "bridge") return;
  const links = await k.listLinks(host);
  if (links.some((l) => l.master === bridge.index && hostVethTags(l) !== undefined)) {
    throw new PluginError(
      "address-taken",
      `ptp: the node reaches ${formatIp(address)} on bridge ${quoteForeign(bridge.name)} (${cidrText(r.dst)}), where tether attaches containers of a bridge network; a host route would take that address over`,
      "give the ptp network a subnet no bridge network uses",
    );
  }
}

/** In the container: the gateway on the link, and the subnet through the gateway, both from the address. */
async function addPointToPointRoutes(k: Kernel, container: Ns, link: Link, ips: readonly Addressing[]): Promise<void> {
  for (const ip of ips) {
    const src = ip.cidr.ip;
    const gw = ip.gateway!;
    try {
      await k.addRoute(container, { dst: hostPrefix(gw), oif: link.index, scope: ROUTE_SCOPE.link, src });
    } catch (e) {
      if ((e as { code?: unknown }).code === "EEXIST") await refuseSecondGatewayRoute(k, container, link, ip);
      throw e;
    }
    await k.addRoute(container, { dst: subnetOf(ip.cidr), gw, oif: link.index, scope: ROUTE_SCOPE.universe, src });
  }
}

/**
 * The container already routes this network's gateway through another of its interfaces (a second
 * CNI_IFNAME of one container on one ptp network): say so instead of the kernel's bare EEXIST.
 */
async function refuseSecondGatewayRoute(k: Kernel, container: Ns, link: Link, ip: Addressing): Promise<never> {
  const gw = ip.config.gateway!;
  const dst = hostPrefix(ip.gateway!);
  const existing = (await k.listRoutes(container, ip.gateway!.family)).find((r) => sameCidr(r.dst, dst));
  const via = existing?.oif === undefined ? undefined : await k.getLinkByIndex(container, existing.oif);
  const through = via !== undefined ? `interface ${quoteForeign(via.name)}` : "another route";
  throw new PluginError(
    "address-taken",
    `ptp: the container already routes the gateway ${gw} through ${through}; ${quoteForeign(link.name)} cannot route it too`,
    "ptp attaches a container once per network: give the second interface another network",
  );
}

/**
 * On the host: accept_ra off, link up, the gateway as a host-length address (so the host veth
 * answers ARP / neighbour solicitations for it), and a route to each container address.
 */
async function configureHostVeth(k: Kernel, host: Ns, veth: Link, ips: readonly Addressing[], inv: Invocation<NetConf>): Promise<void> {
  k.writeSysctl(host, `net/ipv6/conf/${veth.name}/accept_ra`, "0", true);
  await k.setLinkUp(host, veth.index);
  const gateways = new Set<string>();
  for (const ip of ips) {
    const gw = hostPrefix(ip.gateway!);
    const key = cidrText(gw);
    if (!gateways.has(key)) {
      gateways.add(key);
      await k.addAddress(host, veth.index, gw, { noDad: true, noPrefixRoute: true });
    }
    await addHostRoute(k, host, veth, ip.cidr.ip, inv);
  }
}

/**
 * The host route to a container address. One to the same address may exist: that of a container of
 * this network whose DEL released the address and has not deleted its veth yet, replaced (else it
 * would stay, and go away with its veth, taking this one's with it); or that of another attachment
 * (another ptp network on the same subnet, or anything not tether's), which a replace would cut
 * off: refused, naming it.
 */
async function addHostRoute(k: Kernel, host: Ns, veth: Link, address: Ip, inv: Invocation<NetConf>): Promise<void> {
  const spec = { dst: hostPrefix(address), oif: veth.index, scope: ROUTE_SCOPE.link };
  const dst = cidrText(spec.dst);
  await refuseBridgeNetworkAddress(k, host, veth, address);
  try {
    await k.addRoute(host, spec);
    return;
  } catch (e) {
    if ((e as { code?: unknown }).code !== "EEXIST") throw e;
  }
  const existing = (await k.listRoutes(host, address.family)).find((r) => sameCidr(r.dst, spec.dst) && (r.table === undefined || r.table === MAIN_TABLE));
  const via = existing?.oif === undefined ? undefined : await k.getLinkByIndex(host, existing.oif);
  const tags = via === undefined ? undefined : hostVethTags(via);
  if (existing === undefined || (tags !== undefined && tags.network === networkTag(inv.conf.name))) {
    await k.addRoute(host, spec, { replace: true });
    return;
  }
  const owner = tags !== undefined ? `attachment ${describeAttachment(inv, tags.attachment)} (host veth ${via!.name})` : via !== undefined ? `link ${quoteForeign(via.name)}, not tether's` : "a route tether did not make";
  throw new PluginError(
    "address-taken",
    `ptp: the node already routes ${dst} to ${owner}; refusing to take that route over (two ptp networks on one subnet?)`,
    "give each ptp network its own subnet",
  );
}

/** "network X container Y/ifname" from the records beside our store, else the tag alone. */
function describeAttachment(inv: Invocation<NetConf>, tag: string): string {
  const dataDir = recordsDataDir(inv.raw["ipam"]);
  const found = dataDir === undefined ? undefined : listRecordFiles(dataDir).find((f) => f.record !== undefined && attachmentTag(f.record) === tag)?.record;
  return found !== undefined ? `${listingText(found.containerId)}/${listingText(found.ifname)} of network ${found.network}` : tag;
}
