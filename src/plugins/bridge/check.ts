/**
 * Bridge mode CHECK against prevResult: the container interface, its addresses and routes, the
 * bridge and the host veth, the firewall rules, and the IPAM reservation. Plugins chained after
 * tether may add routes or change the MTU; only what tether made and listed is required.
 */
import type { Invocation } from "../../cni/dispatch";
import type { Result } from "../../cni/types";
import type { NetConf } from "../../config/netconf";
import { DEFAULT_BRIDGE } from "../../util/defaults";
import type { Firewall } from "../../firewall/index";
import { checkContainerSide, checkFailed, containerInterfaceIndex, ipsOf, requirePrevResult } from "../../attach/check";
import { checkFirewall } from "../../attach/firewall";
import { ipamFor } from "../../ipam/plugin/choice";
import type { Kernel, Link, Ns } from "../../kernel/port";

export async function bridgeCheck(k: Kernel, fw: () => Firewall, inv: Invocation<NetConf>): Promise<void> {
  const prev = requirePrevResult(inv);
  const ipam = ipamFor(inv);
  if (ipam) await ipam.check();

  const ifIndex = containerInterfaceIndex(inv, prev);
  const host = await k.open();
  try {
    const container = await k.open(inv.env.netns, { allowOwn: inv.env.netnsOverride });
    try {
      const link = await checkContainerSide(k, container, inv, prev, ifIndex);
      await checkHostSide(k, host, link, prev, inv.conf.bridge ?? DEFAULT_BRIDGE, ifIndex);
    } finally {
      k.close(container);
    }
  } finally {
    k.close(host);
  }
  await checkFirewall(fw, inv, ipsOf(prev, ifIndex));
}

async function checkHostSide(k: Kernel, host: Ns, containerLink: Link, prev: Result, bridgeName: string, ifIndex: number): Promise<void> {
  const bridge = await k.getLink(host, bridgeName);
  if (!bridge) throw checkFailed(`bridge "${bridgeName}" not found`);
  if (bridge.kind !== "bridge") throw checkFailed(`"${bridgeName}" is a ${bridge.kind ?? "link of unknown kind"}, not a bridge`);
  // tether's host veth follows its bridge in the interface list (earlier entries may come from a
  // plugin before tether in the chain).
  const bridgeAt = (prev.interfaces ?? []).findIndex((itf, i) => i < ifIndex && !itf.sandbox && itf.name === bridgeName);
  const hostVeths = (prev.interfaces ?? []).filter((itf, i) => i > bridgeAt && i < ifIndex && !itf.sandbox);
  if (hostVeths.length === 0) throw checkFailed("prevResult lists no host-side veth");
  for (const itf of hostVeths) {
    const veth = await k.getLink(host, itf.name);
    if (!veth) throw checkFailed(`host veth "${itf.name}" not found`);
    if (veth.master !== bridge.index) throw checkFailed(`host veth "${itf.name}" is not a port of bridge "${bridgeName}"`);
    if (veth.peerIndex !== undefined && veth.peerIndex !== containerLink.index) {
      throw checkFailed(`host veth "${itf.name}" is not the peer of "${containerLink.name}"`);
    }
  }
}
