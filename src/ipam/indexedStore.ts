/**
 * The host-local directory store plus tether's owner index (ownerIndex.ts): the same files, the same
 * flock, but finding an owner's addresses costs a hash lookup and a read of those addresses' files
 * instead of a read of every file. Without a usable index (read-only data directory, a full
 * filesystem, say) every call goes to the directory scan, exactly as before: when the store runs
 * out of space the index file is removed first, so the reservation gets the room host-local would.
 */
import { type DiskStore, ownerKey } from "./diskStore";
import { type Ip, formatIp } from "../ip/ip";
import { type FileId, type IndexRefresh, OwnerIndex } from "./ownerIndex";
import { ctimeMs, statName } from "./storeScan";
import type { IpamStore, Owner } from "./store";

export class IndexedStore implements IpamStore {
  private index: OwnerIndex | undefined;
  /** A primitive failed half-way: leave the index dirty so the next call rebuilds it. */
  private broken = false;
  /** The index ran out of space (ENOSPC, EDQUOT): it is removed at the end of the call. */
  private noSpace = false;
  /** For tests: whether the last critical section had to rebuild the index from the directory. */
  lastRebuilt = false;
  /** For tests and the benchmark: how the last critical section's index was brought up to date. */
  lastRefresh: IndexRefresh | "none" = "none";
  /** For tests and the benchmark: address files the last refresh read. */
  lastFilesRead = 0;
  /** For tests: listings the last critical section made to check an unsettled stamp. */
  lastNamesChecked = 0;

  constructor(
    readonly disk: DiskStore,
    private readonly dataDir: string,
    private readonly network: string,
    private readonly rangeSetCount: number,
  ) {}

  withLock<T>(fn: () => T): T {
    return this.disk.withLock(() => {
      this.broken = false;
      this.noSpace = false;
      this.index = OwnerIndex.open(this.dataDir, this.network, this.disk.dir, this.rangeSetCount, (ip) => this.disk.holderOf(ip)?.trim());
      this.lastRebuilt = this.index?.rebuilt ?? false;
      this.lastRefresh = this.index?.refresh ?? "none";
      this.lastFilesRead = this.index?.filesRead ?? 0;
      this.lastNamesChecked = this.index?.namesChecked ?? 0;
      try {
        return fn();
      } finally {
        const idx = this.index;
        this.index = undefined;
        if (idx !== undefined) {
          try {
            if (!this.broken) idx.commit();
          } catch (err) {
            // the header stays dirty: the next call refreshes
            if (isNoSpace(err)) this.noSpace = true;
          } finally {
            if (this.noSpace) idx.discard();
            else idx.close();
          }
        }
      }
    });
  }

  /** Run an index update; any failure leaves the index untrusted instead of failing the call. */
  private guard(fn: (idx: OwnerIndex) => void): void {
    const idx = this.index;
    if (idx === undefined || this.broken) return;
    try {
      fn(idx);
    } catch (err) {
      this.broken = true;
      if (isNoSpace(err)) this.noSpace = true;
    }
  }

  /** Stop using the index and remove its file now (its space is what the store needs). */
  private dropIndex(): boolean {
    const idx = this.index;
    if (idx === undefined) return false;
    this.index = undefined;
    this.broken = true;
    idx.discard();
    return true;
  }

  names(): Set<string> {
    return this.disk.names();
  }

  reserve(ip: Ip, owner: Owner, rangeSetIndex: number): boolean {
    this.guard((idx) => idx.markDirty());
    let ok: boolean;
    try {
      ok = this.disk.reserve(ip, owner, rangeSetIndex);
    } catch (err) {
      this.broken = true;
      // Out of space with an index on the same filesystem: the index goes, the reservation gets another try.
      if (!isNoSpace(err) || !this.dropIndex()) throw err;
      ok = this.disk.reserve(ip, owner, rangeSetIndex);
    }
    if (ok) {
      this.guard((idx) => {
        const id = this.fileId(ip);
        if (id === undefined) idx.invalidate();
        else idx.insert(ownerKey(owner), ip, id);
      });
    }
    return ok;
  }

  /** The identity (inode, ctime) of an address file, as the index records it (the refresh's own source, so both compare equal). */
  private fileId(ip: Ip): FileId | undefined {
    const st = statName(this.disk.dir, formatIp(ip));
    if (st === undefined) return undefined;
    return { ino: st.ino, ctimeMs: ctimeMs(st) };
  }

  lastReserved(rangeSetIndex: number): Ip | undefined {
    return this.disk.lastReserved(rangeSetIndex);
  }

  holderOf(ip: Ip): string | undefined {
    return this.disk.holderOf(ip);
  }

  /**
   * The index's candidates for a key, each confirmed by the file's content; stale entries (released
   * by host-local since, or never completed) are dropped from the index on the way.
   */
  private confirmed(key: string): Ip[] | undefined {
    const idx = this.index;
    if (idx === undefined || this.broken) return undefined;
    try {
      const out: Ip[] = [];
      for (const e of idx.lookup(key)) {
        if (this.disk.holderOf(e.ip)?.trim() === key) out.push(e.ip);
        else idx.remove(e.slot);
      }
      return out;
    } catch {
      this.broken = true;
      return undefined;
    }
  }

  findByOwner(owner: Owner): Ip[] {
    const exact = this.confirmed(ownerKey(owner));
    const legacy = this.confirmed(owner.containerId.trim());
    if (exact === undefined || legacy === undefined) return this.disk.findByOwner(owner);
    return [...exact, ...legacy];
  }

  releaseByOwner(owner: Owner): Ip[] {
    const key = ownerKey(owner);
    const exact = this.confirmed(key);
    if (exact === undefined) return this.fallback(() => this.disk.releaseByOwner(owner));
    let victims = exact;
    let victimKey = key;
    if (victims.length === 0) {
      const legacy = this.confirmed(owner.containerId.trim());
      if (legacy === undefined) return this.fallback(() => this.disk.releaseByOwner(owner));
      victims = legacy;
      victimKey = owner.containerId.trim();
    }
    const released: Ip[] = [];
    for (const ip of victims) {
      this.guard((idx) => idx.markDirty());
      if (this.disk.removeIp(ip)) released.push(ip);
      this.guard((idx) => idx.removeEntry(victimKey, ip));
    }
    return released;
  }

  releaseIp(ip: Ip, owner: Owner): boolean {
    this.guard((idx) => idx.markDirty());
    const ok = this.disk.releaseIp(ip, owner);
    if (ok) this.guard((idx) => idx.removeEntry(ownerKey(owner), ip));
    return ok;
  }

  releaseUnless(keep: (owner: Owner) => boolean): Ip[] {
    return this.fallback(() => this.disk.releaseUnless(keep));
  }

  /** A change made by scanning the directory: the index is refreshed from it at the next call. */
  private fallback<T>(fn: () => T): T {
    this.guard((idx) => idx.invalidate());
    return fn();
  }
}

/** ENOSPC or EDQUOT, directly or as the cause of an IpamError. */
function isNoSpace(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 3; depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === "ENOSPC" || code === "EDQUOT") return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
