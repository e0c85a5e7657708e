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
import { forgetAttachment, removeFirewall } from "./attach";
import { ipamFor } from "./ipam";
import { openIfPresent, type Kernel } from "./kernel";
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
  const container = await openIfPresent(k, inv.env.netns);
  if (!container) return;
  try {
    await k.deleteLink(container, inv.env.ifname);
  } finally {
    k.close(container);
  }
}
