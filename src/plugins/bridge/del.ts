/**
 * Bridge mode DEL: IPAM first, then the attachment's firewall rules (by key, so an empty CNI_NETNS
 * still cleans them), then the container's interface; everything already gone is success.
 */
import type { Invocation } from "../../cni/dispatch";
import type { NetConf } from "../../config/netconf";
import type { Firewall } from "../../firewall/index";
import { forgetAttachment, removeFirewall } from "../attach";
import { ipamFor } from "../ipam";
import { openIfPresent, type Kernel } from "../kernel";

export async function bridgeDel(k: Kernel, fw: () => Firewall, inv: Invocation<NetConf>): Promise<void> {
  const ipam = ipamFor(inv);
  if (ipam) await ipam.del();
  await removeFirewall(fw, inv);
  forgetAttachment(inv);
  if (inv.env.netns === "") return;
  const container = await openIfPresent(k, inv.env.netns);
  if (!container) return;
  try {
    // Deleting the container end removes the host end with it.
    await k.deleteLink(container, inv.env.ifname);
  } finally {
    k.close(container);
  }
}
