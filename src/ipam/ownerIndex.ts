/**
 * tether's owner index beside a host-local store: (containerId, ifname) -> addresses in O(1).
 *
 * host-local keeps no index: it reads every file of `<dataDir>/<network>` on each ADD (duplicate
 * check) and DEL (release by owner). tether keeps one file per network in a sibling directory,
 * `<dataDir>/.tether-index/<network>`, which host-local never reads (it only walks its own network
 * directory) and which no network name can collide with (names start with a letter or digit).
 *
 * The host-local files stay authoritative. The index is a hint that is trusted as is only when its
 * stamp matches the store: the network directory's inode, mtime and ctime (nanoseconds; every create
 * or unlink by anyone changes them) and the content and times of each `last_reserved_ip.<i>`
 * (host-local rewrites it on every reservation). Otherwise (host-local reserved or released, a crash
 * of tether mid-operation left the header dirty) the index is refreshed incrementally: one listing
 * of the directory and an lstat per name; each slot remembers the inode and ctime of the file it was
 * read from, so only files that are new or changed (a new inode or ctime: host-local creates a new
 * file for every reservation) are read, and slots whose file is gone are dropped. Every answer the
 * index gives is still checked against the address file's content before it is acted on or
 * returned, so a stale entry can cost a lookup but never a wrong release.
 *
 * Layout: a 1024-byte header (magic, clean flag, slot count, used and tombstone counts, the stamp as
 * JSON), then an open-addressing hash table of 48-byte slots (state, family, 96-bit owner hash,
 * 16-byte address, the file's inode and ctime), linear probing, sized for at most 50 % load when
 * (re)built and rehashed above 75 %. It starts at 16 slots (under 2 KiB): an index reserves no space
 * it does not need, and one that cannot be written (ENOSPC, say) is removed and not used.
 */
import fs = require("node:fs");
import { join } from "node:path";
import { type FileStat, statAtFn } from "../sys/libc";
import { ownedDirProblem } from "../util/ownedDir";
import { type Family, type Ip, formatIp, parseIp } from "../ip/ip";

const { O_CREAT, O_NOFOLLOW, O_RDWR } = fs.constants;

export const INDEX_DIR = ".tether-index";
const MAGIC = "TETHIDX2";
const HEADER = 1024;
const SLOT = 48;
const CHUNK = 64;
const EMPTY = 0;
const USED = 1;
const TOMB = 2;
/** Above this load (used + tombstones) the table is rehashed. */
const MAX_LOAD = 0.75;
/** A (re)built table is sized for at most this load. */
const BUILD_LOAD = 0.5;
const MIN_SLOTS = 16;
/** Slot fields. */
const S_FAMILY = 1;
const S_HASH = 4;
const S_IP = 16;
const S_INO = 32;
const S_CTIME = 40;

export interface IndexEntry {
  slot: number;
  ip: Ip;
}

/** What must be unchanged for the index to be trusted. */
interface Stamp {
  ino: string;
  mtime: string;
  ctime: string;
  /** last_reserved_ip.<i>: [content, mtime, ctime] or null when absent. */
  lr: Record<string, [string, string, string] | null>;
}

export const LAST_RESERVED_PREFIX = "last_reserved_ip.";

/** A file's identity as the index remembers it: an entry is re-read when either differs. */
export interface FileId {
  ino: number;
  ctimeMs: number;
}

/** How open() came to trust the index (tests and the benchmark look at it). */
export type IndexRefresh = "trusted" | "incremental" | "full";

