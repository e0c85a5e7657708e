/**
 * `tether doctor`'s judgement, pure: from a snapshot of the node (attachment records, reservations,
 * host links, firewall rule tags, store files that did not parse) to the list of leaks, each with
 * what removing it takes.
 */
import { attachmentTag, type RuleTags } from "../firewall/key";
import type { AttachmentRecord } from "../plugins/attachmentRecord";
import { hostVethTags, peerGone } from "../plugins/hostVeth";
import type { Link } from "../plugins/kernel";
import type { AgentFinding } from "../agent/doctor";

export interface Snapshot {
  records: { dataDir: string; path: string; record: AttachmentRecord }[];
  reservations: { dataDir: string; network: string; address: string; containerId: string; ifname: string }[];
  links: Link[];
  /** Names of the bridges tether's configs use. */
  bridges: ReadonlySet<string>;
  rules: RuleTags[];
  badFiles: { path: string; why: string }[];
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
      subject: `${record.network} ${record.containerId}/${record.ifname}`,
      detail: `its network namespace ${record.netns || "(none)"} is gone; holds ${addresses.length > 0 ? addresses.join(", ") : "no address"}${veths.length > 0 ? `, host veth ${veths.join(", ")}` : ""}`,
      action: "release its addresses, remove its firewall rules, host veth and record (or have the runtime DEL it)",
      dataDir,
      recordPath: path,
      record,
      addresses,
      veths,
    });
  }
  for (const l of s.links) {
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
  for (const b of s.badFiles) out.push({ kind: "bad-store-file", subject: b.path, detail: b.why, action: `remove ${b.path}`, path: b.path });
  return out;
}
