/**
 * `tether doctor`'s judgement, pure: from a snapshot of the node (attachment records, reservations,
 * host links, firewall rule tags, store files that did not parse) to the list of leaks, each with
 * what removing it takes.
 */
import { attachmentTag, networkTag, type RuleTags } from "../firewall/key";
import { listingText } from "../util/quote";
import type { AttachmentRecord } from "../attach/attachmentRecord";
import { hostVethTags, peerGone } from "../attach/hostVeth";
import type { Link } from "../kernel/port";
import type { AgentFinding } from "../agent/doctor";

export interface Snapshot {
  records: { dataDir: string; path: string; record: AttachmentRecord }[];
  reservations: { dataDir: string; network: string; address: string; containerId: string; ifname: string }[];
  links: Link[];
  /** Networks that keep attachment records (their records directory exists): a labelled host veth of one without a record is left over. */
  recordNetworks: ReadonlySet<string>;
  /** Names of the bridges tether's configs use. */
  bridges: ReadonlySet<string>;
  rules: RuleTags[];
  badFiles: { path: string; why: string; dir?: boolean }[];
  /** Whether a network namespace path still names a namespace. */
  netnsAlive(path: string): boolean;
}

export type Finding =
  | { kind: "leaked-attachment"; subject: string; detail: string; action: string; dataDir: string; recordPath: string; record: AttachmentRecord; addresses: string[]; veths: string[] }
  | { kind: "orphan-veth"; subject: string; detail: string; action: string; link: string }
  | { kind: "orphan-rules"; subject: string; detail: string; action: string; attachment: string }
  | { kind: "bad-store-file"; subject: string; detail: string; action: string; path: string }
  | AgentFinding;

export function diagnose(s: Snapshot): Finding[] {
  const out: Finding[] = [];
  const leakedTags = new Set<string>();
  for (const { dataDir, path, record } of s.records) {
    if (record.netns !== "" && s.netnsAlive(record.netns)) continue;
    const tag = attachmentTag(record);
    leakedTags.add(tag);
    const addresses = s.reservations
      .filter((r) => r.dataDir === dataDir && r.network === record.network && r.containerId === record.containerId && r.ifname === record.ifname)
      .map((r) => r.address);
    const veths = s.links.filter((l) => hostVethTags(l)?.attachment === tag).map((l) => l.name);
    out.push({
      kind: "leaked-attachment",
      subject: `${record.network} ${listingText(record.containerId)}/${listingText(record.ifname)}`,
      detail: `its network namespace ${record.netns || "(none)"} is gone; holds ${addresses.length > 0 ? addresses.join(", ") : "no address"}${veths.length > 0 ? `, host veth ${veths.join(", ")}` : ""}`,
      action: "release its addresses, remove its firewall rules, host veth and record (or have the runtime DEL it)",
      dataDir,
      recordPath: path,
      record,
      addresses,
      veths,
    });
  }
  // A host veth labelled for an attachment of a network that keeps records, with neither a record
  // nor a reservation: its DEL ran (or its ADD was undone) and missed it. Found by its label, whatever
  // the container calls its end.
  const recorded = new Set(s.records.map((r) => attachmentTag(r.record)));
  const reserved = new Set(s.reservations.map((r) => attachmentTag(r)));
  const recordNets = new Set([...s.recordNetworks].map(networkTag));
  const labelledOrphans = new Set<string>();
  for (const l of s.links) {
    const tags = hostVethTags(l);
    if (tags === undefined || !recordNets.has(tags.network) || recorded.has(tags.attachment) || reserved.has(tags.attachment)) continue;
    labelledOrphans.add(l.name);
    out.push({ kind: "orphan-veth", subject: l.name, detail: `host veth of attachment ${tags.attachment}, which has no record and no reservation (its DEL missed it)`, action: `delete link ${l.name}`, link: l.name });
  }
  for (const l of s.links) {
    if (labelledOrphans.has(l.name)) continue;
    const master = l.master === undefined ? undefined : s.links.find((b) => b.index === l.master);
    const ours = hostVethTags(l) !== undefined || (master !== undefined && s.bridges.has(master.name));
    if (!ours || !peerGone(l, s.links) || leakedTags.has(hostVethTags(l)?.attachment ?? "")) continue;
    out.push({ kind: "orphan-veth", subject: l.name, detail: `veth${master ? ` on bridge ${master.name}` : ""} whose peer is gone`, action: `delete link ${l.name}`, link: l.name });
  }
  const held = new Set([...s.reservations.map((r) => attachmentTag(r)), ...s.records.map((r) => attachmentTag(r.record))]);
  const ruleCount = new Map<string, number>();
  for (const r of s.rules) if (!held.has(r.attachment) && !leakedTags.has(r.attachment)) ruleCount.set(r.attachment, (ruleCount.get(r.attachment) ?? 0) + 1);
  for (const [attachment, n] of ruleCount) {
    out.push({ kind: "orphan-rules", subject: `attachment ${attachment}`, detail: `${n} firewall rule(s) with no reservation or attachment record`, action: "remove the rules", attachment });
  }
  for (const b of s.badFiles) {
    const action = b.dir ? `remove the directory ${b.path} when it is empty (one with content is left to you)` : `remove ${b.path}`;
    out.push({ kind: "bad-store-file", subject: b.path, detail: b.why, action, path: b.path });
  }
  return out;
}