/** Three 32-bit string hashes (seeded murmur-like mixing): 96 bits, no crypto module to load. */
export function ownerHash(key: string): Buffer {
  const out = Buffer.alloc(12);
  for (let s = 0; s < 3; s++) {
    let h = (0x9747b28c ^ Math.imul(s + 1, 0x85ebca6b)) >>> 0;
    for (let i = 0; i < key.length; i++) {
      let k = Math.imul(key.charCodeAt(i), 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      h ^= Math.imul(k, 0x1b873593);
      h = (h << 13) | (h >>> 19);
      h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    }
    h ^= key.length;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    out.writeUInt32BE(h >>> 0, s * 4);
  }
  return out;
}

function ipBytes(ip: Ip, buf: Buffer, off: number): void {
  let v = ip.value;
  for (let i = 15; i >= 0; i--) {
    buf[off + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

function ipFrom(buf: Buffer, off: number, family: Family): Ip {
  let v = 0n;
  for (let i = 0; i < 16; i++) v = (v << 8n) | BigInt(buf[off + i] ?? 0);
  return { family, value: v };
}

/**
 * lstat of names in `dir`: fstatat through libc when possible (no Stats object per name: at 50,000
 * names that garbage alone is over 10 MiB of peak RSS), else fs.lstatSync. Call close() after.
 */
export function dirStatter(dir: string): { stat: (name: string) => FileStat | undefined; close: () => void } {
  let fd = -1;
  try {
    fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    const fn = statAtFn(fd);
    if (fn !== undefined) {
      const dirFd = fd;
      return { stat: fn, close: () => fs.closeSync(dirFd) };
    }
  } catch {
    // no libc through koffi here: Node's lstat
  }
  if (fd >= 0) fs.closeSync(fd);
  const prefix = `${dir}/`;
  return {
    stat: (name) => {
      const st = fs.lstatSync(prefix + name, { throwIfNoEntry: false });
      return st === undefined ? undefined : { isFile: st.isFile(), ino: st.ino, ctimeMs: st.ctimeMs };
    },
    close: () => undefined,
  };
}

/** The file name of a slot's address (as formatIp writes it), without BigInt work for IPv4. */
function slotName(buf: Buffer, off: number): string {
  if (buf[off + S_FAMILY] === 4) {
    const b = off + S_IP + 12;
    return `${buf[b]}.${buf[b + 1]}.${buf[b + 2]}.${buf[b + 3]}`;
  }
  return formatIp(ipFrom(buf, off + S_IP, 6));
}

function slotsFor(entries: number): number {
  let p = MIN_SLOTS;
  while (p * BUILD_LOAD < entries + 1) p *= 2;
  return p;
}

function tryStat(path: string): fs.BigIntStats | undefined {
  try {
    return fs.lstatSync(path, { bigint: true });
  } catch {
    return undefined;
  }
}

function readText(path: string): string | undefined {
  try {
    const fd = fs.openSync(path, fs.constants.O_RDONLY | O_NOFOLLOW | fs.constants.O_NONBLOCK);
    try {
      const buf = Buffer.allocUnsafe(256);
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      return buf.toString("utf8", 0, n);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

/**
 * How the index reads the store: the trimmed content of an address file ("id\r\nifname", or "id"
 * for legacy files), or undefined when it is not a readable regular file.
 */
export type ReadHolder = (ip: Ip) => string | undefined;

/**
 * The index of one network. Every method must run while the caller holds the store's flock.
 * `open` returns undefined when the index cannot be kept (unwritable data directory, a symlink or
 * a foreign file in its place, no space left): the caller then works from the directory alone, as
 * host-local does.
 */
export class OwnerIndex {
  private slots = 0;
  private used = 0;
  private tombs = 0;
  private clean = false;
  private stampLr: string[] = [];
  private readonly chunk = Buffer.allocUnsafe(CHUNK * SLOT);
  /** Set when the table needs a rehash at commit (grown past MAX_LOAD, or GC changed much). */
  private rebuildAtCommit = false;
  /** How this process came to trust the index. */
  refresh: IndexRefresh = "trusted";
  /** Whether open() had to refresh the index from the directory (incrementally or in full). */
  get rebuilt(): boolean {
    return this.refresh !== "trusted";
  }
  /** Files read by the refresh (for tests and the benchmark). */
  filesRead = 0;

  private constructor(
    private fd: number,
    readonly path: string,
    private readonly storeDir: string,
    private readonly lrCount: number,
    private readonly readHolder: ReadHolder,
  ) {}

  static pathFor(dataDir: string, network: string): string {
    return join(dataDir, INDEX_DIR, network);
  }

  /**
   * Open (creating when missing) and validate against the store; refreshes from the directory when
   * the stamp does not match. `lrCount`: how many range sets the caller's config has (their
   * last_reserved files take part in the stamp). Any failure to write it (ENOSPC on a small store
   * filesystem, say) removes the index file, so it holds no space, and returns undefined.
   */
  static open(dataDir: string, network: string, storeDir: string, lrCount: number, readHolder: ReadHolder): OwnerIndex | undefined {
    const dir = join(dataDir, INDEX_DIR);
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") return undefined;
    }
    if (ownedDirProblem(dir, "IPAM index directory", 0o022) !== undefined) return undefined;
    const euid = process.geteuid?.();
    const path = join(dir, network);
    let fd: number;
    try {
      fd = fs.openSync(path, O_RDWR | O_CREAT | O_NOFOLLOW, 0o600);
    } catch {
      return undefined;
    }
    const idx = new OwnerIndex(fd, path, storeDir, lrCount, readHolder);
    try {
      const fst = fs.fstatSync(fd);
      if (!fst.isFile() || (euid !== undefined && fst.uid !== euid)) {
        idx.close();
        return undefined;
      }
      const readable = idx.readHeader();
      if (!readable || !idx.clean || !idx.stampMatches()) idx.refreshFromStore(readable);
    } catch {
      idx.discard();
      return undefined;
    }
    return idx;
  }

  /**
   * The number of reservations the index holds, read-only and without a scan; undefined unless the
   * index is clean and its stamp still matches the store (STATUS's cheap pool check).
   */
  static trustedCount(dataDir: string, network: string, storeDir: string, lrCount: number): number | undefined {
    let fd: number;
    try {
      fd = fs.openSync(join(dataDir, INDEX_DIR, network), fs.constants.O_RDONLY | O_NOFOLLOW);
    } catch {
      return undefined;
    }
    const idx = new OwnerIndex(fd, "", storeDir, lrCount, () => undefined);
    try {
      return idx.readHeader() && idx.clean && idx.stampMatches() ? idx.used : undefined;
    } catch {
      return undefined;
    } finally {
      idx.close();
    }
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }

  /** Close and remove the index file: an index that cannot be written is not kept (nor its space). */
  discard(): void {
    this.close();
    if (this.path !== "") fs.rmSync(this.path, { force: true });
  }

  /** Reads the header; true when the table behind it is usable (clean or not). */
  private readHeader(): boolean {
    const h = Buffer.alloc(HEADER);
    const n = fs.readSync(this.fd, h, 0, HEADER, 0);
    if (n < HEADER || h.toString("latin1", 0, 8) !== MAGIC) return false;
    this.slots = h.readUInt32LE(12);
    this.used = h.readUInt32LE(16);
    this.tombs = h.readUInt32LE(20);
    const len = h.readUInt32LE(24);
    if (this.slots < MIN_SLOTS || (this.slots & (this.slots - 1)) !== 0 || len > HEADER - 32) return false;
    if (fs.fstatSync(this.fd).size < HEADER + this.slots * SLOT) return false;
    this.clean = h[8] === 1;
    if (this.clean) {
      try {
        this.stored = JSON.parse(h.toString("utf8", 32, 32 + len)) as Stamp;
      } catch {
        this.clean = false;
      }
    }
    return true;
  }

  private stored: Stamp | undefined;

  private lrIndices(extra: readonly string[]): string[] {
    const set = new Set(extra);
    for (let i = 0; i < this.lrCount; i++) set.add(String(i));
    return [...set].sort();
  }

  private currentStamp(indices: readonly string[]): Stamp | undefined {
    const d = tryStat(this.storeDir);
    if (d === undefined) return undefined;
    const lr: Stamp["lr"] = {};
    for (const i of indices) {
      const p = join(this.storeDir, `${LAST_RESERVED_PREFIX}${i}`);
      const st = tryStat(p);
      const text = st === undefined ? undefined : readText(p);
      lr[i] = st === undefined || text === undefined ? null : [text, String(st.mtimeNs), String(st.ctimeNs)];
    }
    return { ino: String(d.ino), mtime: String(d.mtimeNs), ctime: String(d.ctimeNs), lr };
  }

  private stampMatches(): boolean {
    const want = this.stored;
    if (want === undefined) return false;
    const now = this.currentStamp(this.lrIndices(Object.keys(want.lr)));
    if (now === undefined || now.ino !== want.ino || now.mtime !== want.mtime || now.ctime !== want.ctime) return false;
    for (const [i, v] of Object.entries(now.lr)) {
      const w = want.lr[i] ?? null;
      if (v === null || w === null ? v !== w : v[0] !== w[0] || v[1] !== w[1] || v[2] !== w[2]) return false;
    }
    this.stampLr = Object.keys(want.lr);
    return true;
  }

  /**
   * Bring the table in line with the directory: one listing and an lstat per name; read only the
   * files whose (inode, ctime) no slot records, drop the slots whose file is gone. With no usable
   * table (`keep` false: new, corrupt, or another format) every address file is read.
   */
  private refreshFromStore(keep: boolean): void {
    const names = fs.readdirSync(this.storeDir);
    // The current table's slots by inode (what the directory may still hold), with each slot's
    // ctime and, for IPv4, its address: enough to tell an unchanged file without another read.
    // Typed arrays, not a Map: at 50,000 entries a Map costs 8 MiB of peak RSS, these 3.
    let ctimes = new Float64Array(0);
    let v4s = new Uint32Array(0);
    let live = new Uint8Array(0); // 1: a used slot not (yet) matched by a file
    let inoKeys = new Float64Array(0);
    let inoSlots = new Int32Array(0);
    let tombs = 0;
    const inoHome = (ino: number): number => (Math.imul(ino | 0, 0x9e3779b1) ^ Math.imul((ino / 0x100000000) | 0, 0x85ebca6b)) >>> 0;
    if (keep) {
      this.markDirty();
      ctimes = new Float64Array(this.slots);
      v4s = new Uint32Array(this.slots);
      live = new Uint8Array(this.slots);
      let cap = 16;
      while (cap < this.used * 2 + 2) cap *= 2;
      inoKeys = new Float64Array(cap);
      inoSlots = new Int32Array(cap).fill(-1);
      const mask = cap - 1;
      let filled = 0;
      let overflow = false;
      this.forEachSlot((slot, buf, off, state) => {
        if (state === TOMB) tombs++;
        if (state !== USED || overflow) return;
        if (filled * 2 + 2 > cap) {
          overflow = true; // the header's count was off (a crash mid-update)
          return;
        }
        const ino = buf.readDoubleLE(off + S_INO);
        ctimes[slot] = buf.readDoubleLE(off + S_CTIME);
        // 0 stands for "IPv6, compare by reading the slot" (0.0.0.0 is never a reservation).
        v4s[slot] = buf[off + S_FAMILY] === 4 ? buf.readUInt32BE(off + S_IP + 12) : 0;
        live[slot] = 1;
        let i = inoHome(ino) & mask;
        while (inoSlots[i] !== -1) i = (i + 1) & mask;
        inoKeys[i] = ino;
        inoSlots[i] = slot;
        filled++;
      });
      if (overflow) {
        this.refreshFromStore(false);
        return;
      }
    } else {
      this.reset(slotsFor(0));
    }
    /** A live slot whose file is (ino, ctimeMs, name), marked matched; -1 when none. */
    const match = (ino: number, ctimeMs: number, name: string): number => {
      if (inoSlots.length === 0) return -1;
      const mask = inoSlots.length - 1;
      for (let i = inoHome(ino) & mask; inoSlots[i] !== -1; i = (i + 1) & mask) {
        const slot = inoSlots[i] as number;
        if (inoKeys[i] === ino && live[slot] === 1 && ctimes[slot] === ctimeMs && nameOf(slot) === name) {
          live[slot] = 0;
          return slot;
        }
      }
      return -1;
    };
    const slotBuf = Buffer.allocUnsafe(SLOT);
    const nameOf = (slot: number): string => {
      const v = v4s[slot] ?? 0;
      if (v !== 0) return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
      this.readSlot(slot, slotBuf);
      return slotName(slotBuf, 0);
    };
    const fresh: { key: string; ip: Ip; id: FileId }[] = [];
    let seen = 0;
    const statter = dirStatter(this.storeDir);
    try {
      for (const name of names) {
        const st = statter.stat(name);
        if (st === undefined || !st.isFile) continue;
        if (match(st.ino, st.ctimeMs, name) >= 0) {
          seen++;
          continue;
        }
        const ip = parseIp(name);
        if (ip === undefined || formatIp(ip) !== name) continue;
        const key = this.readHolder(ip);
        this.filesRead++;
        if (key !== undefined) fresh.push({ key, ip, id: { ino: st.ino, ctimeMs: st.ctimeMs } });
      }
    } finally {
      statter.close();
    }
    // A used slot no file matched is gone from the directory (or was changed, and is re-read above).
    for (let slot = 0; slot < live.length; slot++) {
      if (live[slot] === 1) {
        this.writeState(slot, TOMB);
        tombs++;
      }
    }
    this.used = seen;
    this.tombs = tombs;
    if (seen + fresh.length + 1 > this.slots * MAX_LOAD || this.tombs > this.slots / 4) this.rehash(seen + fresh.length);
    for (const e of fresh) this.insert(e.key, e.ip, e.id);
    this.refresh = keep ? "incremental" : "full";
    this.rebuildAtCommit = false;
    this.stampLr = [];
  }

  /** Calls fn for every slot, reading the table in chunks. */
  private forEachSlot(fn: (slot: number, buf: Buffer, off: number, state: number) => void): void {
    const per = 1365; // 64 KiB of slots per read
    const buf = Buffer.allocUnsafe(per * SLOT);
    for (let first = 0; first < this.slots; first += per) {
      const count = Math.min(per, this.slots - first);
      fs.readSync(this.fd, buf, 0, count * SLOT, HEADER + first * SLOT);
      for (let k = 0; k < count; k++) fn(first + k, buf, k * SLOT, buf[k * SLOT] ?? EMPTY);
    }
  }

  private readSlot(slot: number, into: Buffer): void {
    fs.readSync(this.fd, into, 0, SLOT, HEADER + slot * SLOT);
  }

  private writeState(slot: number, state: number): void {
    fs.writeSync(this.fd, Buffer.from([state]), 0, 1, HEADER + slot * SLOT);
  }

  /** An empty table of `slots` slots, written in place (the header says dirty until commit). */
  private reset(slots: number): void {
    this.slots = slots;
    this.used = 0;
    this.tombs = 0;
    this.clean = false;
    this.writeHeader();
    fs.ftruncateSync(this.fd, HEADER);
    fs.ftruncateSync(this.fd, HEADER + slots * SLOT);
  }

  /**
   * Re-insert the used slots into a table sized for `entries` (no file is read). Built in memory and
   * written in place: the header is dirty throughout, so a crash half way only costs a refresh.
   */
  private rehash(entries: number): void {
    const slots = slotsFor(entries);
    const table = Buffer.alloc(slots * SLOT);
    let used = 0;
    this.forEachSlot((_slot, buf, off, state) => {
      if (state !== USED) return;
      let i = buf.readUInt32BE(off + S_HASH) & (slots - 1);
      while (table[i * SLOT] !== EMPTY) i = (i + 1) & (slots - 1);
      buf.copy(table, i * SLOT, off, off + SLOT);
      used++;
    });
    this.markDirty();
    fs.ftruncateSync(this.fd, HEADER);
    for (let off = 0; off < table.length; ) off += fs.writeSync(this.fd, table, off, table.length - off, HEADER + off);
    this.slots = slots;
    this.used = used;
    this.tombs = 0;
    this.clean = false;
    this.rebuildAtCommit = false;
    this.writeHeader();
  }

  /** Call before changing the store or the table: a crash from here on leaves the index untrusted. */
  markDirty(): void {
    if (!this.clean) return;
    fs.writeSync(this.fd, Buffer.from([0]), 0, 1, 8);
    this.clean = false;
  }

  /** Record the store's current state as the one the table describes. */
  commit(): void {
    if (this.rebuildAtCommit || this.used + this.tombs + 1 > this.slots * MAX_LOAD) this.rehash(this.used);
    this.clean = true;
    this.writeHeader();
  }

  /** Something changed the store in a way the table did not follow: refresh at the next open. */
  invalidate(): void {
    this.markDirty();
    this.stored = undefined;
    this.invalidated = true;
  }

  /** After invalidate(): commit leaves the header dirty, so the next open refreshes. */
  private invalidated = false;

  private writeHeader(): void {
    const h = Buffer.alloc(HEADER);
    h.write(MAGIC, 0, "latin1");
    h.writeUInt32LE(this.slots, 12);
    h.writeUInt32LE(this.used, 16);
    h.writeUInt32LE(this.tombs, 20);
    if (this.clean && !this.invalidated) {
      const stamp = this.currentStamp(this.lrIndices(this.stampLr));
      const json = stamp === undefined ? "" : JSON.stringify(stamp);
      const len = Buffer.byteLength(json);
      if (stamp !== undefined && len <= HEADER - 32) {
        h.writeUInt32LE(len, 24);
        h.write(json, 32, "utf8");
        h[8] = 1;
      } else {
        this.clean = false;
      }
    }
    fs.writeSync(this.fd, h, 0, HEADER, 0);
  }

  /** Probe from the owner's home slot; calls visit(slotIndex, offsetInChunk) until it returns true or an empty slot ends the run. */
  private probe(hash: Buffer, visit: (slot: number, off: number, state: number) => boolean): void {
    const mask = this.slots - 1;
    let i = hash.readUInt32BE(0) & mask;
    for (let seen = 0; seen < this.slots; ) {
      const count = Math.min(CHUNK, this.slots - i);
      fs.readSync(this.fd, this.chunk, 0, count * SLOT, HEADER + i * SLOT);
      for (let k = 0; k < count; k++, seen++) {
        const off = k * SLOT;
        const state = this.chunk[off] ?? EMPTY;
        if (visit(i + k, off, state) || state === EMPTY) return;
      }
      i = (i + count) & mask;
    }
  }

  /** The addresses recorded for an owner key ("id\r\nifname" or a legacy "id"). */
  lookup(key: string): IndexEntry[] {
    const hash = ownerHash(key);
    const out: IndexEntry[] = [];
    this.probe(hash, (slot, off, state) => {
      if (state === USED && this.chunk.compare(hash, 0, 12, off + S_HASH, off + S_HASH + 12) === 0) {
        const fam = this.chunk[off + S_FAMILY] === 6 ? 6 : 4;
        out.push({ slot, ip: ipFrom(this.chunk, off + S_IP, fam) });
      }
      return false;
    });
    return out;
  }

  /** Record the file of `ip` (identity `id`: its inode and ctime) as held by `key`. */
  insert(key: string, ip: Ip, id: FileId): void {
    this.markDirty();
    if (this.used + this.tombs + 1 > this.slots * MAX_LOAD) this.rehash(this.used + 1);
    const hash = ownerHash(key);
    let target = -1;
    let targetState = EMPTY;
    this.probe(hash, (slot, _off, state) => {
      if (state === USED) return false;
      target = slot;
      targetState = state;
      return true;
    });
    if (target < 0) {
      this.rebuildAtCommit = true;
      return;
    }
    const s = Buffer.alloc(SLOT);
    s[0] = USED;
    s[S_FAMILY] = ip.family;
    hash.copy(s, S_HASH);
    ipBytes(ip, s, S_IP);
    s.writeDoubleLE(id.ino, S_INO);
    s.writeDoubleLE(id.ctimeMs, S_CTIME);
    fs.writeSync(this.fd, s, 0, SLOT, HEADER + target * SLOT);
    this.used++;
    if (targetState === TOMB) this.tombs--;
  }

  remove(slot: number): void {
    this.markDirty();
    this.writeState(slot, TOMB);
    this.used--;
    this.tombs++;
  }

  /** Remove the slot of (key, ip), if recorded. */
  removeEntry(key: string, ip: Ip): void {
    for (const e of this.lookup(key)) if (e.ip.family === ip.family && e.ip.value === ip.value) this.remove(e.slot);
  }
}
