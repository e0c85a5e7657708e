/**
 * CNI GC (spec 1.1) for both modes: everything tether holds for an attachment of this network that
 * is not in the runtime's valid list goes: IPAM reservations (built-in, or GC forwarded to the
 * delegated IPAM), masquerade and spoof-check rules, host veths (their host routes and gateway
 * addresses go with them), the attachment records and intents, and the lock files killed calls left.
 * No list: nothing is deleted (the delegated IPAM still gets the GC, to decide for itself). Every
 * step runs even when an earlier one failed; the failures come back together as one CNI error.
 *
 * Safe against calls running meanwhile, also on attachments the list does not name (a runtime that
 * starts an ADD after it computed its list). GC takes each stale attachment's lock without waiting
 * (the ADD/DEL/CHECK lock, attachmentLock.ts), and only what it holds the lock of goes whole:
 *  - a lock it cannot take is a call running now: that attachment is skipped (and logged);
 *  - under the lock it looks at the record again: one an ADD wrote or completed since this GC
 *    process started belongs to an ADD that ran after the runtime computed its list: skipped too;
 *  - what it finds only by tag (a host veth label, a rule comment: no key to lock by) goes only when
 *    no record, intent or running call names that tag, looked at after the listing (veths) or under
 *    the firewall lock (rules), so an ADD's resource is always seen with what protects it (its
 *    intent and lock exist before its first resource). Veths go by index: a new ADD's veth is
 *    another link.
 * Lock order as ADD's: attachment locks first, then the IPAM store's and the firewall's. A DEL
 * running alongside finds the attachment locked or already gone: both are success for it.
 */
import type { Invocation } from "../cni/dispatch";
import { validAttachments, type NetConf } from "../config/netconf";
import type { AttachmentKey, Firewall } from "../firewall/index";
import { attachmentTag } from "../firewall/key";
import { ATTACHMENT_LOCK_ROOT, heldLockKeys, removeStaleLocks, tryAttachmentLock, type HeldLock } from "./attachmentLock";
import { listRecordFiles, readRecord, recordTagsWhere, recordTimes, recordsDataDir, removeRecord, type RecordTimes } from "../attach/attachmentRecord";
import { doomedHostVeths } from "../attach/hostVeth";
import { ipamFor, type Ipam } from "../ipam/plugin/choice";
import type { Kernel } from "../kernel/port";
import { IPAM_TYPE } from "../util/defaults";
import { log } from "../util/log";
import { combinedError, messageOf, runAllSteps, type StepFailure } from "./steps";

export function validKeys(conf: NetConf): AttachmentKey[] | undefined {
  return validAttachments(conf)?.map((a) => ({ network: conf.name, containerId: a.containerID, ifname: a.ifname }));
}

/**
 * `since`: when this GC began, as far as its list is concerned: the runtime computed the list before
 * it started the process, so an ADD that began or ended after the process started ran after the
 * list was made. Tests that run GC inside their own process set it (and the lock root).
 */
export const gcEnv = {
  since: (): number => Date.now() - process.uptime() * 1000,
  lockRoot: ATTACHMENT_LOCK_ROOT,
};
/** How far the kernel's coarse clock (file times) may lag: a tick (10 ms at HZ 100, the lowest). */
const CLOCK_SLACK_MS = 10;
/** Locks held at once (one descriptor each; a low open-file limit must not fail a big GC). */
const BATCH = 64;

interface Stale {
  key: AttachmentKey;
  tag: string;
}

interface Locked extends Stale {
  lock: HeldLock;
  /** The host veth's name from its record (an ADD killed before it labelled the veth). */
  hostIfname: string | undefined;
}

