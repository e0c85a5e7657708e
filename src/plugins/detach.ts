/**
 * DEL, for both modes: IPAM first (as the reference), then the attachment's firewall rules (by key,
 * so an empty CNI_NETNS still cleans them), its record, and the container's interface (the host end
 * and what hangs on it go with it). Every step runs even when an earlier one failed, so one broken
 * piece (an IPAM plugin gone from CNI_PATH, a busy lock) never leaves the rest behind; what is
 * already gone is success.
 */
import type { Invocation } from "../cni/dispatch";
import type { NetConf } from "../config/netconf";
import type { Firewall } from "../firewall/index";
import { log } from "../util/log";
import { attachmentKey, forgetAttachment, removeFirewall } from "./attach";
import { hostVethAlias, hostVethTags } from "./hostVeth";
import { ipamFor } from "./ipam";
import { openIfPresent, type Kernel, type Link } from "./kernel";
import { combinedError, runAllSteps } from "./steps";

export async function detachAttachment(k: Kernel, fw: () => Firewall, inv: Invocation<NetConf>): Promise<void> {
  const failures = await runAllSteps([
    { what: "IPAM release", run: async () => ipamFor(inv)?.del() },
    { what: "firewall rules", run: () => removeFirewall(fw, inv) },
    { what: "attachment record", run: () => forgetAttachment(inv) },
    { what: `interface ${inv.env.ifname}`, run: () => deleteContainerInterface(k, inv) },
  ]);
  if (failures.length > 0) throw combinedError("DEL", failures);
}

async function deleteContainerInterface(k: Kernel, inv: Invocation<NetConf>): Promise<void> {
  if (inv.env.netns === "") return;
  const container = await openIfPresent(k, inv.env.netns, { allowOwn: inv.env.netnsOverride });
  if (!container) return;
  try {
    const link = await k.getLink(container, inv.env.ifname);
    if (!link) return;
    const owner = await peerOwner(k, link);
    // Another attachment's veth (the DEL that follows an ADD refused because CNI_IFNAME was taken)
    // is never ours. With CNI_NETNS_OVERRIDE the namespace may be the node's own, where CNI_IFNAME
    // could be its uplink: there only a veth carrying this attachment's label is.
    if (owner !== hostVethAlias(attachmentKey(inv)) && (owner !== undefined || inv.env.netnsOverride)) {
      log.warn(`not deleting ${inv.env.ifname}: it is not this attachment's veth (${owner ?? "no tether label"})`);
      return;
    }
    await k.deleteLink(container, link.index);
  } finally {
    k.close(container);
  }
}

/** The tether label on the host end of this veth (an attachment's alias), if it has one. */
async function peerOwner(k: Kernel, link: Link): Promise<string | undefined> {
  if (link.kind !== "veth" || link.peerIndex === undefined) return undefined;
  const host = await k.open();
  try {
    const peer = await k.getLinkByIndex(host, link.peerIndex);
    return peer && hostVethTags(peer) !== undefined ? peer.alias : undefined;
  } finally {
    k.close(host);
  }
}
