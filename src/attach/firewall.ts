/** The attachment's firewall rules (ipMasq, spoof checks), keyed by the attachment: install, remove, check. */
import type { Invocation } from "../cni/dispatch";
import type { IpConfig } from "../cni/types";
import type { NetConf } from "../config/netconf";
import type { Firewall, NftFamily, SpoofCheckSpec } from "../firewall/index";
import type { Rollback } from "../util/rollback";
import { attachmentKey } from "./attachment";
import { PluginError } from "./errors";

function wantsSpoofCheck(conf: NetConf): boolean {
  return conf.macspoofchk || conf.ipspoofchk;
}

/**
 * ipMasq and the spoof checks of a new attachment. The undo (keyed removal, a no-op when nothing is
 * there) is pushed before each change, so a half-applied change is undone too.
 */
export async function installFirewall(
  fw: () => Firewall,
  inv: Invocation<NetConf>,
  opts: { layer: NftFamily; hostIfname: string; containerMac: string | undefined; ips: readonly IpConfig[] },
  rollback: Rollback,
): Promise<void> {
  const conf = inv.conf;
  const key = attachmentKey(inv);
  if (conf.ipMasq && opts.ips.length > 0) {
    const firewall = fw();
    rollback.push("remove masquerade rules", () => firewall.removeMasquerade(key));
    await firewall.addMasquerade(key, opts.ips.map((ip) => ip.address), conf.ipMasqBackend);
  }
  if (wantsSpoofCheck(conf)) {
    const spec: SpoofCheckSpec = { family: opts.layer, hostIfname: opts.hostIfname };
    if (conf.macspoofchk) {
      if (opts.containerMac === undefined) throw new PluginError("internal", "macspoofchk: the container interface's MAC is unknown");
      spec.mac = opts.containerMac;
    }
    if (conf.ipspoofchk) spec.addresses = opts.ips.map((ip) => ip.address);
    const firewall = fw();
    rollback.push("remove spoof-check rules", () => firewall.removeSpoofCheck(key));
    await firewall.addSpoofCheck(key, spec);
  }
}

/** DEL: the attachment's rules, found by its key alone (works without netns or prevResult). */
export async function removeFirewall(fw: () => Firewall, inv: Invocation<NetConf>): Promise<void> {
  const key = attachmentKey(inv);
  if (inv.conf.ipMasq) await fw().removeMasquerade(key);
  if (wantsSpoofCheck(inv.conf)) await fw().removeSpoofCheck(key);
}

/** CHECK: the rules ADD made must still be there. */
export async function checkFirewall(fw: () => Firewall, inv: Invocation<NetConf>, ips: readonly IpConfig[]): Promise<void> {
  const key = attachmentKey(inv);
  if (inv.conf.ipMasq && ips.length > 0 && !(await fw().hasMasquerade(key))) {
    throw new PluginError("check-failed", "ipMasq: the attachment's masquerade rules are missing");
  }
  if (wantsSpoofCheck(inv.conf) && !(await fw().hasSpoofCheck(key))) {
    throw new PluginError("check-failed", "the attachment's spoof-check rules are missing");
  }
}

