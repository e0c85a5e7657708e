/**
 * ptp mode DEL: IPAM first (as the reference), then the attachment's firewall rules by key (so an
 * empty CNI_NETNS still cleans them), then the container's interface (the host end, its gateway
 * address and its host routes go with it). Everything already gone is success.
 */
import type { Invocation } from "../../cni/dispatch";
import type { NetConf } from "../../config/netconf";
import type { Firewall } from "../../firewall/index";
import { forgetAttachment, removeFirewall } from "../attach";
import { ipamFor } from "../ipam";
import { openIfPresent, type Kernel } from "../kernel";

export async function ptpDel(k: Kernel, fw: () => Firewall, inv: Invocation<NetConf>): Promise<void> {
  await ipamFor(inv)?.del();
  await removeFirewall(fw, inv);
  forgetAttachment(inv);
  if (inv.env.netns === "") return;
  const container = await openIfPresent(k, inv.env.netns);
  if (!container) return;
  try {
    await k.deleteLink(container, inv.env.ifname);
  } finally {
    k.close(container);
  }
}
