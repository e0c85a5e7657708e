/**
 * CNI GC (spec 1.1) for both modes: everything tether holds for an attachment of this network that
 * is not in the runtime's valid list goes: IPAM reservations (built-in, or GC forwarded to the
 * delegated IPAM), masquerade and spoof-check rules, host veths (their host routes and gateway
 * addresses go with them), the attachment records and intents, and the lock files killed calls left
 * (only those no call holds, removed while locked: see attachmentLock.ts). No list: nothing is deleted (the delegated
 * IPAM still gets the GC, to decide for itself). Every step runs even when an earlier one failed;
 * the failures come back together as one CNI error.
 */
import type { Invocation } from "../cni/dispatch";
import { validAttachments, type NetConf } from "../config/netconf";
import type { AttachmentKey, Firewall } from "../firewall/index";
import { attachmentTag } from "../firewall/key";
import { attachmentLockHeld, removeStaleLocks } from "./attachmentLock";
import { listRecordFiles, recordsDataDir, type AttachmentRecord } from "../attach/attachmentRecord";
import { staleHostVeths } from "../attach/hostVeth";
import { ipamFor } from "../ipam/plugin/choice";
import type { Kernel } from "../kernel/port";
import { combinedError, messageOf, runAllSteps } from "./steps";
import fs = require("node:fs");

export function validKeys(conf: NetConf): AttachmentKey[] | undefined {
  return validAttachments(conf)?.map((a) => ({ network: conf.name, containerId: a.containerID, ifname: a.ifname }));
}

export async function gcNetwork(k: Kernel, fw: () => Firewall, inv: Invocation<NetConf>): Promise<void> {
  const network = inv.conf.name;
  const valid = validKeys(inv.conf);
  const ipam = ipamFor(inv);
  const steps: { what: string; run: () => Promise<void> | void }[] = [];
  if (ipam) steps.push({ what: `GC of IPAM ${ipam.type}`, run: () => ipam.gc() });
  if (valid !== undefined) {
    steps.push({ what: "stale firewall rules", run: () => fw().gc(network, valid) });
    const recordsDir = recordsDataDir(inv.raw["ipam"]);
    // An ADD killed before it labelled its host veth: the veth is known by the name its intent gave it.
    const unlabelled = recordsDir === undefined ? [] : staleRecords(recordsDir, network, valid).map((f) => f.record.hostIfname);
    steps.push({ what: "stale host veths", run: () => removeStaleHostVeths(k, network, valid, unlabelled) });
    if (recordsDir !== undefined) {
      steps.push({ what: "stale attachment records", run: () => removeStaleRecords(recordsDir, network, valid) });
    }
    // Last: a lock file goes only after what it guarded.
    steps.push({ what: "stale attachment locks", run: () => void removeStaleLocks(network, valid) });
  }
  const failures = await runAllSteps(steps);
  if (failures.length > 0) throw combinedError("GC", failures);
}

/** Each stale veth is its own attempt: one that cannot be deleted does not keep the others. */
async function removeStaleHostVeths(k: Kernel, network: string, valid: readonly AttachmentKey[], unlabelled: readonly string[]): Promise<void> {
  const host = await k.open();
  try {
    const links = await k.listLinks(host);
    const stale = [...staleHostVeths(links, network, valid), ...links.filter((l) => l.kind === "veth" && (l.alias ?? "") === "" && unlabelled.includes(l.name))];
    const failures = await runAllSteps(stale.map((l) => ({ what: `delete ${l.name}`, run: async () => { await k.deleteLink(host, l.index); } })));
    if (failures.length > 0) throw new Error(failures.map((f) => `${f.what}: ${messageOf(f.error)}`).join("; "));
  } finally {
    k.close(host);
  }
}

/** Records and intents of attachments not in the list; one whose lock a call holds (an ADD or DEL running) is not stale. */
function staleRecords(dataDir: string, network: string, valid: readonly AttachmentKey[]): { path: string; record: AttachmentRecord }[] {
  const keep = new Set(valid.map(attachmentTag));
  const out: { path: string; record: AttachmentRecord }[] = [];
  for (const f of listRecordFiles(dataDir, network)) {
    if (f.record === undefined || f.record.network !== network || keep.has(attachmentTag(f.record))) continue;
    if (attachmentLockHeld(f.record)) continue;
    out.push({ path: f.path, record: f.record });
  }
  return out;
}

function removeStaleRecords(dataDir: string, network: string, valid: readonly AttachmentKey[]): void {
  for (const f of staleRecords(dataDir, network, valid)) fs.rmSync(f.path, { force: true });
}
