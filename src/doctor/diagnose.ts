/**
 * `tether doctor`'s judgement, pure: from a snapshot of the node (attachment records and intents,
 * reservations, host links, firewall rule tags, store files that did not parse, lock files no call
 * holds) to the list of leaks, each with what removing it takes.
 */
import { attachmentTag, networkTag, type AttachmentKey, type RuleTags } from "../firewall/key";
import { listingText } from "../util/quote";
import type { AttachmentRecord } from "../attach/attachmentRecord";
import { hostVethTags, peerGone } from "../attach/hostVeth";
import type { Link } from "../kernel/port";
import type { AgentFinding } from "../agent/doctor";

export interface Snapshot {
  /** intent: an ADD's intent (written before its first resource, renamed to the record when it succeeded). */
  records: { dataDir: string; path: string; record: AttachmentRecord; intent?: boolean }[];
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
  /** Whether a call (an ADD in progress) holds the attachment's lock now; absent: none does. */
  lockHeld?(key: AttachmentKey): boolean;
  /** Lock files of the networks looked at that no call held (what killed calls left). */
  locks?: string[];
  /** The lock file path of an attachment (excluded from `locks` findings when the attachment's fix removes it). */
  lockPathOf?(key: AttachmentKey): string;
}

export type Finding =
  | { kind: "leaked-attachment" | "interrupted-add"; subject: string; detail: string; action: string; dataDir: string; recordPath: string; record: AttachmentRecord; addresses: string[]; veths: string[] }
  | { kind: "stale-lock"; subject: string; detail: string; action: string; path: string }
  | { kind: "orphan-veth"; subject: string; detail: string; action: string; link: string }
  | { kind: "orphan-rules"; subject: string; detail: string; action: string; attachment: string }
  | { kind: "bad-store-file"; subject: string; detail: string; action: string; path: string }
  | AgentFinding;

export function diagnose(s: Snapshot): Finding[] {
  const out: Finding[] = [];
  const leakedTags = new Set<string>();
  const handledLocks = new Set<string>();
  for (const { dataDir, path, record, intent } of s.records) {
    const alive = record.netns !== "" && s.netnsAlive(record.netns);
    // An intent whose netns lives: an ADD still running (it holds the lock) or one that was killed.
    if (alive && (intent !== true || s.lockHeld?.(record) === true)) continue;
    const tag = attachmentTag(record);
    leakedTags.add(tag);
    if (s.lockPathOf) handledLocks.add(s.lockPathOf(record));
    const addresses = s.reservations
      .filter((r) => r.dataDir === dataDir && r.network === record.network && r.containerId === record.containerId && r.ifname === record.ifname)
      .map((r) => r.address);
    const veths = s.links.filter((l) => hostVethTags(l)?.attachment === tag || (l.kind === "veth" && (l.alias ?? "") === "" && l.name === record.hostIfname)).map((l) => l.name);
    const rules = s.rules.filter((r) => r.attachment === tag).length;
    const holds = [
      addresses.length > 0 ? `address reservation(s) ${addresses.join(", ")}` : "no address",
      ...(veths.length > 0 ? [`host veth ${veths.join(", ")}${alive ? ` (container end in ${record.netns})` : ""}`] : []),
      ...(rules > 0 ? [`${rules} firewall rule(s)`] : []),
    ].join(", ");
    const subject = `${record.network} ${listingText(record.containerId)}/${listingText(record.ifname)}`;
    if (alive) {
      out.push({
        kind: "interrupted-add",
        subject,
        detail: `an ADD into ${record.netns} did not finish (killed, or its rollback failed) and no call runs for it now; holds ${holds}`,
        action: "roll it back as DEL would: release its addresses, remove its firewall rules, veth, intent and lock (or have the runtime DEL it)",
        dataDir,
        recordPath: path,
        record,
        addresses,
        veths,
      });
      continue;
    }
    out.push({
      kind: "leaked-attachment",
      subject,
      detail: `its network namespace ${record.netns || "(none)"} is gone${intent === true ? " (its ADD did not finish)" : ""}; holds ${holds}`,
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
  for (const path of s.locks ?? []) {
    if (handledLocks.has(path)) continue;
    out.push({ kind: "stale-lock", subject: path, detail: "attachment lock file no call holds (a call was killed holding it)", action: `remove ${path} (only while no call holds it)`, path });
  }
  for (const b of s.badFiles) {
    const action = b.dir ? `remove the directory ${b.path} when it is empty (one with content is left to you)` : `remove ${b.path}`;
    out.push({ kind: "bad-store-file", subject: b.path, detail: b.why, action, path: b.path });
  }
  return out;
}
