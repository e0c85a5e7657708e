/** Bridge mode ADD: bridge, veth, IPAM, addresses, routes, gateway; undone in reverse on any failure. */
import type { Invocation } from "../../cni/dispatch";
import { versionAtLeast } from "../../cni/version";
import type { Interface, IpConfig, Result } from "../../cni/types";
import type { NetConf } from "../../config/netconf";
import { DEFAULT_BRIDGE } from "../../util/defaults";
import type { Firewall } from "../../firewall/index";
import { labelHostVeth } from "../../attach/attachment";
import { configureContainerInterface } from "../../attach/container";
import { installFirewall } from "../../attach/firewall";
import { type Addressing, defaultRoutes, resultDns, resultIps, routeValues } from "../../attach/result";
import { runAdd } from "../../attach/transaction";
import { createContainerVeth, requestedMac } from "../../attach/veth";
import { defaultGateway } from "../../ip/cidr";
import { cidrOf, cidrText, formatIp, sameCidr } from "../../ip/ip";
import { ipamFor } from "../../ipam/plugin/choice";
import type { Kernel, Link, Ns } from "../../kernel/port";
import { PluginError } from "../../attach/errors";

export async function bridgeAdd(k: Kernel, fw: () => Firewall, inv: Invocation<NetConf>): Promise<Result> {
  const conf = inv.conf;
  refuseBeforeStarting(inv);
  return runAdd(k, inv, async ({ host, container, rollback, hostIfname }) => {
    const bridgeName = conf.bridge ?? DEFAULT_BRIDGE;
    const { link: bridge, created } = await k.ensureBridge(host, { name: bridgeName, mtu: conf.mtu, vlanFiltering: conf.vlan > 0 }).catch((e: unknown) => {
      if (conf.vlan > 0 && (e as { code?: unknown }).code === "EOPNOTSUPP") {
        throw new PluginError(
          "kernel",
          `vlan ${conf.vlan}: this kernel does not support VLAN filtering on bridge "${bridgeName}" (CONFIG_BRIDGE_VLAN_FILTERING)`,
          (e as Error).message,
          { cause: e },
        );
      }
      throw e;
    });
    // A bridge is no router's client: it must not configure itself from router advertisements.
    if (created) k.writeSysctl(host, `net/ipv6/conf/${bridge.name}/accept_ra`, "0", true);
    if (conf.promiscMode && !bridge.promisc) await k.setPromisc(host, bridge.index, true);

    const ipam = ipamFor(inv);
    const ipamResult = ipam ? await ipam.add() : undefined;
    if (ipam) rollback.push(`release ${ipam.type} reservation`, () => ipam.del());

    const pair = await createContainerVeth(
      k,
      host,
      container,
      { ifname: inv.env.ifname, hostIfname, mtu: conf.mtu, mac: requestedMac(inv) },
      rollback,
    );
    await labelHostVeth(k, host, pair.host, inv);
    await attachHostVeth(k, host, pair.host, bridge, conf);

    const interfaces: Interface[] = [
      { name: bridge.name, ...(bridge.mac ? { mac: bridge.mac } : {}) },
      { name: pair.host.name, ...(pair.host.mac ? { mac: pair.host.mac } : {}) },
      { name: pair.container.name, ...(pair.container.mac ? { mac: pair.container.mac } : {}), sandbox: inv.env.netns },
    ];
    const result: Result = { cniVersion: inv.version, interfaces };
    let ips: IpConfig[] = [];

    if (ipamResult) {
      const addressing = resultIps(ipamResult, 2, (address) => (conf.isGateway ? defaultGateway(address) : undefined));
      ips = addressing.map((a) => a.config);
      const ipamRoutes = routeValues(ipamResult.routes);
      const routes = conf.isDefaultGateway ? [...ipamRoutes, ...defaultRoutes(addressing, ipamRoutes)] : ipamRoutes;
      await configureContainerInterface(k, container, pair.container, addressing, routes, { enableDad: conf.enabledad });
      if (conf.isGateway) await configureGateway(k, host, bridge, addressing, conf);
      result.ips = ips;
      if (routes.length > 0) result.routes = routes.map((r) => r.route);
    } else if (!conf.disableContainerInterface) {
      await k.setLinkUp(container, pair.container.index);
    }
    const dns = resultDns(ipamResult?.dns, conf);
    if (dns) result.dns = dns;

    // MACs can change when a link comes up or joins a bridge: report what the kernel has now.
    const [bridgeNow, containerNow] = [await k.getLinkByIndex(host, bridge.index), await k.getLinkByIndex(container, pair.container.index)];
    if (bridgeNow?.mac) interfaces[0]!.mac = bridgeNow.mac;
    if (containerNow?.mac) interfaces[2]!.mac = containerNow.mac;
    await installFirewall(fw, inv, { layer: "bridge", hostIfname: pair.host.name, containerMac: interfaces[2]!.mac, ips }, rollback);
    return result;
  });
}

