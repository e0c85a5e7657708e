/**
 * CNI GC (spec 1.1) for both modes: everything tether holds for an attachment of this network that
 * is not in the runtime's valid list goes: IPAM reservations (built-in, or GC forwarded to the
 * delegated IPAM), masquerade and spoof-check rules, host veths (their host routes and gateway
 * addresses go with them) and the attachment records. No list: nothing is deleted (the delegated
 * IPAM still gets the GC, to decide for itself). Every step runs even when an earlier one failed;
 * the failures come back together as one CNI error.
 */
import type { Invocation } from "../cni/dispatch";
import { CniError, ErrorCode } from "../cni/errors";
import { validAttachments, type NetConf } from "../config/netconf";
import type { AttachmentKey, Firewall } from "../firewall/index";
import { attachmentTag } from "../firewall/key";
import { asAddError } from "./attach";
import { listRecordFiles, recordsDataDir } from "./attachmentRecord";
import { staleHostVeths } from "./hostVeth";
import { ipamFor } from "./ipam";
import type { Kernel } from "./kernel";
import * as fs from "node:fs";

export interface StepFailure {
  what: string;
  error: unknown;
}

/** Run every step; the failures, in order. */
export async function runAllSteps(steps: readonly { what: string; run: () => Promise<void> | void }[]): Promise<StepFailure[]> {
  const failures: StepFailure[] = [];
  for (const step of steps) {
    try {
      await step.run();
    } catch (error) {
      failures.push({ what: step.what, error });
    }
  }
  return failures;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** One CNI error for all failures: the first one's code and message, every one in the details. */
export function combinedError(command: string, failures: readonly StepFailure[]): CniError {
  const first = failures[0];
  if (first === undefined) throw new Error("combinedError needs at least one failure");
  const mapped = asAddError(first.error);
  const code = mapped instanceof CniError ? mapped.code : ErrorCode.Internal;
  const msg = failures.length === 1 ? `${command}: ${first.what}: ${messageOf(first.error)}` : `${command}: ${failures.length} steps failed, first: ${first.what}: ${messageOf(first.error)}`;
  const details = failures.map((f) => `${f.what}: ${messageOf(f.error)}`).join("; ");
  return new CniError(code, msg, details, { cause: first.error });
}

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
    const failures = await runAllSteps(stale.map((l) => ({ what: `delete ${l.name}`, run: async () => void (await k.deleteLink(host, l.index)) })));
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
