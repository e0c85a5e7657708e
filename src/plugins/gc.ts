/**
 * CNI GC (spec 1.1) for both modes: everything tether holds for an attachment of this network that
 * is not in the runtime's valid list goes: IPAM reservations (built-in, or GC forwarded to the
 * delegated IPAM), masquerade and spoof-check rules, host veths (their host routes and gateway
 * addresses go with them) and the attachment records. No list: nothing is deleted (the delegated
 * IPAM still gets the GC, to decide for itself). Every step runs even when an earlier one failed;
 * the failures come back together as one CNI error.
 */
import type { Invocation } from "../cni/dispatch";
import { validAttachments, type NetConf } from "../config/netconf";
import type { AttachmentKey, Firewall } from "../firewall/index";
import { attachmentTag } from "../firewall/key";
import { listRecordFiles, recordsDataDir } from "../attach/attachmentRecord";
import { staleHostVeths } from "../attach/hostVeth";
import { ipamFor } from "../ipam/plugin/choice";
import type { Kernel } from "../kernel/port";
import { combinedError, messageOf, runAllSteps } from "./steps";
import * as fs from "node:fs";

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
    steps.push({ what: "stale host veths", run: () => removeStaleHostVeths(k, network, valid) });
    const recordsDir = recordsDataDir(inv.raw["ipam"]);
    if (recordsDir !== undefined) {
      steps.push({ what: "stale attachment records", run: () => removeStaleRecords(recordsDir, network, valid) });
    }
  }
  const failures = await runAllSteps(steps);
  if (failures.length > 0) throw combinedError("GC", failures);
}

/** Each stale veth is its own attempt: one that cannot be deleted does not keep the others. */
async function removeStaleHostVeths(k: Kernel, network: string, valid: readonly AttachmentKey[]): Promise<void> {
  const host = await k.open();
  try {
    const stale = staleHostVeths(await k.listLinks(host), network, valid);
    const failures = await runAllSteps(stale.map((l) => ({ what: `delete ${l.name}`, run: async () => { await k.deleteLink(host, l.index); } })));
    if (failures.length > 0) throw new Error(failures.map((f) => `${f.what}: ${messageOf(f.error)}`).join("; "));
  } finally {
    k.close(host);
  }
}

function removeStaleRecords(dataDir: string, network: string, valid: readonly AttachmentKey[]): void {
  const keep = new Set(valid.map(attachmentTag));
  for (const f of listRecordFiles(dataDir, network)) {
    if (f.record !== undefined && f.record.network === network && !keep.has(attachmentTag(f.record))) fs.rmSync(f.path, { force: true });
  }
}
