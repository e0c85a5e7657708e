/**
 * Every firewall rule tether installs carries the key of the attachment it belongs to, so DEL and GC
 * find exactly that attachment's rules without knowing its addresses or host veth.
 */
import { sha256Hex } from "../util/sha256";

export interface AttachmentKey {
  network: string;
  containerId: string;
  ifname: string;
}

const COMMENT_PREFIX = "tether:";

/** 8 hex digits naming the network: lets GC pick out one network's rules among all of tether's. */
export function networkTag(network: string): string {
  return sha256Hex(`network\0${network}`).slice(0, 8);
}

/** 24 hex digits naming one attachment (network, container id, ifname). */
export function attachmentTag(key: AttachmentKey): string {
  return sha256Hex(`attachment\0${key.network}\0${key.containerId}\0${key.ifname}`).slice(0, 24);
}

/** `tether:<network tag>:<attachment tag>`: the comment on every rule of the attachment. */
export function ruleComment(key: AttachmentKey): string {
  return `${COMMENT_PREFIX}${networkTag(key.network)}:${attachmentTag(key)}`;
}

/** The network and attachment tags in a rule comment (or a host veth's alias). */
export interface RuleTags {
  network: string;
  attachment: string;
}

/** The tags inside a rule comment of ours; undefined for anything else. */
export function parseRuleComment(comment: string): RuleTags | undefined {
  const m = /^tether:([0-9a-f]{8}):([0-9a-f]{24})$/.exec(comment);
  return m ? { network: m[1]!, attachment: m[2]! } : undefined;
}

/** iptables chain names are at most 28 characters: `TETHER-` and 21 hex digits of the attachment tag. */
export function iptablesChain(key: AttachmentKey): string {
  return `TETHER-${attachmentTag(key).slice(0, 21)}`;
}

/** The chain name of an attachment tag found in a comment (GC knows only the tag). */
export function iptablesChainOfTag(attachment: string): string {
  return `TETHER-${attachment.slice(0, 21)}`;
}
