/**
 * Host veths carry their attachment's key as IFLA_IFALIAS (`tether:<network tag>:<attachment tag>`,
 * the rule comment's format), set at ADD, so GC and doctor can tell which attachment a host veth
 * belongs to without the container's namespace.
 */
import { attachmentTag, networkTag, parseRuleComment, ruleComment, type AttachmentKey, type RuleTags } from "../firewall/key";
import type { Link } from "../kernel/port";

export function hostVethAlias(key: AttachmentKey): string {
  return ruleComment(key);
}

/** The tags in a host veth's alias; undefined for a link tether did not label. */
export function hostVethTags(link: Pick<Link, "kind" | "alias">): RuleTags | undefined {
  return link.kind === "veth" && link.alias !== undefined ? parseRuleComment(link.alias) : undefined;
}

/**
 * A veth whose peer is gone: the kernel says the peer is in this namespace (no peer netns id) but
 * no link here has the peer's index. (A veth whose namespace is destroyed goes with it, so this
 * only happens after unusual moves; cheap to check.)
 */
export function peerGone(link: Link, all: readonly Link[]): boolean {
  if (link.kind !== "veth" || link.peerNetnsId !== undefined) return false;
  return link.peerIndex === undefined || !all.some((l) => l.index === link.peerIndex);
}

/** GC: the host veths of `network` whose attachment is not in `valid`, or whose peer is gone. */
export function staleHostVeths(links: readonly Link[], network: string, valid: readonly AttachmentKey[]): Link[] {
  const net = networkTag(network);
  const keep = new Set(valid.map(attachmentTag));
  return links.filter((l) => {
    const tags = hostVethTags(l);
    return tags !== undefined && tags.network === net && (!keep.has(tags.attachment) || peerGone(l, links));
  });
}

/**
 * What GC deletes of the host veths: the stale ones (staleHostVeths) but those whose attachment tag
 * is `spared` (a call runs on it, its ADD is newer than the list), and the unlabelled veths named in
 * `unlabelled` (the records of attachments GC holds the locks of: ADDs killed before labelling).
 */
export function doomedHostVeths(
  links: readonly Link[],
  network: string,
  valid: readonly AttachmentKey[],
  spared: ReadonlySet<string>,
  unlabelled: ReadonlySet<string>,
): Link[] {
  return [
    ...staleHostVeths(links, network, valid).filter((l) => !spared.has(hostVethTags(l)?.attachment ?? "")),
    ...links.filter((l) => l.kind === "veth" && (l.alias ?? "") === "" && unlabelled.has(l.name)),
  ];
}
