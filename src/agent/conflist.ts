/**
 * The node's conflist, from its pod CIDRs (pure). A routed ptp network, as kindnet uses:
 * - no bridge and no shared L2 domain: each pod is a /32 (/128) host route on the node, so traffic
 *   between pods always crosses the node's routing and firewall (one place for NetworkPolicy, per-pod
 *   hooks on the host veth), and other nodes' pod CIDRs are plain routes via their node address;
 * - tether-ipam hands out addresses from the node's spec.podCIDRs (one range set per family);
 * - portmap chained for hostPorts (capability portMappings), when it is installed: a runtime fails
 *   every pod's ADD when a plugin of the list is missing (chain.ts);
 * - macspoofchk and ipspoofchk on: NetworkPolicy names peers by address, so a pod must not send as
 *   another pod (src/agent/policy.ts);
 * - ipMasq off in the plugin: the agent masquerades (src/agent/masquerade.ts), keeping the source
 *   address of pod-to-pod traffic across nodes;
 * - cniVersion 1.0.0 with cniVersions [1.0.0, 1.1.0]: libcni 1.1 (containerd 1.6/1.7) refuses 1.1.0
 *   results, a runtime that knows cniVersions picks 1.1.0 (offered only when the installed portmap
 *   speaks it too: chain.ts).
 */
import type { Prefix } from "./desired";
import { IPAM_TYPE, PLUGIN_TYPE } from "../util/defaults";

export const CONFLIST_FILE = "10-tether.conflist";
export const NETWORK_NAME = "tether";

export interface ConflistOptions {
  /** The node's pod CIDRs, at most one per family. */
  podCidrs: readonly Prefix[];
  /** MTU of the pod interfaces (default: the kernel's). */
  mtu?: number | undefined;
  /** IPAM data directory (default: tether-ipam's, /var/lib/cni/networks). */
  ipamDataDir?: string | undefined;
  /** `cniVersions` (default ["1.0.0", "1.1.0"]): those every plugin of the chain speaks (chain.ts). */
  versions?: readonly string[] | undefined;
  /** Chain portmap (default true); false when the bin dir has none (chain.ts). */
  portmap?: boolean | undefined;
}

export function conflistText(opts: ConflistOptions): string {
  if (opts.podCidrs.length === 0) throw new Error("a conflist needs at least one pod CIDR");
  const ipam: Record<string, unknown> = {
    type: IPAM_TYPE,
    ranges: opts.podCidrs.map((p) => [{ subnet: p.text }]),
    routes: opts.podCidrs.map((p) => ({ dst: p.family === 4 ? "0.0.0.0/0" : "::/0" })),
  };
  if (opts.ipamDataDir !== undefined) ipam["dataDir"] = opts.ipamDataDir;
  const tether: Record<string, unknown> = { type: PLUGIN_TYPE, mode: "ptp", ipMasq: false, macspoofchk: true, ipspoofchk: true };
  if (opts.mtu !== undefined) tether["mtu"] = opts.mtu;
  tether["ipam"] = ipam;
  const list = {
    cniVersion: "1.0.0",
    cniVersions: [...(opts.versions ?? ["1.0.0", "1.1.0"])],
    name: NETWORK_NAME,
    plugins: opts.portmap === false ? [tether] : [tether, { type: "portmap", capabilities: { portMappings: true } }],
  };
  return JSON.stringify(list, null, 2) + "\n";
}

/**
 * The network configs in a CNI conf dir that a runtime takes before ours: containerd (max_conf_num 1)
 * and CRI-O load the first file by name with one of these extensions, so another network's
 * "05-x.conflist" or containerd's own "10-containerd-net.conflist" silently wins over 10-tether.
 */
export function configsBefore(names: readonly string[], own: string = CONFLIST_FILE): string[] {
  return names.filter((n) => /\.(conf|conflist|json)$/.test(n) && n < own).sort();
}

/** The pod CIDRs a conflist of ours hands out (for doctor); undefined when it is not one of ours. */
export function conflistCidrs(text: string): string[] | undefined {
  try {
    const list = JSON.parse(text) as { plugins?: { type?: unknown; ipam?: { ranges?: { subnet?: unknown }[][] } }[] };
    const plugin = list.plugins?.find((p) => p.type === PLUGIN_TYPE);
    if (plugin?.ipam?.ranges === undefined) return undefined;
    return plugin.ipam.ranges.flatMap((set) => set.map((r) => String(r.subnet)));
  } catch {
    return undefined;
  }
}