/** What this build cannot do right, refused before anything is made (never half done, never ignored). */
function refuseBeforeStarting(inv: Invocation<NetConf>): void {
  const conf = inv.conf;
  if (!conf.ipam?.type && !versionAtLeast(inv.version, "0.3.0")) {
    throw new PluginError(
      "version",
      `cniVersion ${inv.version} cannot express an L2-only result (no ipam.type)`,
      "results of 0.1.0 and 0.2.0 carry only ip4/ip6: use cniVersion 0.3.0 or later",
    );
  }
  for (const key of ["vlanTrunk", "preserveDefaultVlan"] as const) {
    if (inv.raw[key] !== undefined) {
      throw new PluginError("unsupported", `${key}: ${JSON.stringify(inv.raw[key])} is not supported by tether yet`);
    }
  }
  if (conf.vlan > 0 && conf.isGateway) {
    throw new PluginError(
      "unsupported",
      `vlan: ${conf.vlan} with isGateway is not supported by tether yet`,
      "the gateway would sit on the bridge's own VLAN 1, out of reach of the container's VLAN",
    );
  }
}

async function attachHostVeth(k: Kernel, host: Ns, veth: Link, bridge: Link, conf: NetConf): Promise<void> {
  await k.setMaster(host, veth.index, bridge.index);
  if (conf.hairpinMode || conf.portIsolation) {
    await k.setBridgePort(host, veth.index, { hairpin: conf.hairpinMode, isolated: conf.portIsolation });
  }
  if (conf.vlan > 0) {
    await k.addBridgeVlan(host, veth.index, conf.vlan, { pvid: true, untagged: true });
    // The kernel gives every new port the default VID 1; left there, VLAN 1 traffic would reach
    // this container untagged (the reference removes it too).
    await k.deleteBridgeVlan(host, veth.index, 1);
  }
  k.writeSysctl(host, `net/ipv6/conf/${veth.name}/accept_ra`, "0", true);
  await k.setLinkUp(host, veth.index);
}

/**
 * isGateway: each address's gateway goes on the bridge with the subnet's prefix, and forwarding is
 * turned on for the families in use. Shared state: never undone by a failed ADD.
 */
async function configureGateway(
  k: Kernel,
  host: Ns,
  bridge: Link,
  ips: readonly Addressing[],
  conf: NetConf,
): Promise<void> {
  // Only IPv4 addresses are listed: an IPv6 dump carries every veth's link-local address (hundreds
  // on a busy node), and an IPv6 gateway that is already there is simply EEXIST below.
  const wantsV4 = ips.some((ip) => ip.gateway !== undefined && ip.cidr.ip.family === 4);
  const existing = wantsV4 ? await k.listAddresses(host, bridge.index, 4) : [];
  const families = new Set<4 | 6>();
  for (const ip of ips) {
    if (ip.gateway === undefined) continue;
    const sub = ip.cidr;
    const gateway = ip.gateway;
    const want = cidrOf(gateway, sub.prefix);
    const wantText = `${ip.config.gateway ?? formatIp(gateway)}/${sub.prefix}`;
    families.add(sub.ip.family);
    if (existing.some((a) => sameCidr(a.cidr, want))) continue;
    // An IPv4 bridge carries one gateway address; another one is replaced only with forceAddress.
    const clash = sub.ip.family === 4 ? existing.filter((a) => a.family === 4) : [];
    for (const other of clash) {
      if (!conf.forceAddress) {
        throw new PluginError(
          "address-taken",
          `bridge "${bridge.name}" already has address ${cidrText(other.cidr)}, not the gateway ${wantText}`,
          "set forceAddress to replace it",
        );
      }
      await k.deleteAddress(host, bridge.index, other.cidr);
    }
    try {
      await k.addAddress(host, bridge.index, want, { noDad: true });
    } catch (e) {
      // A concurrent ADD on the same bridge put the same gateway there between our list and our add.
      if ((e as { code?: unknown }).code !== "EEXIST") throw e;
    }
    existing.push({ index: bridge.index, family: sub.ip.family, cidr: want });
  }
  if (families.has(4)) k.writeSysctl(host, "net/ipv4/ip_forward", "1");
  if (families.has(6)) k.writeSysctl(host, "net/ipv6/conf/all/forwarding", "1", true);
  // Pin the bridge's MAC so it stops following its lowest-numbered port. Read it again: it changes
  // when a port joins (a bridge left without ports has the all-zero MAC, which cannot be set).
  const mac = (await k.getLinkByIndex(host, bridge.index))?.mac;
  if (mac && !/^(00:){5}00$/.test(mac)) await k.setMac(host, bridge.index, mac);
}
