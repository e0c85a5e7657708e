/**
 * An attachment's identity (network, container id, ifname) and what lets DEL, GC and doctor find it
 * later: its record, the host veth's label.
 */
import type { Invocation } from "../cni/dispatch";
import type { NetConf } from "../config/netconf";
import type { AttachmentKey } from "../firewall/index";
import type { Kernel, Link, Ns } from "../kernel/port";
import { log } from "../util/log";
import { randomHex } from "../util/random";
import type { Rollback } from "../util/rollback";
import fs = require("node:fs");
import { completeIntent, readRecord, readRecordState, recordPath, recordsDataDir, removeRecord, writeIntent, type AttachmentRecord } from "./attachmentRecord";
import { hostVethAlias } from "./hostVeth";
import { PluginError } from "./errors";

export function attachmentKey(inv: Invocation<NetConf>): AttachmentKey {
  return { network: inv.conf.name, containerId: inv.env.containerId, ifname: inv.env.ifname };
}

/**
 * The attachment's record, written before its first resource exists as an intent (renamed to the
 * record by completeAttachment when the ADD succeeds): its netns path and the name its host veth will get. So a DEL or `tether doctor` after an ADD killed at any point
 * knows what the attachment may hold, and DEL can tell its veth from one tether never made. Best
 * effort: without it doctor is blind to a killed ADD, nothing more. The rollback removes it last,
 * and only when every other undo worked (what is left stays visible to doctor).
 */
export function declareAttachment(inv: Invocation<NetConf>, rollback: Rollback): string {
  const key = attachmentKey(inv);
  const hostIfname = `veth${randomHex(4)}`;
  const dataDir = recordsDataDir(inv.raw["ipam"]);
  if (dataDir === undefined) return hostIfname;
  // A record of the same key: an attachment that exists (this ADD will be refused) or one whose DEL
  // never came. It is theirs as much as ours: kept (its veth name too), never removed by a rollback.
  const existing = readRecordState(dataDir, key);
  if (existing !== undefined) {
    // Another namespace: this ADD's intent, in the record's place (completeAttachment makes it the record again).
    if (existing.record.netns !== inv.env.netns) {
      try {
        writeIntent(dataDir, { ...existing.record, netns: inv.env.netns });
        if (!existing.intent) fs.rmSync(recordPath(dataDir, key), { force: true });
      } catch (e) {
        log.warn("attachment record not updated", { error: String(e) });
      }
    }
    return existing.record.hostIfname;
  }
  rollback.push("remove attachment record", () => {
    if (rollback.failedSoFar > 0) throw new Error("kept: an earlier undo failed, the record lets DEL and doctor find what is left");
    removeRecord(dataDir, key);
  });
  try {
    writeIntent(dataDir, { ...key, netns: inv.env.netns, hostIfname });
  } catch (e) {
    log.warn("attachment record not written", { error: String(e) });
  }
  return hostIfname;
}

/**
 * The ADD succeeded: its intent becomes the attachment's record. A failure fails the ADD (its
 * rollback runs): an intent left beside a working attachment would let `doctor --fix` undo it.
 */
export function completeAttachment(inv: Invocation<NetConf>): void {
  const dataDir = recordsDataDir(inv.raw["ipam"]);
  if (dataDir === undefined) return;
  try {
    completeIntent(dataDir, attachmentKey(inv));
  } catch (e) {
    throw new PluginError("io", `cannot complete the attachment record in ${dataDir}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, undefined, { cause: e });
  }
}

/** Label the host veth with the attachment's key (IFLA_IFALIAS): GC, DEL and doctor find it by that. */
export async function labelHostVeth(k: Kernel, host: Ns, hostVeth: Link, inv: Invocation<NetConf>): Promise<void> {
  await k.setAlias(host, hostVeth.index, hostVethAlias(attachmentKey(inv)));
}

/** The attachment's record, if it has one that parses. */
export function attachmentRecordOf(inv: Invocation<NetConf>): AttachmentRecord | undefined {
  const dataDir = recordsDataDir(inv.raw["ipam"]);
  return dataDir === undefined ? undefined : readRecord(dataDir, attachmentKey(inv));
}

/** DEL: the attachment's record goes (best effort: a leftover record only makes doctor look twice). */
export function forgetAttachment(inv: Invocation<NetConf>): void {
  const dataDir = recordsDataDir(inv.raw["ipam"]);
  if (dataDir === undefined) return;
  try {
    removeRecord(dataDir, attachmentKey(inv));
  } catch (e) {
    log.warn("attachment record not removed", { error: String(e) });
  }
}

