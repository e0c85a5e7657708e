/**
 * DEL, for both modes: the attachment's veth, its IPAM release and its firewall rules (by key, so an
 * empty CNI_NETNS still cleans them), and last its record (kept when something could not be
 * removed, so `tether doctor` still sees the attachment). The veth's deletion is started first: the
 * kernel takes 10-30 ms over it, on a worker thread (src/netlink deleteLink), while the address and
 * the rules are released; failures are reported in the order IPAM, firewall, interface all the
 * same. Every step runs even when another one failed, so one broken piece (an IPAM plugin gone from
 * CNI_PATH, a busy lock) never leaves the rest behind; what is already gone is success.
 *
 * The veth is found by what tether put on it, never by the container's name alone: the container
 * end called CNI_IFNAME whose peer carries this attachment's label (or, for an ADD killed before it
 * labelled the peer, the name its record gave it); else, whatever the container calls its end now,
 * the host end carrying the label. A CNI_IFNAME that is not tether's (the one that made an ADD fail
 * with 100) is left alone.
 */
import type { Invocation } from "../cni/dispatch";
import type { NetConf } from "../config/netconf";
import type { Firewall } from "../firewall/index";
import { log } from "../util/log";
import { attachmentKey, attachmentRecordOf, forgetAttachment } from "../attach/attachment";
import type { AttachmentRecord } from "../attach/attachmentRecord";
import { removeFirewall } from "../attach/firewall";
import { hostVethAlias } from "../attach/hostVeth";
import { ipamFor } from "../ipam/plugin/choice";
import { openIfPresent, type Kernel, type Link, type Ns } from "../kernel/port";
import { combinedError, runAllSteps } from "./steps";

export async function detachAttachment(k: Kernel, fw: () => Firewall, inv: Invocation<NetConf>): Promise<void> {
  const record = attachmentRecordOf(inv);
  const veth = runAllSteps([{ what: `interface ${inv.env.ifname}`, run: () => deleteVeth(k, inv, record) }]);
  // A turn of the event loop: the veth's steps run (on promises) until its deletion is with the kernel.
  await new Promise<void>((resolve) => setImmediate(resolve));
  const released = await runAllSteps([
    { what: "IPAM release", run: async () => ipamFor(inv)?.del() },
    { what: "firewall rules", run: () => removeFirewall(fw, inv) },
  ]);
  const failures = [...released, ...(await veth)];
  if (failures.length === 0) forgetAttachment(inv);
  if (failures.length > 0) throw combinedError("DEL", failures);
}

/** Whether `peer` (a host link) is the host end tether made for this attachment. */
function isOurHostEnd(peer: Link, alias: string, record: AttachmentRecord | undefined): boolean {
  if (peer.kind !== "veth") return false;
  if (peer.alias !== undefined && peer.alias !== "") return peer.alias === alias;
  return record !== undefined && peer.name === record.hostIfname;
}

async function deleteVeth(k: Kernel, inv: Invocation<NetConf>, record: AttachmentRecord | undefined): Promise<void> {
  const alias = hostVethAlias(attachmentKey(inv));
  if (await deleteFromContainer(k, inv, alias, record)) return;
  // The container end is gone or renamed, or the namespace path is: the host end, by its label.
  const host = await k.open();
  try {
    for (const l of await k.listLinks(host)) {
      if (isOurHostEnd(l, alias, record)) await k.deleteLink(host, l.index);
    }
  } finally {
    k.close(host);
  }
}

/** CNI_IFNAME in the container, when it is this attachment's veth; true when the pair was deleted. */
async function deleteFromContainer(k: Kernel, inv: Invocation<NetConf>, alias: string, record: AttachmentRecord | undefined): Promise<boolean> {
  if (inv.env.netns === "") return false;
  const container = await openIfPresent(k, inv.env.netns, { allowOwn: inv.env.netnsOverride });
  if (!container) return false;
  try {
    const link = await k.getLink(container, inv.env.ifname);
    if (!link) return false;
    const peer = await hostPeer(k, link);
    if (peer === undefined || !isOurHostEnd(peer, alias, record)) {
      log.warn(`not deleting ${inv.env.ifname}: it is not this attachment's veth (${peer === undefined ? "no peer in this namespace" : (peer.alias ?? "no tether label")})`);
      return false;
    }
    return await k.deleteLink(container, link.index);
  } finally {
    k.close(container);
  }
}

/** The host end of a container veth, when it is in the namespace tether runs in. */
async function hostPeer(k: Kernel, link: Link): Promise<Link | undefined> {
  // A peer in the same namespace has no netns id: its index means nothing in the host's.
  if (link.kind !== "veth" || link.peerIndex === undefined || link.peerNetnsId === undefined) return undefined;
  const host: Ns = await k.open();
  try {
    const peer = await k.getLinkByIndex(host, link.peerIndex);
    return peer?.kind === "veth" && (peer.peerIndex === undefined || peer.peerIndex === link.index) ? peer : undefined;
  } finally {
    k.close(host);
  }
}