export async function gcNetwork(k: Kernel, fw: () => Firewall, inv: Invocation<NetConf>): Promise<void> {
  const valid = validKeys(inv.conf);
  const ipam = ipamFor(inv);
  if (valid === undefined) {
    const failures = await runAllSteps(ipam ? [{ what: `GC of IPAM ${ipam.type}`, run: () => ipam.gc() }] : []);
    if (failures.length > 0) throw combinedError("GC", failures);
    return;
  }
  const run = new GcRun(k, fw, inv.conf.name, valid, recordsDataDir(inv.raw["ipam"]), ipam, gcEnv.since());
  const failures = await run.all();
  if (failures.length > 0) throw combinedError("GC", failures);
}

class GcRun {
  private readonly validTags: Set<string>;
  /** Attachments left alone: a call runs on them, or their ADD is newer than the list. */
  private readonly skipped = new Map<string, AttachmentKey>();
  /** Stale attachments not yet dealt with (a later batch): what they hold is spared meanwhile. */
  private readonly pending = new Map<string, AttachmentKey>();
  private readonly failures: StepFailure[] = [];
  /** The lock files this GC holds now (a killed call's key may still be written in one). */
  private readonly ownLocks = new Set<string>();

  constructor(
    private readonly k: Kernel,
    private readonly fw: () => Firewall,
    private readonly network: string,
    private readonly valid: readonly AttachmentKey[],
    private readonly dataDir: string | undefined,
    private readonly ipam: Ipam | undefined,
    private readonly since: number,
  ) {
    this.validTags = new Set(valid.map(attachmentTag));
  }

  async all(): Promise<StepFailure[]> {
    const stale = this.candidates();
    for (const s of stale) this.pending.set(s.tag, s.key);
    // At least one pass: what is known only by tag goes even when no attachment is stale by key.
    for (let i = 0; i === 0 || i < stale.length; i += BATCH) {
      const batch = stale.slice(i, i + BATCH);
      for (const s of batch) this.pending.delete(s.tag);
      const locked = this.lockAll(batch);
      for (const l of locked) this.ownLocks.add(l.lock.path);
      try {
        await this.removeLocked(locked);
      } finally {
        for (const l of locked) l.lock.release();
        this.ownLocks.clear();
      }
    }
    if (this.ipam !== undefined && this.ipam.type !== IPAM_TYPE) {
      await this.step(`GC of IPAM ${this.ipam.type}`, () => this.ipam?.gc({ release: [], keep: this.spared().keys }));
    }
    // Last: a lock file goes only after what it guarded.
    await this.step("stale attachment locks", () => void removeStaleLocks(this.network, this.valid, gcEnv.lockRoot));
    if (this.skipped.size > 0) {
      // Warned: a runtime that runs ADDs of attachments outside the list alongside GC is racing it.
      log.warn(`GC left ${this.skipped.size} attachment(s) not in the valid list alone: a call on them is running, or their ADD began or ended after this GC started`, {
        attachments: [...this.skipped.values()].map((key) => `${key.containerId}/${key.ifname}`),
      });
    }
    return this.failures;
  }

  /**
   * An ADD that began or ended after this GC started. File times come from the kernel's coarse
   * clock, up to a tick behind: a start errs towards "newer" by the slack; an end gets none, so an
   * ADD that ended before GC started is never taken for a newer one (it ends long after it began).
   */
  private readonly newerThanList = (t: RecordTimes): boolean => t.beganMs >= this.since - CLOCK_SLACK_MS || t.endedMs >= this.since;

  /** Stale attachments known by key: records and intents, reservations of the built-in store. */
  private candidates(): Stale[] {
    const out = new Map<string, Stale>();
    const add = (key: AttachmentKey): void => {
      const tag = attachmentTag(key);
      if (!this.validTags.has(tag) && !out.has(tag)) out.set(tag, { key, tag });
    };
    if (this.dataDir !== undefined) {
      for (const f of listRecordFiles(this.dataDir, this.network)) {
        if (f.record !== undefined && f.record.network === this.network) add({ network: this.network, containerId: f.record.containerId, ifname: f.record.ifname });
      }
    }
    if (this.ipam?.owners !== undefined) {
      try {
        for (const o of this.ipam.owners()) add({ network: this.network, ...o });
      } catch (e) {
        this.failures.push({ what: "list of reservations", error: e });
      }
    }
    return [...out.values()];
  }

