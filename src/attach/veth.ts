/** The container's interface: a veth pair, one end in the container, its peer in the host. */
import type { Invocation } from "../cni/dispatch";
import type { NetConf } from "../config/netconf";
import type { Kernel, Link, Ns } from "../kernel/port";
import type { Rollback } from "../util/rollback";
import { PluginError } from "./errors";

/** runtimeConfig.mac > args.cni.mac > CNI_ARGS MAC=. */
export function requestedMac(inv: Invocation<NetConf>): string | undefined {
  return inv.conf.runtimeConfig?.mac ?? inv.conf.args?.cni?.mac ?? inv.args.mac;
}

/** Create CNI_IFNAME in the container with its peer in the host; undo pushed as soon as it exists. */
export async function createContainerVeth(
  k: Kernel,
  host: Ns,
  container: Ns,
  opts: { ifname: string; hostIfname: string; mtu?: number | undefined; mac?: string | undefined },
  rollback: Rollback,
): Promise<{ host: Link; container: Link }> {
  if (await k.getLink(container, opts.ifname)) {
    throw new PluginError(
      "interface-exists",
      `CNI_IFNAME: interface "${opts.ifname}" already exists in ${container.path ?? "the container namespace"}`,
    );
  }
  // The undo goes first: createVeth can fail after the pair exists (looking up the host end). It
  // deletes by index what this call made; by name only a veth, and never after EEXIST (nothing was
  // made: someone else took the name since the check, which matters when CNI_NETNS_OVERRIDE makes
  // the "container" the node's own namespace).
  let made: Link | undefined;
  let nothingMade = false;
  rollback.push(`delete veth ${opts.ifname}`, async () => {
    if (made !== undefined) return k.deleteLink(container, made.index);
    if (nothingMade) return false;
    const link = await k.getLink(container, opts.ifname);
    return link?.kind === "veth" ? k.deleteLink(container, link.index) : false;
  });
  try {
    const pair = await k.createVeth(container, host, { name: opts.ifname, peerName: opts.hostIfname, mtu: opts.mtu, mac: opts.mac });
    made = pair.container;
    return pair;
  } catch (e) {
    nothingMade = (e as { code?: unknown }).code === "EEXIST";
    throw e;
  }
}