  /** Each attachment's lock, without waiting; under it, one whose ADD began or ended after this GC started is let go. */
  private lockAll(batch: readonly Stale[]): Locked[] {
    const locked: Locked[] = [];
    for (const s of batch) {
      let lock: HeldLock | undefined;
      try {
        lock = tryAttachmentLock(s.key, { root: gcEnv.lockRoot });
      } catch (e) {
        this.failures.push({ what: `lock of ${s.key.containerId}/${s.key.ifname}`, error: e });
      }
      if (lock === undefined) {
        this.skipped.set(s.tag, s.key);
        continue;
      }
      if (this.dataDir !== undefined && recordTimes(this.dataDir, s.key).some(this.newerThanList)) {
        lock.release();
        this.skipped.set(s.tag, s.key);
        continue;
      }
      const record = this.dataDir === undefined ? undefined : readRecord(this.dataDir, s.key);
      locked.push({ ...s, lock, hostIfname: record?.hostIfname });
    }
    return locked;
  }

  /**
   * What must not go now, by tag and by key: skipped and pending attachments, those with a call
   * running, and ADDs newer than the list. Looked at anew each time (after a listing, under a lock).
   */
  private spared(): { tags: Set<string>; keys: AttachmentKey[] } {
    const keys = new Map<string, AttachmentKey>([...this.skipped, ...this.pending]);
    try {
      for (const key of heldLockKeys(this.network, this.ownLocks, gcEnv.lockRoot)) keys.set(attachmentTag(key), key);
    } catch (e) {
      log.warn("GC: running calls not known", { error: messageOf(e) });
    }
    const tags = new Set(keys.keys());
    if (this.dataDir !== undefined) for (const tag of recordTagsWhere(this.dataDir, this.network, this.newerThanList)) tags.add(tag);
    return { tags, keys: [...keys.values()] };
  }

  private async removeLocked(locked: readonly Locked[]): Promise<void> {
    const before = this.failures.length;
    const { ipam } = this;
    if (ipam !== undefined && ipam.type === IPAM_TYPE) {
      await this.step(`GC of IPAM ${ipam.type}`, () => ipam.gc({ release: locked.map((l) => l.key), keep: this.spared().keys }));
    }
    await this.step("stale firewall rules", () => this.fw().gc(this.network, this.valid, () => this.spared().tags));
    await this.step("stale host veths", () => this.removeHostVeths(locked));
    // A record goes only when everything else of its batch did (else doctor and the next GC still see it).
    if (this.failures.length > before || this.dataDir === undefined) return;
    const dataDir = this.dataDir;
    await this.step("stale attachment records", () => {
      for (const l of locked) removeRecord(dataDir, l.key);
    });
  }

  /** Each stale veth is its own attempt: one that cannot be deleted does not keep the others. */
  private async removeHostVeths(locked: readonly Locked[]): Promise<void> {
    const host = await this.k.open();
    try {
      const links = await this.k.listLinks(host);
      // Spared: looked at after the listing, so an ADD's veth in it is seen with its intent or lock.
      const unlabelled = new Set(locked.flatMap((l) => (l.hostIfname === undefined ? [] : [l.hostIfname])));
      const doomed = doomedHostVeths(links, this.network, this.valid, this.spared().tags, unlabelled);
      const failures = await runAllSteps(
        doomed.map((l) => ({
          what: `delete ${l.name}`,
          run: async () => {
            await this.k.deleteLink(host, l.index);
          },
        })),
      );
      if (failures.length > 0) throw new Error(failures.map((f) => `${f.what}: ${messageOf(f.error)}`).join("; "));
    } finally {
      this.k.close(host);
    }
  }

  private async step(what: string, run: () => Promise<void> | void): Promise<void> {
    this.failures.push(...(await runAllSteps([{ what, run }])));
  }
}
